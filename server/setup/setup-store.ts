import { and, count, eq, isNull } from 'drizzle-orm';
import type { Queryable } from '../db/open.ts';
import { installation, users } from '../db/schema.ts';

export async function userCount(q: Queryable): Promise<number> {
  const [row] = await q.select({ n: count() }).from(users);
  return row.n;
}

export async function setupState(q: Queryable) {
  const [row] = await q
    .select({ tokenHash: installation.setupTokenHash, completedAt: installation.setupCompletedAt })
    .from(installation)
    .where(eq(installation.id, 1));
  return row;
}

export async function storeSetupTokenHash(q: Queryable, tokenHash: string) {
  await q.update(installation).set({ setupTokenHash: tokenHash }).where(and(eq(installation.id, 1), isNull(installation.setupCompletedAt)));
}

/**
 * Marks setup complete if, and only if, it is still open and the token matches. The row lock taken by this
 * UPDATE serializes concurrent calls: the loser re-reads the committed row and matches nothing.
 */
export async function claimSetup(q: Queryable, tokenHash: string): Promise<boolean> {
  const rows = await q
    .update(installation)
    .set({ setupCompletedAt: new Date(), setupTokenHash: null })
    .where(and(eq(installation.id, 1), isNull(installation.setupCompletedAt), eq(installation.setupTokenHash, tokenHash)))
    .returning({ id: installation.id });
  return rows.length === 1;
}

export async function insertUser(q: Queryable, values: { email: string; name: string; passwordHash: string; role: string; allowRemoteControl: boolean }) {
  const [row] = await q.insert(users).values(values).returning({ id: users.id, email: users.email, name: users.name, role: users.role });
  return row;
}
