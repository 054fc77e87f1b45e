import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import * as ad from '../../../agent/accounts/windows-ad.ts';
import { WindowsAdAccounts, policyFromAdPolicies, timeSpanDays } from '../../../agent/accounts/windows-ad.ts';
import { StdinTranscriptRunner, loadStdinTranscript, type StdinScripted } from '../../helpers/stdin-transcript-runner.ts';

// Contract tests for the domain NOC account on a Windows DC: transcripts pin argv, the script and documented output.
const dir = path.resolve(import.meta.dirname, '../../fixtures/accounts/windows');
const transcript = (name: string) => loadStdinTranscript(path.join(dir, name));
const PASSWORD = 'Xk7#pq2-Lm9{zR4}vB';
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

let runner: StdinTranscriptRunner;
function backend(...scripted: StdinScripted[]) {
  runner = new StdinTranscriptRunner(scripted);
  return new WindowsAdAccounts(runner.run);
}
afterEach(() => {
  expect(runner.unexpected).toEqual([]);
  expect(runner.uncalled()).toEqual([]);
  expect(runner.allArgv().join(' ')).not.toContain(PASSWORD);
  expect(runner.allArgv().join(' ')).not.toContain(b64(PASSWORD));
});

const stdinLines = (call: number) => (runner.calls[call].input ?? '').split('\n');

it('is the domain-scoped Windows backend', () => {
  const b = backend();
  expect([b.kind, b.scope]).toEqual(['windows-ad', 'domain']);
});

describe('readPolicy', () => {
  it('the default domain policy of the Learn example: MinPasswordAge 1.00:00:00 → 1 day (not rotatable), length 7, complexity, history 24', async () => {
    expect(await backend(transcript('ad-policy-default.txt')).readPolicy()).toEqual({
      minAgeDays: 1,
      minLength: 7,
      maxLength: null,
      minClasses: 3,
      requiredClasses: [],
      rejectsAccountName: true,
      historyLength: 24,
      sources: [
        'Get-ADDefaultDomainPasswordPolicy: ComplexityEnabled true',
        'Get-ADDefaultDomainPasswordPolicy: MinPasswordAge 1 days',
        'Get-ADDefaultDomainPasswordPolicy: MinPasswordLength 7',
        'Get-ADDefaultDomainPasswordPolicy: PasswordHistoryCount 24',
      ],
    });
  });

  it('a fine-grained policy reaching Domain Admins wins over the default, lowest Precedence first', async () => {
    const policy = await backend(transcript('ad-policy-pso.txt')).readPolicy();
    expect(policy).toMatchObject({ minAgeDays: 0, minLength: 15, historyLength: 5, minClasses: 3 });
    expect(policy.sources[0]).toBe('fine-grained password policy Admins (precedence 10): ComplexityEnabled true');
  });

  it('says when PSOs could not be read, and refuses a policy without its fields', () => {
    const d = { ComplexityEnabled: false, MinPasswordAge: '00:00:00', MinPasswordLength: 12, PasswordHistoryCount: 0 };
    const policy = policyFromAdPolicies({ default: d, psos: [], psoError: 'The requested operation is not supported' });
    expect(policy).toMatchObject({ minAgeDays: 0, minLength: 12, minClasses: 1, rejectsAccountName: false });
    expect(policy.sources.at(-1)).toBe('fine-grained password policies not read: The requested operation is not supported');
    expect(() => policyFromAdPolicies({ default: { ...d, MinPasswordLength: '12' }, psos: [] })).toThrow(/unexpected MinPasswordLength/);
    expect(() => policyFromAdPolicies({ psos: [] })).toThrow(/returned nothing/);
  });

  it('reads TimeSpans as ConvertTo-Json writes them, and as d.hh:mm:ss strings; an hour is not zero days', () => {
    expect(timeSpanDays({ Ticks: 864000000000, Days: 1, TotalDays: 1 })).toBe(1);
    expect(timeSpanDays({ Ticks: 36000000000 })).toBeCloseTo(1 / 24);
    expect(timeSpanDays('1.00:00:00')).toBe(1);
    expect(timeSpanDays('00:00:00')).toBe(0);
    expect(timeSpanDays('soon')).toBeNull();
    expect(timeSpanDays(3)).toBeNull();
  });

  it('finds the groups by RID 512/513 under the domain SID, not by name', () => {
    expect(ad.AD_POLICY_SCRIPT).toContain("@('-512', '-513')");
    expect(ad.AD_POLICY_SCRIPT).not.toContain("'Domain Admins'");
  });
});

describe('lookup', () => {
  it('maps the domain account: SamAccountName, SID, DisplayName, marker in Description, Domain Admins (recursive)', async () => {
    expect(await backend(transcript('ad-lookup-managed.txt')).lookup('NOC_HelpDesk')).toEqual({
      name: 'NOC_HelpDesk',
      id: 'S-1-5-21-1004336348-1177238915-682003330-1105',
      fullName: 'NOC HelpDesk',
      managedBySteward: true,
      admin: true,
      enabled: true,
    });
    expect(ad.AD_LOOKUP_SCRIPT).toContain("$da = (Get-ADDomain).DomainSID.Value + '-512'");
    expect(ad.AD_LOOKUP_SCRIPT).toContain('Get-ADGroupMember -Identity $da -Recursive');
  });

  it('null when the domain has no such user', async () => {
    expect(await backend(transcript('ad-lookup-missing.txt')).lookup('NOC_HelpDesk')).toBeNull();
  });

  it('tool_missing when the ActiveDirectory module is not installed', async () => {
    await expect(backend(transcript('ad-lookup-module-missing.txt')).lookup('NOC_HelpDesk')).rejects.toMatchObject({
      code: 'tool_missing',
      message: expect.stringContaining("The specified module 'ActiveDirectory' was not loaded"),
    });
  });
});

describe('create', () => {
  const spec = { name: 'NOC_HelpDesk', fullName: 'NOC HelpDesk' };

  it('creates the user with the marker and adds it to Domain Admins; the password only on stdin', async () => {
    const state = await backend(transcript('ad-create.txt')).create(spec, PASSWORD);
    expect(state).toEqual({ name: 'NOC_HelpDesk', id: 'S-1-5-21-1004336348-1177238915-682003330-1106', fullName: 'NOC HelpDesk', managedBySteward: true, admin: true, enabled: true });
    const [script, params, pw, end] = stdinLines(0);
    expect(script).toBe(ad.AD_CREATE_SCRIPT);
    expect(JSON.parse(Buffer.from(params, 'base64').toString())).toEqual({ name: 'NOC_HelpDesk', fullName: 'NOC HelpDesk', description: 'Managed by Steward' });
    expect(Buffer.from(pw, 'base64').toString()).toBe(PASSWORD);
    expect(end).toBe('');
    expect(ad.AD_CREATE_SCRIPT).toContain('Add-ADGroupMember -Identity $da -Members $u');
    expect(ad.AD_CREATE_SCRIPT).toContain('-AccountPassword $sec');
  });

  it('policy_refused with ADPasswordComplexityException, and the half-made user is removed by the script', async () => {
    await expect(backend(transcript('ad-create-policy-refused.txt')).create(spec, PASSWORD)).rejects.toMatchObject({
      code: 'policy_refused',
      message: expect.stringContaining('does not meet the length, complexity, or history requirement of the domain'),
    });
    expect(ad.AD_CREATE_SCRIPT).toMatch(/ADIdentityAlreadyExistsException\]\)\) \{ try \{ Remove-ADUser -Identity \$p\.name -Confirm:\$false \}/);
  });
});

describe('setPassword, ensureAdmin, verifyPassword, disable, remove, serviceAccounts', () => {
  it('setPassword resets with -Reset -NewPassword $sec', async () => {
    await backend(transcript('ad-set-password.txt')).setPassword('NOC_HelpDesk', PASSWORD);
    expect(Buffer.from(stdinLines(0)[2], 'base64').toString()).toBe(PASSWORD);
  });

  it('setPassword: policy_refused and not_found', async () => {
    await expect(backend(transcript('ad-set-password-refused.txt')).setPassword('NOC_HelpDesk', PASSWORD)).rejects.toMatchObject({ code: 'policy_refused' });
    await expect(backend(transcript('ad-set-password-not-found.txt')).setPassword('NOC_HelpDesk', PASSWORD)).rejects.toMatchObject({
      code: 'not_found',
      message: expect.stringContaining("Cannot find an object with identity: 'NOC_HelpDesk'"),
    });
  });

  it('ensureAdmin adds to Domain Admins by SID', async () => {
    await backend(transcript('ad-ensure-admin-added.txt')).ensureAdmin('NOC_HelpDesk');
    expect(ad.AD_ENSURE_ADMIN_SCRIPT).toContain('Add-ADGroupMember -Identity $da -Members $u');
  });

  it('verifyPassword binds against the domain', async () => {
    expect(await backend(transcript('ad-verify-valid.txt')).verifyPassword('NOC_HelpDesk', PASSWORD)).toBe(true);
    expect(await backend(transcript('ad-verify-invalid.txt')).verifyPassword('NOC_HelpDesk', PASSWORD)).toBe(false);
    expect(ad.AD_VERIFY_SCRIPT).toContain('ContextType]::Domain');
  });

  it('disable and remove', async () => {
    await backend(transcript('ad-disable.txt')).disable('NOC_HelpDesk');
    await backend(transcript('ad-remove.txt')).remove('NOC_HelpDesk');
  });

  it('serviceAccounts on the DC: a service running as the domain NOC account is reported by bare name', async () => {
    expect(await backend(transcript('ad-service-accounts.txt')).serviceAccounts()).toEqual([{ account: 'NOC_HelpDesk', kind: 'service', name: 'ContosoSync' }]);
  });
});
