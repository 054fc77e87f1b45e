import { REMOTE_SUPPORT_FULL_NAME, remoteSupportAccountName, type CredentialInspection, type ManagedAccount } from '../../protocol/credentials.ts';
import type { CredentialPolicy, CredentialSettings } from './credential-policy-store.ts';
import type { AccountPurpose, AccountStatus } from './credential-store.ts';

/**
 * Which account a machine gets and whether it qualifies, with the reasons — the prerequisites of automatic server
 * and desktop credentials, decided in one place. Two stages: `planAccount` from what the server knows (machine kind,
 * OS, domain role, the site's policy), `qualifyInspection` from what the agent found on the endpoint.
 */

export interface MachineFacts {
  id: string;
  hostname: string | null;
  kind: string | null;
  os: string | null;
  domainRole: string | null;
  domain: string | null;
}

export type AccountPlan =
  /** This purpose does not concern the machine (a desktop for NOC accounts, a part the site did not enable). */
  | { applies: false }
  | { applies: true; qualified: false; reasons: string[]; username: string; scope: 'local' | 'domain'; domain: string | null }
  | { applies: true; qualified: true; account: ManagedAccount; domain: string | null; coveredBy: MachineFacts | null };

export const NOC_FULL_NAME = 'NOC Help Desk (Steward)';

export function planAccount(
  purpose: AccountPurpose,
  machine: MachineFacts,
  policy: CredentialPolicy,
  settings: Pick<CredentialSettings, 'eligibleServiceLevels'>,
  domainControllers: MachineFacts[],
): AccountPlan {
  return purpose === 'remote_support' ? planRemoteSupport(machine, policy) : planNoc(machine, policy, settings, domainControllers);
}

function planRemoteSupport(machine: MachineFacts, policy: CredentialPolicy): AccountPlan {
  if (!policy.desktop.enabled || machine.kind !== 'desktop') return { applies: false };
  const username = remoteSupportAccountName(machine.os);
  if (!['windows', 'macos', 'linux'].includes(machine.os ?? '')) {
    return { applies: true, qualified: false, reasons: [`desktop credentials cover Windows, macOS and Linux desktops; this one reports OS '${machine.os ?? 'unknown'}'`], username, scope: 'local', domain: null };
  }
  return { applies: true, qualified: true, account: { purpose: 'remote_support', name: username, fullName: REMOTE_SUPPORT_FULL_NAME, scope: 'local' }, domain: null, coveredBy: null };
}

function planNoc(machine: MachineFacts, policy: CredentialPolicy, settings: Pick<CredentialSettings, 'eligibleServiceLevels'>, domainControllers: MachineFacts[]): AccountPlan {
  if (!policy.server.enabled || machine.kind !== 'server') return { applies: false };
  const username = policy.server.username;
  const scope = machine.domainRole === 'domain_controller' || machine.domainRole === 'member' ? 'domain' : 'local';
  const reasons: string[] = [];
  if (policy.server.nocAccessLevel < 1) reasons.push('the site is at NOC access level 0: NOC accounts are never created (levels 1–3 allow them)');
  const eligible = settings.eligibleServiceLevels.map((l) => l.toLowerCase());
  if (!eligible.includes(policy.server.serviceLevel.toLowerCase())) {
    reasons.push(`the site's service level '${policy.server.serviceLevel}' is not eligible for automatic server credentials (eligible: ${settings.eligibleServiceLevels.join(', ') || 'none'})`);
  }
  if (!['windows', 'linux'].includes(machine.os ?? '')) reasons.push(`automatic server credentials cover Windows and Linux servers; this one reports OS '${machine.os ?? 'unknown'}'`);
  let coveredBy: MachineFacts | null = null;
  if (machine.domainRole === 'member') {
    coveredBy = domainControllers.find((dc) => sameDomain(dc.domain, machine.domain)) ?? null;
    if (!coveredBy) reasons.push(`the server is a member of domain '${machine.domain ?? 'unknown'}', but no agent in this site runs on a domain controller of it (the domain account is created on a DC)`);
  }
  if (reasons.length) return { applies: true, qualified: false, reasons, username, scope, domain: machine.domain };
  return { applies: true, qualified: true, account: { purpose: 'noc', name: username, fullName: NOC_FULL_NAME, scope }, domain: coveredBy?.domain ?? machine.domain, coveredBy };
}

const sameDomain = (a: string | null, b: string | null) => !!a && !!b && a.toLowerCase() === b.toLowerCase();

/**
 * What the endpoint's own answers mean for the account: `not_qualified` for a prerequisite it misses (a foreign
 * account with the reserved name, a service running as the name, a password policy that forbids rotation), `failed`
 * when it could not be inspected at all. null = qualified.
 */
export function qualifyInspection(inspection: CredentialInspection, account: ManagedAccount): { status: AccountStatus; reasons: string[] } | null {
  if (!inspection.backend) return { status: 'not_qualified', reasons: [inspection.problem ?? 'this endpoint has no account store Steward can manage'] };
  if (inspection.problem || !inspection.policy) return { status: 'failed', reasons: [`the endpoint could not be inspected: ${inspection.problem ?? 'no password policy reported'}`] };
  const reasons: string[] = [];
  if (inspection.account && !inspection.account.managedBySteward) {
    reasons.push(`an account named '${account.name}' already exists on the endpoint and Steward did not create it; the name is reserved`);
  }
  for (const clash of inspection.clashes.slice(0, 10)) {
    reasons.push(`${clash.kind.replace('_', ' ')} '${clash.name}' runs as '${clash.account}': rotating that account's password would break it`);
  }
  if (inspection.policy.minAgeDays > 0) reasons.push(`the endpoint's minimum password age is ${inspection.policy.minAgeDays} day(s); rotation needs 0`);
  for (const problem of inspection.rulesSatisfyPolicy) reasons.push(`the endpoint's password policy rejects the site's generated passwords: ${problem}`);
  return reasons.length ? { status: 'not_qualified', reasons } : null;
}
