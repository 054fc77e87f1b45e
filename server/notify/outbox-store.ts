import { and, asc, eq, inArray, isNull, lt, lte, sql } from 'drizzle-orm';
import type { Queryable } from '../db/open.ts';
import { outboxMessages } from '../db/schema.ts';

export async function insertOutboxMessages(q: Queryable, values: { recipient: string; subject: string; bodySealed: Uint8Array; purpose: string }[]) {
  if (values.length === 0) return [];
  return q.insert(outboxMessages).values(values).returning({ id: outboxMessages.id });
}

export interface ClaimedMessage {
  id: number;
  recipient: string;
  subject: string;
  bodySealed: Uint8Array;
  purpose: string;
  /** This attempt's number (counted at claim time, so a crash mid-send still counts). */
  attempts: number;
}

/**
 * Claims up to `limit` due messages for this worker. `FOR UPDATE SKIP LOCKED` lets replicas claim side by side
 * without waiting for or taking each other's rows; pushing `next_attempt_at` out by `leaseSeconds` keeps the claim
 * after this short transaction commits, so the sending itself holds no transaction (PGlite runs one at a time).
 */
export async function claimDueMessages(q: Queryable, limit: number, leaseSeconds: number, maxAttempts: number): Promise<ClaimedMessage[]> {
  const due = await q
    .select({ id: outboxMessages.id })
    .from(outboxMessages)
    .where(and(isNull(outboxMessages.sentAt), lte(outboxMessages.nextAttemptAt, sql`now()`), lt(outboxMessages.attempts, maxAttempts)))
    .orderBy(asc(outboxMessages.id))
    .limit(limit)
    .for('update', { skipLocked: true });
  if (due.length === 0) return [];
  return q
    .update(outboxMessages)
    .set({ attempts: sql`${outboxMessages.attempts} + 1`, nextAttemptAt: sql`now() + make_interval(secs => ${leaseSeconds})` })
    .where(
      inArray(
        outboxMessages.id,
        due.map((row) => row.id),
      ),
    )
    .returning({
      id: outboxMessages.id,
      recipient: outboxMessages.recipient,
      subject: outboxMessages.subject,
      bodySealed: outboxMessages.bodySealed,
      purpose: outboxMessages.purpose,
      attempts: outboxMessages.attempts,
    });
}

/** Both outcomes apply only to the claim they belong to (a later claim after an expired lease is left alone). */
const claimOf = (id: number, attempt: number) => and(eq(outboxMessages.id, id), eq(outboxMessages.attempts, attempt), isNull(outboxMessages.sentAt));

export async function markSent(q: Queryable, id: number, attempt: number): Promise<void> {
  await q.update(outboxMessages).set({ sentAt: sql`now()`, lastError: null }).where(claimOf(id, attempt));
}

/** Records a failed attempt; the message is tried again after `retryInSeconds` unless its attempts are used up. */
export async function markFailed(q: Queryable, id: number, attempt: number, error: string, retryInSeconds: number): Promise<void> {
  await q
    .update(outboxMessages)
    .set({ lastError: error, nextAttemptAt: sql`now() + make_interval(secs => ${retryInSeconds})` })
    .where(claimOf(id, attempt));
}
