import { and, asc, desc, eq, gt, gte, like, lt, sql, type SQL } from 'drizzle-orm';
import { PgTransaction } from 'drizzle-orm/pg-core';
import type { Queryable, Tx } from '../db/open.ts';
import { auditEvents } from '../db/schema.ts';
import { AUDIT_CHAIN_LOCK_ID, chainHash, GENESIS_HASH, storableDetails, storableText, type ChainRow } from './audit-chain.ts';

export type ActorType = 'user' | 'agent' | 'system' | 'anonymous';
export type Outcome = 'success' | 'failure';

export interface AuditEvent {
  /** When it happened; stamped by AuditLog when the event is recorded or enqueued. */
  at?: Date;
  actorType: ActorType;
  actorId?: string | null;
  action: string;
  outcome: Outcome;
  targetType?: string | null;
  targetId?: string | null;
  address?: string | null;
  details?: Record<string, unknown> | null;
}

/**
 * Appends events to the hash chain, in order. With a transaction, the append joins it (the event commits or rolls
 * back with the change it describes); with the database, it runs in a transaction of its own.
 *
 * The advisory lock makes appends from every replica take turns: read the newest hash, insert, and hold the lock
 * until commit, so the next appender sees this row and ids are handed out in chain order. Callers should record as
 * the last statement of their transaction: the lock is held until commit, and taking it before other row locks
 * would invite lock-order deadlocks. The snapshot must be read-committed (the default) so that the newest row is
 * visible once the lock is granted.
 */
export async function insertAuditEvents(q: Queryable, events: readonly AuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  if (q instanceof PgTransaction) return appendChained(q as Tx, events);
  return q.transaction((tx) => appendChained(tx, events));
}

async function appendChained(tx: Tx, events: readonly AuditEvent[]): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${AUDIT_CHAIN_LOCK_ID}::bigint)`);
  // A statement of its own, after the lock is granted: a read in the locking statement would use a snapshot taken
  // before the wait and miss the row the previous holder just committed (forking the chain).
  const [last] = await tx.select({ hash: auditEvents.hash }).from(auditEvents).orderBy(desc(auditEvents.id)).limit(1);
  // An empty table, or a newest row without a hash (which verify reports), starts from the genesis value.
  let prevHash = last?.hash ?? GENESIS_HASH;
  const rows = events.map((e) => {
    const content = {
      at: e.at ?? new Date(),
      actorType: storableText(e.actorType),
      actorId: storableText(e.actorId),
      action: storableText(e.action),
      outcome: storableText(e.outcome),
      targetType: storableText(e.targetType),
      targetId: storableText(e.targetId),
      address: storableText(e.address),
      details: storableDetails(e.details),
    };
    const hash = chainHash(prevHash, content);
    const row = { ...content, prevHash, hash };
    prevHash = hash;
    return row;
  });
  // Multi-row inserts: PostgreSQL draws the ids for the VALUES rows in list order, so id order = chain order. Chunks
  // keep each statement under the protocol's 65,535 bind parameters (11 per row).
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) await tx.insert(auditEvents).values(rows.slice(i, i + INSERT_CHUNK));
}

const INSERT_CHUNK = 1000;

/** One page of the chain walk: rows after `afterId`, ascending. */
export async function chainPage(q: Queryable, afterId: number, limit: number): Promise<ChainRow[]> {
  return q.select().from(auditEvents).where(gt(auditEvents.id, afterId)).orderBy(asc(auditEvents.id)).limit(limit);
}

export interface AuditFilter {
  actorId?: string;
  actorType?: ActorType;
  targetType?: string;
  targetId?: string;
  /** Exact action name. */
  action?: string;
  /** Action names starting with this text (matched literally: `%` and `_` are not wildcards). */
  actionPrefix?: string;
  outcome?: Outcome;
  /** Inclusive lower bound of `at`. */
  from?: Date;
  /** Exclusive upper bound of `at`. */
  to?: Date;
  /** Ids below this one (paging newest first). */
  before?: number;
  /** Ids above this one (paging oldest first). */
  after?: number;
  order: 'asc' | 'desc';
  limit: number;
}

export async function listAuditEvents(q: Queryable, filter: AuditFilter) {
  const conditions: SQL[] = [];
  if (filter.actorId !== undefined) conditions.push(eq(auditEvents.actorId, filter.actorId));
  if (filter.actorType !== undefined) conditions.push(eq(auditEvents.actorType, filter.actorType));
  if (filter.targetType !== undefined) conditions.push(eq(auditEvents.targetType, filter.targetType));
  if (filter.targetId !== undefined) conditions.push(eq(auditEvents.targetId, filter.targetId));
  if (filter.action !== undefined) conditions.push(eq(auditEvents.action, filter.action));
  if (filter.actionPrefix !== undefined) conditions.push(like(auditEvents.action, `${escapeLike(filter.actionPrefix)}%`));
  if (filter.outcome !== undefined) conditions.push(eq(auditEvents.outcome, filter.outcome));
  if (filter.from !== undefined) conditions.push(gte(auditEvents.at, filter.from));
  if (filter.to !== undefined) conditions.push(lt(auditEvents.at, filter.to));
  if (filter.before !== undefined) conditions.push(lt(auditEvents.id, filter.before));
  if (filter.after !== undefined) conditions.push(gt(auditEvents.id, filter.after));
  return q
    .select()
    .from(auditEvents)
    .where(conditions.length ? and(...conditions) : undefined)
    .orderBy(filter.order === 'asc' ? asc(auditEvents.id) : desc(auditEvents.id))
    .limit(filter.limit);
}

/** LIKE treats `%` and `_` as wildcards and `\` as its (default) escape character; escape all three. */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}
