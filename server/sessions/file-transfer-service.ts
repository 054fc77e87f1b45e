import type { Readable } from 'node:stream';
import type { Actor } from '../access/actor.ts';
import { demand } from '../access/demand.ts';
import { auditOf } from '../audit/audit-event.ts';
import type { AppContext } from '../context.ts';
import { DomainError, Forbidden, Invalid, NotFound } from '../errors.ts';
import { RelayedElsewhere } from '../replicas/http-forwarding.ts';
import { findSession, relayUrlOf } from './session-store.ts';

/** The largest upload the server relays. */
export const UPLOAD_LIMIT_BYTES = 256 * 1024 * 1024;

/**
 * File transfer within a live session: `sessions.files` over the machine (the `files` right for assigned users), a
 * session that was granted with files, and its relay (on another replica, the request is carried there). Every transfer, refused or done, is audited with
 * the path, size and SHA-256.
 */
async function transferTarget(ctx: AppContext, actor: Actor, sessionId: string) {
  const session = await findSession(ctx.db, sessionId);
  if (!session) {
    await demand(ctx, actor, 'sessions.files', { type: 'collection', of: 'machines' });
    throw new NotFound('session not found');
  }
  await demand(ctx, actor, 'sessions.files', { type: 'machine', machineId: session.machineId, siteId: session.siteId, clientId: session.clientId });
  if (!session.files) throw new Forbidden('this session was started without the files right');
  const relay = ctx.sessions.get(sessionId);
  if (!relay || relay.ended) {
    const relayUrl = session.status === 'active' ? await relayUrlOf(ctx.db, sessionId) : null;
    if (relayUrl && relayUrl !== ctx.replica.url) throw new RelayedElsewhere(relayUrl);
    throw new DomainError(410, 'session_ended', `the session is ${session.status}`);
  }
  return { session, relay };
}

export async function uploadFile(
  ctx: AppContext,
  actor: Actor,
  sessionId: string,
  input: { path: string; contentType: string | undefined; contentLength: string | undefined; sha256: string | string[] | undefined; body: AsyncIterable<Buffer> | undefined },
) {
  const { session, relay } = await transferTarget(ctx, actor, sessionId);
  // Checked after the authorizer: a caller who may not transfer learns nothing about what a transfer needs.
  if (input.contentType !== 'application/octet-stream' || !input.body) throw new Invalid('the body must be application/octet-stream');
  if (!input.contentLength || !/^\d+$/.test(input.contentLength)) throw new Invalid('Content-Length is required (no chunked uploads)');
  if (typeof input.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(input.sha256)) throw new Invalid('X-Content-SHA256 must be the hex SHA-256 of the body');
  const size = Number(input.contentLength);
  const sha256 = input.sha256.toLowerCase();
  const details = { machineId: session.machineId, path: input.path, size, sha256 };
  try {
    const stored = await relay.transfers.upload(input.path, size, sha256, input.body);
    await ctx.audit.record(ctx.db, auditOf(actor, 'session.file_upload', 'session', sessionId, { ...details, path: stored.path }));
    return stored;
  } catch (error) {
    await ctx.audit.record(ctx.db, { ...auditOf(actor, 'session.file_upload', 'session', sessionId, { ...details, reason: (error as Error).message }), outcome: 'failure' });
    throw error;
  }
}

export async function downloadFile(ctx: AppContext, actor: Actor, sessionId: string, path: string): Promise<{ path: string; size: number; stream: Readable }> {
  const { session, relay } = await transferTarget(ctx, actor, sessionId);
  let opened;
  try {
    opened = await relay.transfers.download(path);
  } catch (error) {
    await ctx.audit.record(ctx.db, { ...auditOf(actor, 'session.file_download', 'session', sessionId, { machineId: session.machineId, path, reason: (error as Error).message }), outcome: 'failure' });
    throw error;
  }
  // Audited once the bytes are through (or not): the outcome is only known then.
  opened.done.then(
    (done) => ctx.audit.enqueue(auditOf(actor, 'session.file_download', 'session', sessionId, { machineId: session.machineId, path: opened.path, size: done.size, sha256: done.sha256 })),
    (error: Error) => ctx.audit.enqueue({ ...auditOf(actor, 'session.file_download', 'session', sessionId, { machineId: session.machineId, path: opened.path, reason: error.message }), outcome: 'failure' }),
  );
  return opened;
}
