import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { MAX_FRAME_BYTES } from '../../protocol/version.ts';
import type { Actor } from '../access/actor.ts';
import { auditDenial } from '../access/demand.ts';
import { authenticateToken } from '../auth/auth-service.ts';
import { SESSION_COOKIE } from '../auth/session-cookie.ts';
import type { AppContext } from '../context.ts';
import { DomainError, Forbidden, NotFound, Unauthenticated } from '../errors.ts';
import { headerValue, originAllowed } from '../http/authenticate.ts';
import { sessionRole } from '../sessions/session-access.ts';
import { findSession, insertParticipant, markParticipantLeft, relayUrlOf } from '../sessions/session-store.ts';
import { bridge, connectToRelay } from './console-proxy.ts';

const STREAM_PATH = /^\/api\/v1\/sessions\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/stream$/;

/**
 * `GET /api/v1/sessions/:id/stream` (WebSocket): a technician's console attaches to a live session. Authenticated
 * like REST (bearer token, or the console cookie), with the Origin checked against this server so another site
 * cannot ride a signed-in browser into a shell (cross-site WebSocket hijacking); a cookie needs an Origin at all.
 * Then the one authorizer decides the role — owner, participant, or observer — and the console joins the relay.
 * Every refusal is an HTTP answer before the upgrade, with the reason, and is audited like a REST refusal. A session
 * relayed by another replica (the agent's link landed there) is reached through it: the console is carried over.
 */
export function createConsoleStreamGateway(ctx: AppContext) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false, clientTracking: false });

  function handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const [pathname, query] = (request.url ?? '').split('?', 2);
    const match = STREAM_PATH.exec(pathname);
    if (!match) return false;
    const wantsObserver = new URLSearchParams(query ?? '').get('as') === 'observer';
    void admit(request, match[1], wantsObserver).then(
      (admitted) => {
        if (admitted.relayUrl !== undefined) return proxy(request, socket, head, admitted, query);
        wss.handleUpgrade(request, socket, head, (ws) => {
          // The console may type before it has joined (the join writes to the database first): keep what it sends.
          const early: [Buffer, boolean][] = [];
          const hold = (data: Buffer, isBinary: boolean) => early.push([data, isBinary]);
          ws.on('message', hold);
          void join(admitted, ws, () => {
            ws.off('message', hold);
            return early;
          });
        });
      },
      (error: unknown) => refuse(socket, error),
    );
    return true;
  }

  /** The session is relayed by another replica: carry the console there (see console-proxy.ts). */
  async function proxy(request: IncomingMessage, socket: Duplex, head: Buffer, admitted: { relayUrl: string; sessionId: string; address: string; actor: Actor }, query: string | undefined) {
    let peer;
    try {
      peer = await connectToRelay(request, admitted.relayUrl, admitted.sessionId, query, admitted.address);
    } catch (error) {
      refuse(socket, error);
      return;
    }
    ctx.audit.enqueue({ actorType: 'user', actorId: admitted.actor.userId, action: 'session.proxy', outcome: 'success', targetType: 'session', targetId: admitted.sessionId, address: admitted.address, details: { relayUrl: admitted.relayUrl } });
    wss.handleUpgrade(request, socket, head, (ws) => bridge(ws, peer));
  }

  async function admit(request: IncomingMessage, sessionId: string, wantsObserver: boolean) {
    const address = request.socket.remoteAddress ?? 'unknown';
    const origin = headerValue(request.headers.origin);
    if (!originAllowed(origin, request.headers.host, ctx.config.publicUrl)) {
      // Another site tried to ride a browser's sign-in into a shell: worth a trace, whoever the browser belongs to.
      ctx.audit.enqueue({ actorType: 'anonymous', action: 'session.stream_refused', outcome: 'failure', targetType: 'session', targetId: sessionId, address, details: { reason: 'cross-origin WebSocket', origin: origin?.slice(0, 200) ?? null } });
      throw new Forbidden('cross-origin WebSocket refused');
    }
    const actor = await authenticate(request, origin, address);
    const session = await findSession(ctx.db, sessionId);
    if (!session) throw new NotFound('session not found');
    const machine = { type: 'machine' as const, machineId: session.machineId, siteId: session.siteId, clientId: session.clientId };
    const decided = sessionRole(actor, machine, { isOwner: actor.userId === session.userId, wantsObserver });
    if (decided.role === null) {
      await auditDenial(ctx, actor, 'sessions.join', machine, decided.decision.reason, { sessionId });
      throw new Forbidden(decided.decision.reason);
    }
    const relay = ctx.sessions.get(sessionId);
    if (!relay || relay.ended) {
      const relayUrl = session.status === 'active' ? await relayUrlOf(ctx.db, sessionId) : null;
      if (relayUrl && relayUrl !== ctx.replica.url) return { actor, relayUrl, address, sessionId, relay: undefined };
      throw new DomainError(410, 'session_ended', `the session is ${session.status}`);
    }
    return { actor, relay, role: decided.role, address, sessionId, relayUrl: undefined };
  }

  async function authenticate(request: IncomingMessage, origin: string | undefined, address: string): Promise<Actor> {
    const header = headerValue(request.headers.authorization);
    if (header) {
      const match = /^Bearer ([^\s]+)$/i.exec(header);
      const actor = match ? await authenticateToken(ctx, match[1], address) : null;
      if (!actor || actor.token.kind === 'console') throw new Unauthenticated('token is invalid, expired or revoked');
      return actor;
    }
    const cookie = cookieValue(request.headers.cookie, SESSION_COOKIE);
    if (!cookie) throw new Unauthenticated();
    // A browser always sends Origin on a WebSocket: a cookie without one did not come from our console.
    if (!origin) throw new Forbidden('a console session cookie needs a same-origin Origin header');
    const actor = await authenticateToken(ctx, cookie, address);
    if (!actor || actor.token.kind !== 'console') throw new Unauthenticated('session is invalid, expired or revoked; sign in again');
    return actor;
  }

  async function join(admitted: Extract<Awaited<ReturnType<typeof admit>>, { relayUrl: undefined }>, ws: import('ws').WebSocket, takeEarly: () => [Buffer, boolean][]): Promise<void> {
    const { actor, relay, role, address, sessionId } = admitted;
    try {
      const participant = await insertParticipant(ctx.db, { sessionId, userId: actor.userId, role, address });
      if (ws.readyState !== ws.OPEN) {
        await markParticipantLeft(ctx.db, participant.id, 'disconnected before joining', 0);
        return;
      }
      ctx.audit.enqueue({
        actorType: 'user',
        actorId: actor.userId,
        action: 'session.join',
        outcome: 'success',
        targetType: 'session',
        targetId: sessionId,
        address,
        details: { machineId: relay.machine.machineId, role, tokenKind: actor.token.kind },
      });
      relay.join({ participantId: participant.id, userId: actor.userId, name: actor.name, role, tokenId: actor.token.id, address, socket: ws, inFlight: 0, blockedSince: null, droppedInputs: 0 });
      for (const [data, isBinary] of takeEarly()) ws.emit('message', data, isBinary);
      // The joiner's own limits (an assignment that expires) must be timed from now on, not from the next tick.
      void ctx.sessions.recheckSoon();
    } catch (error) {
      ctx.log.error({ err: error, sessionId }, 'could not join a console to a session');
      ws.close(1011, 'server error');
    }
  }

  return { handleUpgrade, close: () => new Promise<void>((resolve) => wss.close(() => resolve())) };
}

function refuse(socket: Duplex, error: unknown): void {
  const status = error instanceof DomainError ? error.status : 500;
  const code = error instanceof DomainError ? error.code : 'internal_error';
  const message = error instanceof DomainError ? error.message : 'internal server error';
  const body = JSON.stringify({ error: { code, message } });
  const reason = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 410: 'Gone' }[status] ?? 'Error';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return undefined;
}
