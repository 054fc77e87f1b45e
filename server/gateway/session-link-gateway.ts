import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { fromBase64, NONCE_BYTES, newNonce, SIGNATURE_BYTES, toBase64, verifySignature } from '../../protocol/identity.ts';
import { decodeLinkAgentMessage, encodeStreamMessage, linkTranscript } from '../../protocol/session-stream.ts';
import { AGENT_SESSION_PATH, MAX_FRAME_BYTES } from '../../protocol/version.ts';
import type { AppContext } from '../context.ts';
import { SessionRecorder } from '../recordings/session-recorder.ts';
import { sessionPolicyOf } from '../sessions/session-policy-store.ts';
import { SessionRelay } from '../sessions/session-relay.ts';
import { linkTargetOf, markActive } from '../sessions/session-store.ts';

const ATTACH_TIMEOUT_MS = 10_000;

/** Refusals of a session link; the agent kills the shell it spawned for it. */
class LinkRefused extends Error {}

/**
 * Where an agent attaches the link of a session it was asked to open. The agent proves it holds the key of the
 * session's machine (signing a fresh server nonce and its own), the server answers with its identity signature over
 * both, and only then does the relay start. A link for an unknown, ended or already-attached session is refused.
 */
export function createSessionLinkGateway(ctx: AppContext) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false, clientTracking: false });
  let accepting = true;

  function handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if ((request.url ?? '').split('?', 1)[0] !== AGENT_SESSION_PATH) return false;
    if (!accepting) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return true;
    }
    wss.handleUpgrade(request, socket, head, (ws) => void attach(ws, request.socket.remoteAddress ?? 'unknown'));
    return true;
  }

  async function attach(ws: WebSocket, address: string): Promise<void> {
    const serverNonce = newNonce();
    const timer = setTimeout(() => ws.terminate(), ATTACH_TIMEOUT_MS);
    let sessionId: string | null = null;
    try {
      ws.send(encodeStreamMessage({ type: 'challenge', serverNonce: toBase64(serverNonce) }));
      const [data, isBinary] = await firstMessage(ws);
      if (isBinary) throw new LinkRefused('binary frame before the link was attached');
      const message = decodeLinkAgentMessage(data.toString('utf8'));
      if (message.type !== 'attach') throw new LinkRefused(`expected 'attach', got '${message.type}'`);
      sessionId = message.sessionId;
      const agentNonce = fromBase64(message.agentNonce, NONCE_BYTES);
      const signature = fromBase64(message.signature, SIGNATURE_BYTES);
      const target = await linkTargetOf(ctx.db, message.sessionId);
      if (!target || !agentNonce || !signature) throw new LinkRefused('unknown session or malformed proof');
      if (!verifySignature(linkTranscript('agent', message.sessionId, serverNonce, agentNonce), signature, target.agentPublicKey)) {
        throw new LinkRefused("the link's proof is not by the session's machine");
      }
      if (target.status !== 'starting' || ctx.sessions.get(message.sessionId)) throw new LinkRefused(`the session is ${target.status}, not starting`);
      if (!target.userId || !target.ownerTokenId) throw new LinkRefused('the session has no owner any more');
      if (!(await markActive(ctx.db, message.sessionId, ctx.replica.url))) throw new LinkRefused('the session is no longer starting');
      clearTimeout(timer);
      const policy = await sessionPolicyOf(ctx.db, target.siteId);
      // From 'attached' on the agent streams output: the relay must listen before the next event-loop turn.
      ws.send(encodeStreamMessage({ type: 'attached', signature: toBase64(ctx.identity.sign(linkTranscript('server', message.sessionId, serverNonce, agentNonce))) }));
      const recorder = new SessionRecorder(
        ctx.db,
        ctx.log,
        {
          sessionId: message.sessionId,
          machineId: target.machineId,
          hostname: target.hostname,
          siteId: target.siteId,
          clientId: target.clientId,
          userId: target.userId,
          userName: target.userName,
          cols: target.cols,
          rows: target.rows,
          recordInput: policy.recordInput,
        },
        (reason) => ctx.sessions.get(message.sessionId)?.end(reason),
      );
      const relay = new SessionRelay(
        message.sessionId,
        { machineId: target.machineId, siteId: target.siteId, clientId: target.clientId },
        { userId: target.userId, tokenId: target.ownerTokenId },
        ws,
        recorder,
        ctx.sessions,
      );
      ctx.sessions.add(relay);
      if (target.endsAt) {
        // The agent ends it at the same instant (the grant carries endsAt); this covers an agent that does not.
        setTimeout(() => relay.end('the approved time is over'), Math.max(0, target.endsAt.getTime() - Date.now())).unref();
      }
      ctx.audit.enqueue({ actorType: 'agent', actorId: target.machineId, action: 'session.start', outcome: 'success', targetType: 'session', targetId: message.sessionId, address, details: { ownerId: target.userId } });
      // Anyone revoked between the request and now is caught by the re-check that follows every start.
      void ctx.sessions.recheckSoon();
    } catch (error) {
      clearTimeout(timer);
      const reason = error instanceof LinkRefused ? error.message : 'invalid attach';
      ctx.log.warn({ sessionId, address, reason, err: error instanceof LinkRefused ? undefined : (error as Error).message }, 'session link refused');
      ctx.audit.enqueue({ actorType: 'agent', action: 'session.link', outcome: 'failure', targetType: 'session', targetId: sessionId, address, details: { reason } });
      ws.close(4401, reason.slice(0, 120));
      setTimeout(() => ws.terminate(), 2000).unref();
    }
  }

  return {
    handleUpgrade,
    stopAccepting: () => void (accepting = false),
    close: () => new Promise<void>((resolve) => wss.close(() => resolve())),
  };
}

function firstMessage(ws: WebSocket): Promise<[Buffer, boolean]> {
  return new Promise((resolve, reject) => {
    ws.once('message', (data: Buffer, isBinary) => {
      ws.off('close', onClose);
      resolve([data, isBinary]);
    });
    const onClose = () => reject(new LinkRefused('closed before attaching'));
    ws.once('close', onClose);
  });
}
