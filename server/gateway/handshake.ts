import { CloseCode } from '../../protocol/close-codes.ts';
import {
  fromBase64,
  handshakeTranscript,
  newNonce,
  NONCE_BYTES,
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  toBase64,
  verifySignature,
} from '../../protocol/identity.ts';
import type { AgentMessage, Hello } from '../../protocol/messages.ts';
import type { AppContext } from '../context.ts';
import { enrollMachine } from '../enrollment/enrollment-service.ts';
import { closeCodeFor } from '../errors.ts';
import { machineExists } from '../machines/machine-store.ts';
import type { AgentConnection } from './agent-connection.ts';

const HANDSHAKE_TIMEOUT_MS = 15_000;

/** The agent proved its key and this connection is now the machine's live one in the database. */
export interface Authenticated {
  machineId: string;
  inventoryHash: string | null;
  enrolled: boolean;
}

/**
 * The server half of the mutual challenge–response (protocol/messages.ts has the sequence). Fresh nonces from both
 * sides go into both signatures, so nothing signed on one connection verifies on another. The enrollment token is
 * only accepted after the server has proved its identity, so a token never reaches an impostor server.
 */
export function runHandshake(ctx: AppContext, conn: AgentConnection, onAuthenticated: (result: Authenticated) => Promise<void>): void {
  const serverNonce = newNonce();
  let hello: { message: Hello; agentKey: Uint8Array; agentNonce: Uint8Array } | null = null;
  const timer = setTimeout(() => conn.close(CloseCode.handshakeTimeout, 'handshake did not complete in time'), HANDSHAKE_TIMEOUT_MS);
  conn.onClose(() => clearTimeout(timer));

  const fail = (code: number, reason: string, details: Record<string, unknown> = {}) => {
    ctx.audit.enqueue({
      actorType: 'agent',
      actorId: hello?.message.machineId ?? null,
      action: 'agent.authenticate',
      outcome: 'failure',
      targetType: 'machine',
      targetId: hello?.message.machineId ?? null,
      address: conn.address,
      details: { reason, ...details },
    });
    conn.close(code, reason);
  };

  conn.setSink(async (_conn, message: AgentMessage) => {
    if (!hello) {
      if (message.type !== 'hello') return fail(CloseCode.invalidMessage, `expected 'hello', got '${message.type}'`);
      const agentKey = fromBase64(message.agentKey, PUBLIC_KEY_BYTES);
      const agentNonce = fromBase64(message.agentNonce, NONCE_BYTES);
      if (!agentKey || !agentNonce) return fail(CloseCode.invalidMessage, 'hello carries a malformed key or nonce');
      if (message.mode === 'connect' && !message.machineId) return fail(CloseCode.invalidMessage, "mode 'connect' needs machineId");
      hello = { message, agentKey, agentNonce };
      const transcript = handshakeTranscript('server', { serverNonce, agentNonce, serverKey: ctx.identity.publicKey, agentKey });
      conn.send({ type: 'server_proof', signature: toBase64(ctx.identity.sign(transcript)) });
      return;
    }
    if (message.type !== 'agent_proof') return fail(CloseCode.invalidMessage, `expected 'agent_proof', got '${message.type}'`);
    clearTimeout(timer);
    const signature = fromBase64(message.signature, SIGNATURE_BYTES);
    const binding = { serverNonce, agentNonce: hello.agentNonce, serverKey: ctx.identity.publicKey, agentKey: hello.agentKey };
    if (!signature || !verifySignature(handshakeTranscript('agent', binding), signature, hello.agentKey)) {
      return fail(CloseCode.authenticationFailed, 'agent proof signature is invalid');
    }
    if (hello.message.mode === 'enroll') {
      if (!message.enrollmentToken) return fail(CloseCode.enrollmentRefused, 'enrollment needs an enrollment token');
      try {
        const { machineId } = await enrollMachine(ctx, {
          enrollmentToken: message.enrollmentToken,
          agentPublicKey: hello.agentKey,
          agentVersion: hello.message.agentVersion,
          address: conn.address,
        });
        const claimed = await ctx.agents.claims.claim({ machineId, agentPublicKey: hello.agentKey, connectionId: conn.connectionId, address: conn.address });
        if (claimed.status !== 'claimed') return fail(CloseCode.replaced, 'replaced by a newer connection of the same agent');
        return onAuthenticated({ machineId, inventoryHash: null, enrolled: true });
      } catch (error) {
        return fail(closeCodeFor(error), (error as Error).message);
      }
    }
    const machineId = hello.message.machineId as string;
    const claimed = await ctx.agents.claims.claim({ machineId, agentPublicKey: hello.agentKey, connectionId: conn.connectionId, address: conn.address });
    if (claimed.status === 'superseded') return fail(CloseCode.replaced, 'replaced by a newer connection of the same agent');
    if (claimed.status === 'refused') {
      if (!(await machineExists(ctx.db, machineId))) return fail(CloseCode.machineUnknown, 'no machine with this id is enrolled');
      return fail(CloseCode.authenticationFailed, 'agent key does not match the enrolled machine');
    }
    return onAuthenticated({ machineId, inventoryHash: claimed.inventoryHash, enrolled: false });
  });

  conn.send({ type: 'challenge', serverNonce: toBase64(serverNonce), serverKey: toBase64(ctx.identity.publicKey) });
}
