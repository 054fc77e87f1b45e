import { and, desc, eq, gt, isNull, lt, sql } from 'drizzle-orm';
import type { Queryable } from '../db/open.ts';
import { enrollmentTokens, machines } from '../db/schema.ts';

export async function insertEnrollmentToken(
  q: Queryable,
  values: { siteId: string; secretHash: string; expiresAt: Date; maxUses: number; createdBy: string },
) {
  const [row] = await q.insert(enrollmentTokens).values(values).returning();
  return row;
}

export const listEnrollmentTokens = (q: Queryable, siteId: string) =>
  q
    .select({
      id: enrollmentTokens.id,
      siteId: enrollmentTokens.siteId,
      expiresAt: enrollmentTokens.expiresAt,
      maxUses: enrollmentTokens.maxUses,
      uses: enrollmentTokens.uses,
      revokedAt: enrollmentTokens.revokedAt,
      createdAt: enrollmentTokens.createdAt,
      createdBy: enrollmentTokens.createdBy,
    })
    .from(enrollmentTokens)
    .where(eq(enrollmentTokens.siteId, siteId))
    .orderBy(desc(enrollmentTokens.createdAt));

export async function findEnrollmentToken(q: Queryable, id: string) {
  const [row] = await q.select().from(enrollmentTokens).where(eq(enrollmentTokens.id, id));
  return row ?? null;
}

export async function revokeEnrollmentToken(q: Queryable, id: string) {
  await q
    .update(enrollmentTokens)
    .set({ revokedAt: sql`now()` })
    .where(and(eq(enrollmentTokens.id, id), isNull(enrollmentTokens.revokedAt)));
}

/**
 * Takes one use of a token atomically: only a live token (not revoked, not expired, uses left) matches, and the
 * row lock makes concurrent enrollments count exactly.
 */
export async function consumeEnrollmentToken(q: Queryable, secretHash: string) {
  const [row] = await q
    .update(enrollmentTokens)
    .set({ uses: sql`${enrollmentTokens.uses} + 1` })
    .where(
      and(
        eq(enrollmentTokens.secretHash, secretHash),
        isNull(enrollmentTokens.revokedAt),
        gt(enrollmentTokens.expiresAt, sql`now()`),
        lt(enrollmentTokens.uses, enrollmentTokens.maxUses),
      ),
    )
    .returning({ id: enrollmentTokens.id, siteId: enrollmentTokens.siteId });
  return row ?? null;
}

/** Why a token did not match, for the audit log. */
export async function whyTokenRefused(q: Queryable, secretHash: string): Promise<string> {
  const [row] = await q
    .select({
      revoked: sql<boolean>`${enrollmentTokens.revokedAt} is not null`,
      expired: sql<boolean>`${enrollmentTokens.expiresAt} <= now()`,
      usedUp: sql<boolean>`${enrollmentTokens.uses} >= ${enrollmentTokens.maxUses}`,
    })
    .from(enrollmentTokens)
    .where(eq(enrollmentTokens.secretHash, secretHash));
  if (!row) return 'unknown token';
  return row.revoked ? 'token revoked' : row.expired ? 'token expired' : row.usedUp ? 'token used up' : 'token refused';
}

export async function insertMachine(q: Queryable, values: { siteId: string; agentPublicKey: Uint8Array; enrollmentTokenId: string; agentVersion: string; lastAddress: string }) {
  const [row] = await q.insert(machines).values(values).returning({ id: machines.id });
  return row;
}
