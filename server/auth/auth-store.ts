import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Queryable } from '../db/open.ts';
import { authTokens, clients, roles, users } from '../db/schema.ts';

/** A user with what login needs to decide on MFA: the role's and the client's MFA policy. */
export async function findLoginUser(q: Queryable, email: string) {
  const [row] = await q
    .select({
      id: users.id,
      email: users.email,
      name: users.name,
      kind: users.kind,
      role: users.role,
      passwordHash: users.passwordHash,
      disabledAt: users.disabledAt,
      mfaEnabledAt: users.mfaEnabledAt,
      roleRequiresMfa: roles.requireMfa,
      clientRequiresMfa: clients.requireMfa,
    })
    .from(users)
    .innerJoin(roles, eq(roles.id, users.role))
    .leftJoin(clients, eq(clients.id, users.clientId))
    .where(eq(users.email, email.toLowerCase()));
  return row ?? null;
}

export interface NewAuthToken {
  userId: string;
  tokenHash: string;
  kind: 'login' | 'console' | 'api';
  expiresAt: Date;
  createdFrom: string;
  mfaVerifiedAt: Date | null;
  name?: string | null;
  permissions?: string[] | null;
  siteIds?: string[] | null;
}

export async function insertAuthToken(q: Queryable, values: NewAuthToken) {
  const [row] = await q.insert(authTokens).values(values).returning({ id: authTokens.id });
  return row;
}

/** Records use at most once a minute per token, so authenticated traffic does not write on every request. */
export async function touchToken(q: Queryable, tokenId: string) {
  await q
    .update(authTokens)
    .set({ lastUsedAt: sql`now()` })
    .where(and(eq(authTokens.id, tokenId), sql`(${authTokens.lastUsedAt} is null or ${authTokens.lastUsedAt} < now() - interval '1 minute')`));
}

export async function revokeToken(q: Queryable, tokenId: string) {
  await q.update(authTokens).set({ revokedAt: sql`now()` }).where(eq(authTokens.id, tokenId));
}

/** Ends every live token of a user (disable, password change, MFA reset). Returns how many were live. */
export async function revokeUserTokens(q: Queryable, userId: string, exceptTokenId?: string) {
  const rows = await q
    .update(authTokens)
    .set({ revokedAt: sql`now()` })
    .where(and(eq(authTokens.userId, userId), isNull(authTokens.revokedAt), exceptTokenId ? sql`${authTokens.id} <> ${exceptTokenId}` : undefined))
    .returning({ id: authTokens.id });
  return rows.length;
}

export async function markTokenMfaVerified(q: Queryable, tokenId: string) {
  await q.update(authTokens).set({ mfaVerifiedAt: sql`now()` }).where(eq(authTokens.id, tokenId));
}

export async function recordLogin(q: Queryable, userId: string) {
  await q.update(users).set({ lastLoginAt: sql`now()` }).where(eq(users.id, userId));
}

/** True when this email's user got a token from this address in the last 30 days (a familiar place to sign in from). */
export async function signedInFromRecently(q: Queryable, email: string, address: string): Promise<boolean> {
  const rows = await q
    .select({ id: authTokens.id })
    .from(authTokens)
    .innerJoin(users, eq(users.id, authTokens.userId))
    .where(and(eq(users.email, email), eq(authTokens.createdFrom, address), sql`${authTokens.createdAt} > now() - interval '30 days'`))
    .limit(1);
  return rows.length > 0;
}
