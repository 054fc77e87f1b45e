import { eq, sql } from 'drizzle-orm';
import type { Queryable } from '../db/open.ts';
import { loginThrottle } from '../db/schema.ts';

/**
 * Failed-login limits, kept in the database so every replica counts the same failures. A key is an account
 * (`account:<email>`) or a client address (`address:<ip>`); too many failures inside the window lock the key.
 */
export const THROTTLE_POLICY = {
  account: { maxFailures: 5, windowSeconds: 15 * 60, lockSeconds: 15 * 60 },
  address: { maxFailures: 30, windowSeconds: 15 * 60, lockSeconds: 15 * 60 },
} as const;

export type ThrottleScope = keyof typeof THROTTLE_POLICY;

export const throttleKey = (scope: ThrottleScope, value: string) => `${scope}:${value}`;

/** Seconds until the key unlocks, or 0 when it is not locked. */
export async function lockedForSeconds(q: Queryable, key: string): Promise<number> {
  const [row] = await q
    .select({ left: sql<number>`extract(epoch from (${loginThrottle.lockedUntil} - now()))` })
    .from(loginThrottle)
    .where(eq(loginThrottle.key, key));
  return row && row.left !== null && Number(row.left) > 0 ? Number(row.left) : 0;
}

/** Counts one failure; returns true when this failure locked the key. */
export async function recordFailure(q: Queryable, scope: ThrottleScope, value: string): Promise<boolean> {
  const { maxFailures, windowSeconds, lockSeconds } = THROTTLE_POLICY[scope];
  const expired = sql`${loginThrottle.windowStartedAt} < now() - make_interval(secs => ${windowSeconds})`;
  const failures = sql`case when ${expired} then 1 else ${loginThrottle.failures} + 1 end`;
  const [row] = await q
    .insert(loginThrottle)
    .values({ key: throttleKey(scope, value), failures: 1, windowStartedAt: sql`now()` })
    .onConflictDoUpdate({
      target: loginThrottle.key,
      set: {
        failures,
        windowStartedAt: sql`case when ${expired} then now() else ${loginThrottle.windowStartedAt} end`,
        lockedUntil: sql`case when ${failures} >= ${maxFailures} then now() + make_interval(secs => ${lockSeconds})
                         else ${loginThrottle.lockedUntil} end`,
      },
    })
    .returning({ failures: loginThrottle.failures });
  return (row?.failures ?? 0) >= maxFailures;
}

export async function clearFailures(q: Queryable, key: string): Promise<void> {
  await q.delete(loginThrottle).where(eq(loginThrottle.key, key));
}
