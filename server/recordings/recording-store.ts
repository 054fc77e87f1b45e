import { and, asc, desc, eq, inArray, or, sql, type SQL } from 'drizzle-orm';
import type { Reach } from '../access/reach.ts';
import type { Queryable } from '../db/open.ts';
import { recordingChunks, recordings } from '../db/schema.ts';

/** Recording index rows and their gzip chunks. */

export async function insertRecording(q: Queryable, row: typeof recordings.$inferInsert): Promise<void> {
  await q.insert(recordings).values(row).onConflictDoNothing();
}

export async function appendChunk(
  q: Queryable,
  id: string,
  chunk: { seq: number; data: Uint8Array; bytes: number },
  participants: (typeof recordings.$inferSelect)['participants'],
): Promise<void> {
  // As base64 text decoded by the database: PGlite's driver hex-encodes a bytea parameter one byte at a time in
  // JavaScript, on the event loop (measured by test/bench/relay.ts: half the CPU of a recorded session).
  const data = sql`decode(${Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength).toString('base64')}, 'base64')`;
  await q.insert(recordingChunks).values({ recordingId: id, seq: chunk.seq, data });
  await q
    .update(recordings)
    .set({
      bytes: sql`${recordings.bytes} + ${chunk.bytes}`,
      storedBytes: sql`${recordings.storedBytes} + ${chunk.data.length}`,
      chunks: sql`${recordings.chunks} + 1`,
      participants,
    })
    .where(eq(recordings.id, id));
}

export async function finishRecording(q: Queryable, id: string, participants: (typeof recordings.$inferSelect)['participants']): Promise<void> {
  await q.update(recordings).set({ endedAt: sql`now()`, participants }).where(eq(recordings.id, id));
}

const index = {
  id: recordings.id,
  machineId: recordings.machineId,
  hostname: recordings.hostname,
  siteId: recordings.siteId,
  clientId: recordings.clientId,
  userId: recordings.userId,
  userName: recordings.userName,
  startedAt: recordings.startedAt,
  endedAt: recordings.endedAt,
  cols: recordings.cols,
  rows: recordings.rows,
  inputRecorded: recordings.inputRecorded,
  bytes: recordings.bytes,
  storedBytes: recordings.storedBytes,
  participants: recordings.participants,
};

export async function findRecording(q: Queryable, id: string) {
  const [row] = await q.select(index).from(recordings).where(eq(recordings.id, id));
  return row ?? null;
}

/** Recordings in a reach (the authorizer then decides on each row). */
export async function listRecordings(q: Queryable, filter: { machineId?: string; userId?: string }, limit: number, reach: Reach | null) {
  const conditions: SQL[] = [];
  if (filter.machineId) conditions.push(eq(recordings.machineId, filter.machineId));
  if (filter.userId) conditions.push(eq(recordings.userId, filter.userId));
  if (reach) {
    const parts: SQL[] = [];
    if (reach.clientIds.length) parts.push(inArray(recordings.clientId, reach.clientIds));
    if (reach.siteIds.length) parts.push(inArray(recordings.siteId, reach.siteIds));
    if (reach.machineIds.length) parts.push(inArray(recordings.machineId, reach.machineIds));
    conditions.push(parts.length ? (or(...parts) as SQL) : sql`false`);
  }
  return q
    .select(index)
    .from(recordings)
    .where(conditions.length ? and(...conditions) : undefined)
    .orderBy(desc(recordings.startedAt))
    .limit(limit);
}

/** The stored chunks in order, a few at a time so a long recording is never all in memory. */
export async function* chunksOf(q: Queryable, id: string, batch = 16): AsyncGenerator<Uint8Array> {
  for (let from = 0; ; from += batch) {
    const rows = await q
      .select({ data: recordingChunks.data })
      .from(recordingChunks)
      .where(and(eq(recordingChunks.recordingId, id), sql`${recordingChunks.seq} >= ${from}`, sql`${recordingChunks.seq} < ${from + batch}`))
      .orderBy(asc(recordingChunks.seq));
    for (const row of rows) yield row.data;
    if (rows.length < batch) return;
  }
}
