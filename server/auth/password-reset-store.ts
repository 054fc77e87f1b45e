import { and, count, eq, gt, isNull, sql } from 'drizzle-orm';
import type { Queryable } from '../db/open.ts';
import { passwordResetTokens, users } from '../db/schema.ts';

/** Queries of the forgot-password flow. Password links are issued by password-link.ts; here they are counted and used. */

/** The account a reset is asked for, its row locked so concurrent requests count the links one after another. */
export async function lockResetCandidate(q: Queryable, email: string) {
  const [row] = await q
    .select({ id: users.id, email: users.email, name: users.name, disabledAt: users.disabledAt })
    .from(users)
    .where(eq(users.email, email))
    .for('update');
  return row ?? null;
}

/** Reset links issued to the user in the last `seconds` (used or not): the per-account email budget. */
export async function countRecentResetLinks(q: Queryable, userId: string, seconds: number): Promise<number> {
  const [row] = await q
    .select({ n: count() })
    .from(passwordResetTokens)
    .where(
      and(
        eq(passwordResetTokens.userId, userId),
        eq(passwordResetTokens.purpose, 'reset'),
        gt(passwordResetTokens.createdAt, sql`now() - make_interval(secs => ${seconds})`),
      ),
    );
  return Number(row?.n ?? 0);
}

const live = (tokenHash: string) =>
  and(eq(passwordResetTokens.tokenHash, tokenHash), isNull(passwordResetTokens.usedAt), gt(passwordResetTokens.expiresAt, sql`now()`));

/** True when the link can still be used (a cheap look before the expensive password hash). */
export async function isLinkLive(q: Queryable, tokenHash: string): Promise<boolean> {
  const rows = await q.select({ id: passwordResetTokens.id }).from(passwordResetTokens).where(live(tokenHash)).limit(1);
  return rows.length > 0;
}

/**
 * Marks a live link used and returns it; null when it is unknown, used or expired. One statement with the condition
 * in its WHERE, so of two concurrent confirmations exactly one gets the row back.
 */
export async function consumeLink(q: Queryable, tokenHash: string) {
  const [row] = await q
    .update(passwordResetTokens)
    .set({ usedAt: sql`now()` })
    .where(live(tokenHash))
    .returning({ id: passwordResetTokens.id, userId: passwordResetTokens.userId, purpose: passwordResetTokens.purpose });
  return row ?? null;
}

/** Ends every other outstanding link of the user (an older reset mail, a pending invitation). Returns how many. */
export async function invalidateUserLinks(q: Queryable, userId: string): Promise<number> {
  const rows = await q
    .update(passwordResetTokens)
    .set({ usedAt: sql`now()` })
    .where(and(eq(passwordResetTokens.userId, userId), isNull(passwordResetTokens.usedAt)))
    .returning({ id: passwordResetTokens.id });
  return rows.length;
}

/** Sets the password of an enabled user; null when the user is disabled (or gone). */
export async function setPasswordHash(q: Queryable, userId: string, passwordHash: string) {
  const [row] = await q
    .update(users)
    .set({ passwordHash, passwordChangedAt: sql`now()`, updatedAt: sql`now()` })
    .where(and(eq(users.id, userId), isNull(users.disabledAt)))
    .returning({ id: users.id, email: users.email });
  return row ?? null;
}
