import { describe, expect, it } from 'vitest';
import type { CredentialInspection } from '../../../protocol/credentials.ts';
import { DEFAULT_CREDENTIAL_POLICY, type CredentialPolicy } from '../../../server/credentials/credential-policy-store.ts';
import { planAccount, qualifyInspection, type MachineFacts } from '../../../server/credentials/qualification.ts';
import { siteStatus } from '../../../server/credentials/setup-summary.ts';

/** The prerequisites of automatic credentials (seed 002), decided in one place, each with a reason. */
const policy = (changes: { server?: Partial<CredentialPolicy['server']>; desktop?: Partial<CredentialPolicy['desktop']> } = {}): CredentialPolicy => ({
  ...DEFAULT_CREDENTIAL_POLICY,
  server: { ...DEFAULT_CREDENTIAL_POLICY.server, enabled: true, nocAccessLevel: 2, serviceLevel: 'elite', ...changes.server },
  desktop: { enabled: true, ...changes.desktop },
});
const settings = { eligibleServiceLevels: ['elite'] };
const machine = (changes: Partial<MachineFacts>): MachineFacts => ({ id: 'm1', hostname: 'h1', kind: 'server', os: 'windows', domainRole: 'standalone', domain: null, ...changes });
const inspection = (changes: Partial<CredentialInspection> = {}): CredentialInspection => ({
  backend: 'windows-local',
  problem: null,
  policy: { minAgeDays: 0, minLength: 12, maxLength: null, minClasses: 3, requiredClasses: [], rejectsAccountName: true, historyLength: 24, sources: [] },
  account: null,
  clashes: [],
  rulesSatisfyPolicy: [],
  ...changes,
});
const noc = { purpose: 'noc' as const, name: 'NOC_HelpDesk', fullName: 'NOC', scope: 'local' as const };

describe('planning an account', () => {
  it('gives standalone servers a local NOC account and domain controllers a domain one', () => {
    expect(planAccount('noc', machine({}), policy(), settings, [])).toMatchObject({ qualified: true, account: { scope: 'local', name: 'NOC_HelpDesk' } });
    const dc = machine({ id: 'dc', domainRole: 'domain_controller', domain: 'corp.test' });
    expect(planAccount('noc', dc, policy(), settings, [dc])).toMatchObject({ qualified: true, account: { scope: 'domain' }, coveredBy: null });
    expect(planAccount('noc', machine({ domainRole: 'member', domain: 'CORP.test' }), policy(), settings, [dc])).toMatchObject({ qualified: true, coveredBy: { id: 'dc' } });
  });

  it('lists every missing prerequisite at once', () => {
    const plan = planAccount('noc', machine({ os: 'macos', domainRole: 'member', domain: 'corp.test' }), policy({ server: { nocAccessLevel: 0, serviceLevel: 'standard' } }), settings, []);
    expect(plan).toMatchObject({ applies: true, qualified: false });
    const reasons = (plan as { reasons: string[] }).reasons.join('\n');
    expect(reasons).toMatch(/NOC access level 0/);
    expect(reasons).toMatch(/service level 'standard' is not eligible.*\(eligible: elite\)/);
    expect(reasons).toMatch(/Windows and Linux servers/);
    expect(reasons).toMatch(/no agent in this site runs on a domain controller/);
  });

  it('names the Remote Support account per OS and leaves machines the policy does not concern alone', () => {
    expect(planAccount('remote_support', machine({ kind: 'desktop', os: 'linux' }), policy(), settings, [])).toMatchObject({ account: { name: 'remote-support', fullName: 'Remote Support' } });
    expect(planAccount('remote_support', machine({ kind: 'desktop', os: 'macos' }), policy(), settings, [])).toMatchObject({ account: { name: 'Remote Support' } });
    expect(planAccount('remote_support', machine({ kind: 'server' }), policy(), settings, [])).toEqual({ applies: false });
    expect(planAccount('noc', machine({ kind: 'desktop' }), policy(), settings, [])).toEqual({ applies: false });
    expect(planAccount('noc', machine({}), policy({ server: { enabled: false } }), settings, [])).toEqual({ applies: false });
  });
});

describe('qualifying from the endpoint\'s answers', () => {
  it('accepts a clean endpoint', () => expect(qualifyInspection(inspection(), noc)).toBeNull());

  it('refuses a foreign account with the reserved name, clashing services, a minimum age and a stricter policy', () => {
    const verdict = qualifyInspection(
      inspection({
        account: { name: 'NOC_HelpDesk', id: 'S-1-5-21-1-2-3-1001', fullName: '', managedBySteward: false, admin: true, enabled: true },
        clashes: [{ account: 'CORP\\NOC_HelpDesk', kind: 'scheduled_task', name: '\\Backup' }],
        policy: { ...inspection().policy!, minAgeDays: 1 },
        rulesSatisfyPolicy: ['shorter than the minimum length 30'],
      }),
      noc,
    );
    expect(verdict?.status).toBe('not_qualified');
    expect(verdict?.reasons).toEqual([
      "an account named 'NOC_HelpDesk' already exists on the endpoint and Steward did not create it; the name is reserved",
      "scheduled task '\\Backup' runs as 'CORP\\NOC_HelpDesk': rotating that account's password would break it",
      "the endpoint's minimum password age is 1 day(s); rotation needs 0",
      "the endpoint's password policy rejects the site's generated passwords: shorter than the minimum length 30",
    ]);
  });

  it('tells "cannot be managed here" (not qualified) from "could not be inspected" (failed)', () => {
    expect(qualifyInspection(inspection({ backend: null, policy: null, problem: 'managed accounts are not supported on aix' }), noc)).toEqual({ status: 'not_qualified', reasons: ['managed accounts are not supported on aix'] });
    expect(qualifyInspection(inspection({ problem: 'tool_missing: samba-tool is not installed', policy: null }), noc)?.status).toBe('failed');
  });
});

describe('site status', () => {
  it('aggregates machines the way the seed names it', () => {
    expect(siteStatus([])).toBeNull();
    expect(siteStatus(['created', 'in_progress'])).toBe('in_progress');
    expect(siteStatus(['created', 'failed', 'not_qualified'])).toBe('partially_created');
    expect(siteStatus(['created', 'not_qualified'])).toBe('created');
    expect(siteStatus(['failed', 'not_qualified'])).toBe('failed');
    expect(siteStatus(['not_qualified'])).toBe('not_qualified');
  });
});
