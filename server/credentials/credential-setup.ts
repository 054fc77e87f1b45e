import type { Queryable } from '../db/open.ts';
import { credentialPolicyOf, credentialSettingsOf } from './credential-policy-store.ts';
import { findAccount, queueJob, siteMachineFacts, upsertAccount, type AccountPurpose, type AccountStatus } from './credential-store.ts';
import { planAccount } from './qualification.ts';

/** How long a setup job waits for a machine's agent to come online before the machine counts as failed. */
export const SETUP_DEADLINE_MS = 2 * 3600_000;
const PURPOSES: AccountPurpose[] = ['remote_support', 'noc'];

/**
 * Plans every machine of a site against its credential policy: an account row per machine that the policy concerns,
 * `not_qualified` with the reasons where a prerequisite the server can see is missing, and a setup job (in progress)
 * where the account still has to be created — or re-created under a new name. Member servers get no job: the domain
 * account created on their domain controller covers them, and their status follows it. Idempotent: run on every
 * policy change and whenever a machine appears that has no plan yet.
 */
export async function planSite(q: Queryable, siteId: string): Promise<{ queued: number }> {
  const policy = await credentialPolicyOf(q, siteId);
  const settings = await credentialSettingsOf(q);
  const machines = await siteMachineFacts(q, siteId);
  const domainControllers = machines.filter((m) => m.domainRole === 'domain_controller');
  // Domain controllers first: a member server's row points at its DC's account.
  const ordered = [...domainControllers, ...machines.filter((m) => m.domainRole !== 'domain_controller')];
  let queued = 0;
  const now = Date.now();
  for (const machine of ordered) {
    for (const purpose of PURPOSES) {
      const plan = planAccount(purpose, machine, policy, settings, domainControllers);
      if (!plan.applies) continue;
      const existing = await findAccount(q, machine.id, purpose);
      if (!plan.qualified) {
        await upsertAccount(q, { machineId: machine.id, purpose, scope: plan.scope, username: plan.username, status: 'not_qualified', reasons: plan.reasons, coveredBy: null, domain: plan.domain });
        continue;
      }
      if (plan.coveredBy) {
        const domainAccount = await findAccount(q, plan.coveredBy.id, 'noc');
        await upsertAccount(q, {
          machineId: machine.id,
          purpose,
          scope: 'domain',
          username: plan.account.name,
          status: (domainAccount?.status as AccountStatus | undefined) ?? 'in_progress',
          reasons: [`covered by the domain account ${plan.domain ?? ''}\\${plan.account.name} created on domain controller ${plan.coveredBy.hostname ?? plan.coveredBy.id}`],
          coveredBy: domainAccount?.id ?? null,
          domain: plan.domain,
        });
        continue;
      }
      const upToDate = existing && existing.status === 'created' && existing.username === plan.account.name && existing.scope === plan.account.scope;
      if (upToDate) continue;
      const account = await upsertAccount(q, { machineId: machine.id, purpose, scope: plan.account.scope, username: plan.account.name, status: 'in_progress', reasons: [], coveredBy: null, domain: plan.domain });
      const job = await queueJob(q, { accountId: account.id, machineId: machine.id, reason: 'setup', dueAt: new Date(now), deadlineAt: new Date(now + SETUP_DEADLINE_MS), requestedBy: policy.setup.by });
      if (job.created) queued++;
    }
  }
  return { queued };
}
