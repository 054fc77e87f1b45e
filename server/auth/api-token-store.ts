import { and, desc, eq, sql } from 'drizzle-orm';
import type { Queryable } from '../db/open.ts';
import { authTokens } from '../db/schema.ts';

const columns = {
  id: authTokens.id,
  name: authTokens.name,
  permissions: authTokens.permissions,
  siteIds: authTokens.siteIds,
  createdAt: authTokens.createdAt,
  expiresAt: authTokens.expiresAt,
  revokedAt: authTokens.revokedAt,
  lastUsedAt: authTokens.lastUsedAt,
};

export async function listApiTokens(q: Queryable, userId: string) {
  return q.select(columns).from(authTokens).where(and(eq(authTokens.userId, userId), eq(authTokens.kind, 'api'))).orderBy(desc(authTokens.createdAt));
}

export async function findApiToken(q: Queryable, userId: string, tokenId: string) {
  const [row] = await q.select(columns).from(authTokens).where(and(eq(authTokens.id, tokenId), eq(authTokens.userId, userId), eq(authTokens.kind, 'api')));
  return row ?? null;
}

export async function revokeApiToken(q: Queryable, tokenId: string) {
  await q.update(authTokens).set({ revokedAt: sql`coalesce(${authTokens.revokedAt}, now())` }).where(eq(authTokens.id, tokenId));
}
