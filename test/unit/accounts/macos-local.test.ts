import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MacosLocalAccounts, parseDsclRead } from '../../../agent/accounts/macos-local.ts';
import { policyFromAccountPolicies } from '../../../agent/accounts/macos-password-policy.ts';
import { StdinTranscriptRunner, answer, loadStdinTranscript, type StdinScripted } from '../../helpers/stdin-transcript-runner.ts';

// Contract tests: transcripts carry the exact argv (and, for dscl's interactive mode, the first stdin line) and
// output shaped after Apple's man pages. We cannot run macOS here.
const dir = path.resolve(import.meta.dirname, '../../fixtures/accounts/macos');
const FAKE_ROOT = path.join(dir, 'root');
const PASSWORD = 'Wq4-mZ8{Lp2}xT7~vN';
const transcript = (name: string) => loadStdinTranscript(path.join(dir, name), { password: PASSWORD });
/** launchd transcripts name the real /Library path; the backend reads the fixture tree instead. */
const underRoot = (t: StdinScripted): StdinScripted => ({ ...t, argv: t.argv.map((a) => (a.startsWith('/Library/') ? path.join(FAKE_ROOT, a) : a)) });

let runner: StdinTranscriptRunner;
function backend(...scripted: StdinScripted[]) {
  runner = new StdinTranscriptRunner(scripted);
  return new MacosLocalAccounts(runner.run, { root: FAKE_ROOT });
}
afterEach(() => {
  expect(runner.unexpected).toEqual([]);
  expect(runner.uncalled()).toEqual([]);
  // No macOS tool is given the password in argv: every password-bearing command goes to dscl's stdin.
  expect(runner.allArgv().join(' ')).not.toContain(PASSWORD);
});

const spec = { name: 'Remote Support', fullName: 'Remote Support' };

describe('readPolicy (pwpolicy -getaccountpolicies → plutil JSON)', () => {
  it("macOS's default: four characters or empty, no classes, no history, no minimum age", async () => {
    const policy = await backend(transcript('pwpolicy-default.txt'), transcript('plutil-pwpolicy-default.txt')).readPolicy();
    expect(policy).toEqual({
      minAgeDays: 0,
      minLength: 4,
      maxLength: null,
      minClasses: 0,
      requiredClasses: [],
      rejectsAccountName: false,
      historyLength: 0,
      sources: [
        'macOS account policies have no minimum password age (pwpolicy(8) has none)',
        "pwpolicy com.apple.defaultpasswordpolicy.fde: policyAttributePassword matches '^$|.{4,}+'",
      ],
    });
    // plutil got the plist without pwpolicy's "Getting global account policies" line.
    expect(runner.calls[1].input?.startsWith('<?xml')).toBe(true);
  });

  it('compliance rules: length 15, digit, symbol, mixed case, history 5', async () => {
    const policy = await backend(transcript('pwpolicy-mscp.txt'), transcript('plutil-pwpolicy-mscp.txt')).readPolicy();
    expect(policy).toMatchObject({
      minAgeDays: 0,
      minLength: 15,
      maxLength: null,
      requiredClasses: ['lower', 'upper', 'digit', 'symbol'],
      minClasses: 4,
      historyLength: 5,
    });
    expect(policy.sources).toHaveLength(6);
  });

  it('a content rule it cannot read is taken as requiring every class, and says so', () => {
    const policy = policyFromAccountPolicies({
      policyCategoryPasswordContent: [
        { policyContent: "policyAttributePassword matches '.{8,64}'", policyIdentifier: 'len' },
        { policyContent: "policyAttributePassword matches '^[^0-9].*'", policyIdentifier: 'no leading digit' },
      ],
    });
    expect(policy).toMatchObject({ minLength: 8, maxLength: 64, requiredClasses: ['lower', 'upper', 'digit', 'symbol'] });
    expect(policy.sources.at(-1)).toMatch(/no leading digit.*not understood/);
  });

  it('no policies at all (an empty plist) means no rules', () => {
    expect(policyFromAccountPolicies({})).toMatchObject({ minLength: 0, requiredClasses: [], historyLength: 0 });
  });

  it('tool_missing when pwpolicy is absent', async () => {
    await expect(backend(answer(['pwpolicy', '-getaccountpolicies'], null, '', null, 'ENOENT pwpolicy: spawn pwpolicy ENOENT')).readPolicy()).rejects.toMatchObject({
      code: 'tool_missing',
    });
  });
});

describe('lookup', () => {
  it('our account: uid as id, RealName, marker in Comment, admin by dseditgroup checkmember, enabled', async () => {
    const b = backend(transcript('dscl-read-managed.txt'), transcript('dseditgroup-checkmember-yes.txt'));
    expect(await b.lookup('Remote Support')).toEqual({
      name: 'Remote Support',
      id: '503',
      fullName: 'Remote Support',
      managedBySteward: true,
      admin: true,
      enabled: true,
    });
  });

  it('an account of that name without the marker is not ours; "no" from checkmember is not admin', async () => {
    const b = backend(transcript('dscl-read-foreign.txt'), transcript('dseditgroup-checkmember-no.txt'));
    expect(await b.lookup('Remote Support')).toMatchObject({ managedBySteward: false, admin: false, id: '502' });
  });

  it('a ;DisabledUser; authentication authority means disabled', async () => {
    const b = backend(transcript('dscl-read-disabled.txt'), transcript('dseditgroup-checkmember-yes.txt'));
    expect(await b.lookup('Remote Support')).toMatchObject({ enabled: false });
  });

  it('null on eDSRecordNotFound', async () => {
    expect(await backend(transcript('dscl-read-missing.txt')).lookup('Remote Support')).toBeNull();
  });

  it('tool_missing when dscl is absent', async () => {
    const t = transcript('dscl-read-missing.txt');
    await expect(backend({ ...t, result: { code: null, stdout: '', stderr: 'ENOENT dscl: spawn dscl ENOENT' } }).lookup('Remote Support')).rejects.toMatchObject({
      code: 'tool_missing',
    });
  });

  it('parses dscl read output: single-line lists, indented multi-value lists, "No such key"', () => {
    const attrs = parseDsclRead('RecordName: alice ally\nNo such key: Comment\nRealName:\n Alice Liddell\nUniqueID: 501\n');
    expect(Object.fromEntries(attrs)).toEqual({ RecordName: ['alice', 'ally'], RealName: ['Alice Liddell'], UniqueID: ['501'] });
  });
});

describe('create', () => {
  const flow = () => [
    transcript('dscl-read-missing.txt'),
    transcript('dscl-list-uniqueid.txt'),
    transcript('dscl-create-record.txt'),
    transcript('dscl-passwd.txt'),
    transcript('dseditgroup-add-admin.txt'),
    transcript('createhomedir.txt'),
    transcript('dscl-read-managed.txt'),
    transcript('dseditgroup-checkmember-yes.txt'),
  ];

  it('builds the record through dscl on stdin, sets the password on stdin, adds admin, makes the home folder', async () => {
    const state = await backend(...flow()).create(spec, PASSWORD);
    expect(state).toMatchObject({ name: 'Remote Support', id: '503', managedBySteward: true, admin: true, enabled: true });
    const create = runner.calls.find((c) => c.input?.startsWith('create '));
    expect(create?.argv).toEqual(['dscl', '-q', '.']);
    expect(create?.input).toBe(
      [
        'create "/Users/Remote Support"',
        'create "/Users/Remote Support" RealName "Remote Support"',
        'create "/Users/Remote Support" UniqueID 503',
        'create "/Users/Remote Support" PrimaryGroupID 20',
        'create "/Users/Remote Support" UserShell /bin/zsh',
        'create "/Users/Remote Support" NFSHomeDirectory "/Users/Remote Support"',
        'create "/Users/Remote Support" Comment "Managed by Steward"',
        'create "/Users/Remote Support" Password "*"',
        'quit',
        '',
      ].join('\n'),
    );
    const passwd = runner.calls.find((c) => c.input?.startsWith('passwd '));
    expect(passwd?.input).toBe(`passwd "/Users/Remote Support" "${PASSWORD}"\nquit\n`);
    // The order matters: the password is set before the account becomes an administrator.
    const order = runner.calls.map((c) => c.input?.split(' ')[0] ?? c.argv[0]);
    expect(order).toEqual(['dscl', 'dscl', 'create', 'passwd', 'dseditgroup', 'createhomedir', 'dscl', 'dseditgroup']);
  });

  it('policy_refused when dscl passwd reports eDSAuthPasswordQualityCheckFailed, and the record is deleted again', async () => {
    const b = backend(
      transcript('dscl-read-missing.txt'),
      transcript('dscl-list-uniqueid.txt'),
      transcript('dscl-create-record.txt'),
      transcript('dscl-passwd-quality.txt'),
      transcript('dscl-delete.txt'),
    );
    const err = (await b.create(spec, PASSWORD).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ code: 'policy_refused', message: 'create Remote Support: dscl eDSAuthPasswordQualityCheckFailed' });
    expect(runner.calls.at(-1)?.argv).toEqual(['dscl', '.', '-delete', '/Users/Remote Support']);
  });

  it('exists when the name is taken', async () => {
    const b = backend(transcript('dscl-read-foreign.txt'), transcript('dseditgroup-checkmember-no.txt'));
    await expect(b.create(spec, PASSWORD)).rejects.toMatchObject({ code: 'exists' });
  });

  it('refuses a password dscl interactive mode could mangle (" or \\) before running anything', async () => {
    await expect(backend().create(spec, 'abc"def-12345')).rejects.toMatchObject({ code: 'unsupported' });
    await expect(backend().setPassword('Remote Support', 'abc\\def-12345')).rejects.toMatchObject({ code: 'unsupported' });
    expect(runner.calls).toHaveLength(0);
  });
});

describe('setPassword and verifyPassword (dscl interactive mode: the password only on stdin)', () => {
  it('setPassword: passwd on stdin, silent success', async () => {
    await backend(transcript('dscl-passwd.txt')).setPassword('Remote Support', PASSWORD);
    expect(runner.calls[0].argv).toEqual(['dscl', '-q', '.']);
    expect(runner.calls[0].input).toBe(`passwd "/Users/Remote Support" "${PASSWORD}"\nquit\n`);
  });

  it('setPassword: policy_refused, the error names the DS error and never the password', async () => {
    const err = (await backend(transcript('dscl-passwd-quality.txt')).setPassword('Remote Support', PASSWORD).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ code: 'policy_refused' });
    expect(err.message).not.toContain(PASSWORD);
  });

  it('setPassword: unexpected output is a failure that does not quote the session', async () => {
    const t = transcript('dscl-passwd.txt');
    const odd = { ...t, result: { code: 0, stdout: `Unrecognized command: "${PASSWORD}"\n`, stderr: '' } };
    const err = (await backend(odd).setPassword('Remote Support', PASSWORD).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ code: 'tool_failed' });
    expect(err.message).not.toContain(PASSWORD);
  });

  it('verifyPassword: silent authonly is true, eDSAuthFailed is false', async () => {
    expect(await backend(transcript('dscl-authonly-ok.txt')).verifyPassword('Remote Support', PASSWORD)).toBe(true);
    expect(runner.calls[0].input).toBe(`authonly "Remote Support" "${PASSWORD}"\nquit\n`);
    expect(await backend(transcript('dscl-authonly-failed.txt')).verifyPassword('Remote Support', PASSWORD)).toBe(false);
  });

  it('verifyPassword: an unknown user is not_found, not false', async () => {
    const t = transcript('dscl-authonly-ok.txt');
    const unknown = { ...t, result: { code: 0, stdout: '<dscl_cmd> DS Error: -14136 (eDSRecordNotFound)\n', stderr: '' } };
    await expect(backend(unknown).verifyPassword('Remote Support', PASSWORD)).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('ensureAdmin, disable, remove', () => {
  it('ensureAdmin adds only when checkmember says no', async () => {
    await backend(transcript('dseditgroup-checkmember-no.txt'), transcript('dseditgroup-add-admin.txt')).ensureAdmin('Remote Support');
    expect(runner.calls).toHaveLength(2);
    await backend(transcript('dseditgroup-checkmember-yes.txt')).ensureAdmin('Remote Support');
    expect(runner.calls).toHaveLength(1);
  });

  it('disable appends ;DisabledUser;, once', async () => {
    await backend(transcript('dscl-read-managed.txt'), transcript('dseditgroup-checkmember-yes.txt'), transcript('dscl-disable.txt')).disable('Remote Support');
    await backend(transcript('dscl-read-disabled.txt'), transcript('dseditgroup-checkmember-yes.txt')).disable('Remote Support');
    expect(runner.calls).toHaveLength(2);
  });

  it('remove leaves admin first, then deletes the record; not_found for an unknown account', async () => {
    await backend(
      transcript('dscl-read-managed.txt'),
      transcript('dseditgroup-checkmember-yes.txt'),
      transcript('dseditgroup-remove-admin.txt'),
      transcript('dscl-delete.txt'),
    ).remove('Remote Support');
    expect(runner.calls.slice(-2).map((c) => c.argv[0])).toEqual(['dseditgroup', 'dscl']);
    await expect(backend(transcript('dscl-read-missing.txt')).remove('Remote Support')).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('serviceAccounts (launchd daemons)', () => {
  it("reads each daemon plist's UserName through plutil; root daemons and unreadable plists add nothing", async () => {
    const b = backend(
      underRoot(transcript('plutil-launchd-backup.txt')),
      underRoot(transcript('plutil-launchd-root.txt')),
      underRoot(transcript('plutil-launchd-broken.txt')),
    );
    expect(await b.serviceAccounts()).toEqual([{ account: 'backupagent', kind: 'launchd_job', name: 'com.contoso.backup' }]);
    // README.txt in the folder is not a plist and is not read.
    expect(runner.calls).toHaveLength(3);
  });
});
