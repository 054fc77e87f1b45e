import { eq } from 'drizzle-orm';
import type { Queryable } from '../db/open.ts';
import { machines, sessions } from '../db/schema.ts';
import { credentialPolicyOf } from './credential-policy-store.ts';
import { findAccount, queueJobs } from './credential-store.ts';

/**
 * A session that ran as the Remote Support account used its password's power: like a reveal, it is followed by a
 * rotation after the site's delay (LAPS' rotate-after-use).
 */
export async function rotateAfterSession(q: Queryable, sessionId: string): Promise<void> {
  const [row] = await q.select({ runAs: sessions.runAs, machineId: sessions.machineId, siteId: machines.siteId }).from(sessions).innerJoin(machines, eq(machines.id, sessions.machineId)).where(eq(sessions.id, sessionId));
  if (!row || row.runAs !== 'remote_support') return;
  const account = await findAccount(q, row.machineId, 'remote_support');
  if (!account || account.status !== 'created') return;
  const policy = await credentialPolicyOf(q, row.siteId);
  const dueAt = new Date(Date.now() + policy.rotation.rotateAfterUseMinutes * 60_000);
  await queueJobs(q, [{ accountId: account.id, machineId: row.machineId, reason: 'after_session', dueAt, deadlineAt: new Date(dueAt.getTime() + 7 * 86400_000), requestedBy: null }]);
}
