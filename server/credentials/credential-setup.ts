import type { Queryable } from '../db/open.ts';
import { credentialPolicyOf, credentialSettingsOf } from './credential-policy-store.ts';
import { queueJobs, siteAccounts, siteMachineFacts, upsertAccounts, type AccountPurpose, type AccountStatus, type CredentialAccount, type JobRequest } from './credential-store.ts';
import { planAccount, type AccountPlan } from './qualification.ts';

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
  const known = new Map((await siteAccounts(q, siteId)).map(({ account }) => [`${account.machineId}/${account.purpose}`, account]));
  const domainControllers = machines.filter((m) => m.domainRole === 'domain_controller');
  const now = Date.now();
  const jobs: JobRequest[] = [];
  // Domain controllers first: a member server's row points at its DC's account. Each group is written in one go.
  for (const group of [domainControllers, machines.filter((m) => m.domainRole !== 'domain_controller')]) {
    const planned = group.flatMap((machine) => PURPOSES.map((purpose) => accountRow(machine, purpose, planAccount(purpose, machine, policy, settings, domainControllers), known)));
    const toSetUp = new Set(planned.flatMap((p) => (p?.setUp ? [`${p.row.machineId}/${p.row.purpose}`] : [])));
    for (const account of await upsertAccounts(q, planned.flatMap((p) => (p ? [p.row] : [])))) {
      known.set(`${account.machineId}/${account.purpose}`, account);
      if (toSetUp.has(`${account.machineId}/${account.purpose}`)) {
        jobs.push({ accountId: account.id, machineId: account.machineId, reason: 'setup', dueAt: new Date(now), deadlineAt: new Date(now + SETUP_DEADLINE_MS), requestedBy: policy.setup.by });
      }
    }
  }
  const queued = await queueJobs(q, jobs);
  return { queued: queued.filter((j) => j.created).length };
}

type AccountRow = Parameters<typeof upsertAccounts>[1][number];

/**
 * The account row a plan asks for, and whether it needs a setup job (created or re-created under a new name here);
 * null when nothing is to be written (not concerned, or already created as planned). Member servers get no job.
 */
function accountRow(machine: { id: string }, purpose: AccountPurpose, plan: AccountPlan, known: Map<string, CredentialAccount>): { row: AccountRow; setUp: boolean } | null {
  if (!plan.applies) return null;
  if (!plan.qualified) {
    return { setUp: false, row: { machineId: machine.id, purpose, scope: plan.scope, username: plan.username, status: 'not_qualified', reasons: plan.reasons, coveredBy: null, domain: plan.domain } };
  }
  if (plan.coveredBy) {
    const domainAccount = known.get(`${plan.coveredBy.id}/noc`);
    const row: AccountRow = {
      machineId: machine.id,
      purpose,
      scope: 'domain',
      username: plan.account.name,
      status: (domainAccount?.status as AccountStatus | undefined) ?? 'in_progress',
      reasons: [`covered by the domain account ${plan.domain ?? ''}\\${plan.account.name} created on domain controller ${plan.coveredBy.hostname ?? plan.coveredBy.id}`],
      coveredBy: domainAccount?.id ?? null,
      domain: plan.domain,
    };
    return { setUp: false, row };
  }
  const existing = known.get(`${machine.id}/${purpose}`);
  const upToDate = existing && existing.status === 'created' && existing.username === plan.account.name && existing.scope === plan.account.scope;
  if (upToDate) return null;
  return { setUp: true, row: { machineId: machine.id, purpose, scope: plan.account.scope, username: plan.account.name, status: 'in_progress', reasons: [], coveredBy: null, domain: plan.domain } };
}
