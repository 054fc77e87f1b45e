import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { CloseCode } from '../../protocol/close-codes.ts';
import type { AgentMessage } from '../../protocol/messages.ts';
import { AGENT_GATEWAY_PATH, MAX_FRAME_BYTES } from '../../protocol/version.ts';
import type { AppContext } from '../context.ts';
import { markConnected } from '../machines/presence-store.ts';
import { AgentConnection } from './agent-connection.ts';
import { agentMessageHandlers } from './handlers/index.ts';
import { runHandshake } from './handshake.ts';

/**
 * The agent-facing WebSocket endpoint. It is an authentication surface like any REST route: nothing but the
 * handshake is accepted until the agent has proved its key, and every message is schema-checked.
 */
export function createAgentGateway(ctx: AppContext) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false, clientTracking: false });

  function handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if ((request.url ?? '').split('?', 1)[0] !== AGENT_GATEWAY_PATH) return false;
    wss.handleUpgrade(request, socket, head, (ws) => {
      const address = request.socket.remoteAddress ?? 'unknown';
      const conn = new AgentConnection(ws, address, ctx.log, () => undefined);
      runHandshake(ctx, conn, async ({ machineId, inventoryHash, enrolled }) => {
        conn.machineId = machineId;
        await markConnected(ctx.db, machineId, conn.connectionId, address);
        ctx.agents.add(conn);
        conn.setSink((c, message) => dispatch(c, message));
        conn.send({ type: 'welcome', machineId, heartbeatSeconds: ctx.config.heartbeatSeconds, inventoryHash });
        ctx.audit.enqueue({
          actorType: 'agent',
          actorId: machineId,
          action: 'agent.connect',
          outcome: 'success',
          targetType: 'machine',
          targetId: machineId,
          address,
          details: { enrolled, connectionId: conn.connectionId },
        });
      });
    });
    return true;
  }

  async function dispatch(conn: AgentConnection, message: AgentMessage): Promise<void> {
    const handler = agentMessageHandlers[message.type] as ((c: AppContext, a: AgentConnection, m: AgentMessage) => Promise<void> | void) | undefined;
    if (!handler) return conn.close(CloseCode.invalidMessage, `'${message.type}' is not allowed after the handshake`);
    await handler(ctx, conn, message);
  }

  return { handleUpgrade, close: () => new Promise<void>((resolve) => wss.close(() => resolve())) };
}
