import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Queryable } from '../db/open.ts';
import { mfaRecoveryCodes, users } from '../db/schema.ts';

export async function mfaState(q: Queryable, userId: string) {
  const [row] = await q
    .select({
      secretSealed: users.mfaSecretSealed,
      pendingSealed: users.mfaPendingSecretSealed,
      enabledAt: users.mfaEnabledAt,
      lastStep: users.mfaLastStep,
      passwordHash: users.passwordHash,
      email: users.email,
    })
    .from(users)
    .where(eq(users.id, userId))
    .for('update');
  return row ?? null;
}

export async function storePendingSecret(q: Queryable, userId: string, sealed: Uint8Array) {
  await q.update(users).set({ mfaPendingSecretSealed: sealed, updatedAt: sql`now()` }).where(eq(users.id, userId));
}

export async function enableMfa(q: Queryable, userId: string, sealed: Uint8Array, step: number) {
  await q
    .update(users)
    .set({ mfaSecretSealed: sealed, mfaPendingSecretSealed: null, mfaEnabledAt: sql`now()`, mfaLastStep: step, updatedAt: sql`now()` })
    .where(eq(users.id, userId));
}

export async function storeLastStep(q: Queryable, userId: string, step: number) {
  await q.update(users).set({ mfaLastStep: step }).where(eq(users.id, userId));
}

export async function clearMfa(q: Queryable, userId: string) {
  await q
    .update(users)
    .set({ mfaSecretSealed: null, mfaPendingSecretSealed: null, mfaEnabledAt: null, mfaLastStep: null, updatedAt: sql`now()` })
    .where(eq(users.id, userId));
  await q.delete(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, userId));
}

export async function replaceRecoveryCodes(q: Queryable, userId: string, codeHashes: string[]) {
  await q.delete(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, userId));
  await q.insert(mfaRecoveryCodes).values(codeHashes.map((codeHash) => ({ userId, codeHash })));
}

/** Marks one unused recovery code used; false when there is no such unused code. */
export async function consumeRecoveryCode(q: Queryable, userId: string, codeHash: string): Promise<boolean> {
  const rows = await q
    .update(mfaRecoveryCodes)
    .set({ usedAt: sql`now()` })
    .where(and(eq(mfaRecoveryCodes.userId, userId), eq(mfaRecoveryCodes.codeHash, codeHash), isNull(mfaRecoveryCodes.usedAt)))
    .returning({ id: mfaRecoveryCodes.id });
  return rows.length === 1;
}

export async function unusedRecoveryCodeCount(q: Queryable, userId: string): Promise<number> {
  const [row] = await q
    .select({ n: sql<number>`count(*)::int` })
    .from(mfaRecoveryCodes)
    .where(and(eq(mfaRecoveryCodes.userId, userId), isNull(mfaRecoveryCodes.usedAt)));
  return Number(row?.n ?? 0);
}
