import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { CloseCode } from '../../protocol/close-codes.ts';
import type { AgentMessage } from '../../protocol/messages.ts';
import { AGENT_GATEWAY_PATH, MAX_FRAME_BYTES } from '../../protocol/version.ts';
import type { AppContext } from '../context.ts';
import { AgentConnection } from './agent-connection.ts';
import { agentMessageHandlers } from './handlers/index.ts';
import { runHandshake } from './handshake.ts';

const BUSY = 'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

/**
 * The agent-facing WebSocket endpoint. It is an authentication surface like any REST route: nothing but the
 * handshake is accepted until the agent has proved its key, and every message is schema-checked.
 *
 * Admission control: a reconnect storm (thousands of agents after a restart) must not start more handshakes than
 * the server can finish before they time out, so upgrades beyond `maxPendingHandshakes` get a cheap 503 and the
 * agents back off. While stopping, every upgrade gets a 503, so no agent slips in behind the shutdown.
 */
export function createAgentGateway(ctx: AppContext) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false, clientTracking: false });
  const handshaking = new Set<AgentConnection>();
  let pendingUpgrades = 0;
  let accepting = true;

  function handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if ((request.url ?? '').split('?', 1)[0] !== AGENT_GATEWAY_PATH) return false;
    if (!accepting || pendingUpgrades >= ctx.config.maxPendingHandshakes) {
      socket.end(BUSY);
      return true;
    }
    pendingUpgrades++;
    let pending = true;
    const settle = (conn?: AgentConnection) => {
      if (pending) pendingUpgrades--;
      pending = false;
      if (conn) handshaking.delete(conn);
    };
    socket.once('close', () => settle());
    wss.handleUpgrade(request, socket, head, (ws) => {
      const address = request.socket.remoteAddress ?? 'unknown';
      const conn = new AgentConnection(ws, address, ctx.log, () => undefined);
      handshaking.add(conn);
      conn.onClose(() => settle(conn));
      runHandshake(ctx, conn, async ({ machineId, inventoryHash, enrolled }) => {
        settle(conn);
        if (!accepting) return conn.close(CloseCode.goingAway, 'server shutting down');
        conn.machineId = machineId;
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

  /** Refuses new agents and drops those still in their handshake (step one of a shutdown). */
  function stopAccepting(): void {
    accepting = false;
    for (const conn of handshaking) conn.terminate();
    handshaking.clear();
  }

  return { handleUpgrade, stopAccepting, close: () => new Promise<void>((resolve) => wss.close(() => resolve())) };
}
