import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Actor } from '../access/actor.ts';
import { demand, visible } from '../access/demand.ts';
import { reachOf } from '../access/reach.ts';
import { auditOf } from '../audit/audit-event.ts';
import type { AppContext } from '../context.ts';
import { NotFound } from '../errors.ts';
import * as store from './recording-store.ts';

const resourceOf = (r: { machineId: string; siteId: string; clientId: string }) => ({ type: 'machine' as const, machineId: r.machineId, siteId: r.siteId, clientId: r.clientId });

/** The recordings of machines the caller may replay (`recordings.view` over each machine). */
export async function listRecordings(ctx: AppContext, actor: Actor, filter: { machineId?: string; userId?: string; limit: number }) {
  await demand(ctx, actor, 'recordings.view', { type: 'collection', of: 'machines' });
  return visible(actor, 'recordings.view', await store.listRecordings(ctx.db, filter, filter.limit, reachOf(actor)), resourceOf);
}

async function recordingFor(ctx: AppContext, actor: Actor, id: string) {
  const row = await store.findRecording(ctx.db, id);
  if (!row) {
    await demand(ctx, actor, 'recordings.view', { type: 'collection', of: 'machines' });
    throw new NotFound('recording not found');
  }
  await demand(ctx, actor, 'recordings.view', resourceOf(row));
  return row;
}

export async function getRecording(ctx: AppContext, actor: Actor, id: string) {
  return recordingFor(ctx, actor, id);
}

/**
 * The cast for playback: `gzip` streams the stored gzip members as they are (one valid .cast.gz), `cast` inflates
 * them. Every playback is audited, with who and why.
 */
export async function openRecording(ctx: AppContext, actor: Actor, id: string, opts: { format: 'cast' | 'gzip'; reason?: string }) {
  const row = await recordingFor(ctx, actor, id);
  await ctx.audit.record(ctx.db, auditOf(actor, 'recording.play', 'recording', id, { machineId: row.machineId, format: opts.format, reason: opts.reason ?? null, ended: row.endedAt !== null }));
  const gz = Readable.from(store.chunksOf(ctx.db, id));
  const stream = opts.format === 'gzip' ? gz : gz.pipe(createGunzip());
  return { recording: row, stream, fileName: `steward-${row.hostname ?? row.machineId}-${row.startedAt.toISOString().replace(/[:.]/g, '-')}.cast${opts.format === 'gzip' ? '.gz' : ''}` };
}
