import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import type { Queryable } from '../db/open.ts';
import { authTokens, users } from '../db/schema.ts';

export async function findUserByEmail(q: Queryable, email: string) {
  const [row] = await q.select().from(users).where(eq(users.email, email.toLowerCase()));
  return row ?? null;
}

export async function insertAuthToken(
  q: Queryable,
  values: { userId: string; tokenHash: string; kind: string; expiresAt: Date; createdFrom: string },
) {
  const [row] = await q.insert(authTokens).values(values).returning({ id: authTokens.id });
  return row;
}

/** The live token and its user, or null when unknown, expired, revoked or the user is disabled. */
export async function findLiveToken(q: Queryable, tokenHash: string) {
  const [row] = await q
    .select({
      tokenId: authTokens.id,
      userId: users.id,
      email: users.email,
      role: users.role,
      lastUsedAt: authTokens.lastUsedAt,
    })
    .from(authTokens)
    .innerJoin(users, eq(users.id, authTokens.userId))
    .where(
      and(
        eq(authTokens.tokenHash, tokenHash),
        isNull(authTokens.revokedAt),
        gt(authTokens.expiresAt, sql`now()`),
        isNull(users.disabledAt),
      ),
    );
  return row ?? null;
}

/** Records use at most once a minute per token, so authenticated traffic does not write on every request. */
export async function touchToken(q: Queryable, tokenId: string) {
  await q
    .update(authTokens)
    .set({ lastUsedAt: sql`now()` })
    .where(
      and(
        eq(authTokens.id, tokenId),
        sql`(${authTokens.lastUsedAt} is null or ${authTokens.lastUsedAt} < now() - interval '1 minute')`,
      ),
    );
}

export async function revokeToken(q: Queryable, tokenId: string) {
  await q.update(authTokens).set({ revokedAt: sql`now()` }).where(eq(authTokens.id, tokenId));
}
