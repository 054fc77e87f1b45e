import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AccountBackendError } from '../../../agent/accounts/account-backend.ts';
import * as ad from '../../../agent/accounts/windows-ad.ts';
import * as local from '../../../agent/accounts/windows-local.ts';
import { WindowsLocalAccounts, policyFromSeceditInf } from '../../../agent/accounts/windows-local.ts';
import { POWERSHELL_ARGS, SERVICE_ACCOUNTS_SCRIPT, classifyScriptError } from '../../../agent/accounts/windows-powershell.ts';
import { StdinTranscriptRunner, loadStdinTranscript, type StdinScripted } from '../../helpers/stdin-transcript-runner.ts';

// Contract tests: each transcript pins the exact argv, the exact script (first stdin line) and output shaped after
// Microsoft's documentation. We cannot run Windows here.
const dir = path.resolve(import.meta.dirname, '../../fixtures/accounts/windows');
const transcript = (name: string) => loadStdinTranscript(path.join(dir, name));
const PASSWORD = 'Tr0ub4dor&3-correct-Horse';
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

let runner: StdinTranscriptRunner;
function backend(...scripted: StdinScripted[]) {
  runner = new StdinTranscriptRunner(scripted);
  return new WindowsLocalAccounts(runner.run);
}
afterEach(() => {
  expect(runner.unexpected).toEqual([]);
  expect(runner.uncalled()).toEqual([]);
  // Whatever ran, the password was never on a command line.
  expect(runner.allArgv().join(' ')).not.toContain(PASSWORD);
  expect(runner.allArgv().join(' ')).not.toContain(b64(PASSWORD));
});

/** stdin of one call: [script, parameters (decoded), password line (decoded) or undefined]. */
function stdinOf(call: number) {
  const lines = (runner.calls[call].input ?? '').split('\n');
  expect(lines.at(-1)).toBe('');
  return {
    script: lines[0],
    params: JSON.parse(Buffer.from(lines[1], 'base64').toString('utf8')) as Record<string, string>,
    password: lines.length === 4 ? Buffer.from(lines[2], 'base64').toString('utf8') : undefined,
    lineCount: lines.length - 1,
  };
}

describe('how PowerShell is called', () => {
  it('always the same argv: -Command - with the script on stdin, never -EncodedCommand or the script in argv', async () => {
    await backend(transcript('local-lookup-managed.txt')).lookup('Remote Support');
    expect(runner.calls[0].argv).toEqual(['powershell.exe', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command', '-']);
    expect(POWERSHELL_ARGS).toEqual(runner.calls[0].argv.slice(1));
    const stdin = stdinOf(0);
    expect(stdin.script).toBe(local.LOCAL_LOOKUP_SCRIPT);
    expect(stdin.params).toEqual({ name: 'Remote Support' });
    expect(stdin.lineCount).toBe(2);
  });

  it('sends the password as a third stdin line (base64 UTF-8), never in the script text', async () => {
    await backend(transcript('local-set-password.txt')).setPassword('NOC_HelpDesk', PASSWORD);
    const stdin = stdinOf(0);
    expect(stdin.password).toBe(PASSWORD);
    expect(stdin.script).not.toContain(PASSWORD);
    expect(stdin.params).toEqual({ name: 'NOC_HelpDesk' });
    expect(stdin.lineCount).toBe(3);
  });

  it('keeps non-ASCII passwords intact through the console code page (base64)', async () => {
    await backend(transcript('local-set-password.txt')).setPassword('NOC_HelpDesk', 'Pässwörd-€-12345');
    expect(stdinOf(0).password).toBe('Pässwörd-€-12345');
    expect((runner.calls[0].input ?? '').split('\n')[2]).toMatch(/^[A-Za-z0-9+/=]+$/);
  });

  const scripts = Object.entries({ ...local, ...ad, SERVICE_ACCOUNTS_SCRIPT }).filter(([k, v]) => k.endsWith('_SCRIPT') && typeof v === 'string') as [string, string][];

  it.each(scripts)('%s is one line with balanced brackets and quotes (a multi-line or unfinished script would swallow the data lines)', (_name, script) => {
    expect(script).not.toMatch(/[\r\n]/);
    expect(balanced(script)).toBe(true);
    // '#' outside a string would comment out the rest of the one line.
    expect(stripStrings(script)).not.toContain('#');
  });

  it('the password-reading scripts bind only the SecureString to cmdlets, never ConvertTo-SecureString -AsPlainText', () => {
    for (const [, script] of scripts) {
      expect(script).not.toMatch(/AsPlainText/);
      if (script.includes('$pw')) expect(script).toMatch(/\$sec\.AppendChar\(\$c\)/);
    }
  });
});

describe('readPolicy (secedit /export /mergedpolicy)', () => {
  it('a stand-alone machine with defaults: minimum age 0, no length, no complexity, no history', async () => {
    expect(await backend(transcript('local-policy-default.txt')).readPolicy()).toEqual({
      minAgeDays: 0,
      minLength: 0,
      maxLength: null,
      minClasses: 1,
      requiredClasses: [],
      rejectsAccountName: false,
      historyLength: 0,
      sources: [
        'secedit /export /mergedpolicy: PasswordComplexity = 0',
        'secedit /export /mergedpolicy: MinimumPasswordAge = 0',
        'secedit /export /mergedpolicy: MinimumPasswordLength = 0',
        'secedit /export /mergedpolicy: PasswordHistorySize = 0',
      ],
    });
  });

  it('a hardened server (UTF-16 export with BOM): age 1, length 14, complexity = 3 classes and not the name, history 24', async () => {
    const policy = await backend(transcript('local-policy-hardened.txt')).readPolicy();
    expect(policy).toMatchObject({ minAgeDays: 1, minLength: 14, minClasses: 3, rejectsAccountName: true, historyLength: 24 });
  });

  it('refuses to guess when a key is missing from [System Access]', () => {
    expect(() => policyFromSeceditInf('[System Access]\r\nMinimumPasswordAge = 0\r\n[Event Audit]\r\nMinimumPasswordLength = 8\r\n')).toThrow(
      /no numeric PasswordComplexity/,
    );
  });
});

describe('lookup', () => {
  it('maps our account: SID as id, marker in Description, admin by S-1-5-32-544 membership', async () => {
    expect(await backend(transcript('local-lookup-managed.txt')).lookup('Remote Support')).toEqual({
      name: 'Remote Support',
      id: 'S-1-5-21-9526073513-1762370368-3942940353-1003',
      fullName: 'Remote Support',
      managedBySteward: true,
      admin: true,
      enabled: true,
    });
  });

  it('an account of the same name without the marker is not ours', async () => {
    expect(await backend(transcript('local-lookup-foreign.txt')).lookup('Remote Support')).toMatchObject({ managedBySteward: false, admin: false });
  });

  it('returns null when there is no such account', async () => {
    expect(await backend(transcript('local-lookup-missing.txt')).lookup('Remote Support')).toBeNull();
  });

  it('the script looks Administrators up by SID, never by its (localized) name', () => {
    expect(local.LOCAL_LOOKUP_SCRIPT).toContain("-SID 'S-1-5-32-544'");
    expect(local.LOCAL_LOOKUP_SCRIPT).not.toMatch(/-(Group|Name) 'Administrators'/);
  });

  it('tool_missing when the LocalAccounts cmdlets are absent (32-bit PowerShell on 64-bit Windows)', async () => {
    await expect(backend(transcript('local-lookup-cmdlets-missing.txt')).lookup('Remote Support')).rejects.toMatchObject({ code: 'tool_missing' });
  });

  it('tool_missing when powershell.exe itself is missing', async () => {
    const t = transcript('local-lookup-managed.txt');
    const err = await backend({ ...t, result: { code: null, stdout: '', stderr: 'ENOENT powershell.exe: spawn powershell.exe ENOENT' } })
      .lookup('Remote Support')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccountBackendError);
    expect(err).toMatchObject({ code: 'tool_missing' });
  });

  it('rejects output that is not the documented shape instead of guessing', async () => {
    const t = transcript('local-lookup-managed.txt');
    await expect(backend({ ...t, result: { code: 0, stdout: '{"found":true,"name":"Remote Support"}\r\n', stderr: '' } }).lookup('Remote Support')).rejects.toThrow(
      /lacks name, sid, enabled or admin/,
    );
  });

  it('a non-zero exit with no JSON is a failure carrying the first stderr line', async () => {
    const t = transcript('local-lookup-managed.txt');
    await expect(backend({ ...t, result: { code: 1, stdout: '', stderr: 'Access is denied.\r\nAt line:1 char:1\r\n' } }).lookup('Remote Support')).rejects.toMatchObject({
      code: 'tool_failed',
      message: expect.stringContaining('Access is denied.'),
    });
  });
});

describe('create', () => {
  const spec = { name: 'Remote Support', fullName: 'Remote Support' };

  it('creates with the marker, the full name and the password on stdin, and reports it as an administrator', async () => {
    const state = await backend(transcript('local-create.txt')).create(spec, PASSWORD);
    expect(state).toEqual({ name: 'Remote Support', id: 'S-1-5-21-9526073513-1762370368-3942940353-1005', fullName: 'Remote Support', managedBySteward: true, admin: true, enabled: true });
    const stdin = stdinOf(0);
    expect(stdin.params).toEqual({ name: 'Remote Support', fullName: 'Remote Support', description: 'Managed by Steward' });
    expect(stdin.password).toBe(PASSWORD);
    expect(local.LOCAL_CREATE_SCRIPT).toContain("Add-LocalGroupMember -SID 'S-1-5-32-544' -Member $u");
  });

  it('policy_refused with the documented InvalidPasswordException', async () => {
    await expect(backend(transcript('local-create-policy-refused.txt')).create(spec, PASSWORD)).rejects.toMatchObject({
      code: 'policy_refused',
      message: expect.stringContaining('does not meet the length, complexity, or history requirements'),
    });
  });

  it('rolls the half-made account back when a step after New-LocalUser fails (PowerShell#3242)', () => {
    expect(local.LOCAL_CREATE_SCRIPT).toMatch(/catch \{ \$failure = \$_; if \(\$failure\.FullyQualifiedErrorId -notlike 'UserExists\*'\) \{ try \{ Remove-LocalUser -Name \$p\.name \}/);
  });

  it('exists when the name is taken', async () => {
    await expect(backend(transcript('local-create-exists.txt')).create(spec, PASSWORD)).rejects.toMatchObject({ code: 'exists' });
  });

  it('refuses a name Windows would refuse before running anything', async () => {
    await expect(backend().create({ name: 'bad/name', fullName: 'x' }, PASSWORD)).rejects.toMatchObject({ code: 'unsupported' });
    expect(runner.calls).toHaveLength(0);
  });
});

describe('setPassword', () => {
  it('resolves on success', async () => {
    await expect(backend(transcript('local-set-password.txt')).setPassword('NOC_HelpDesk', PASSWORD)).resolves.toBeUndefined();
  });

  it('policy_refused on "The password does not meet the password policy requirements"', async () => {
    const err = await backend(transcript('local-set-password-refused.txt')).setPassword('NOC_HelpDesk', PASSWORD).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'policy_refused', message: expect.stringContaining('The password does not meet the password policy requirements') });
    expect((err as Error).message).not.toContain(PASSWORD);
  });

  it('not_found for an unknown account', async () => {
    await expect(backend(transcript('local-set-password-not-found.txt')).setPassword('NOC_HelpDesk', PASSWORD)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('never repeats the password in an error, even if PowerShell echoed it to stderr', async () => {
    const t = transcript('local-set-password.txt');
    const echoed = { ...t, result: { code: 1, stdout: '', stderr: `The term '${b64(PASSWORD)}' is not recognized (${PASSWORD})\r\n` } };
    const err = (await backend(echoed).setPassword('NOC_HelpDesk', PASSWORD).catch((e: unknown) => e)) as Error;
    expect(err.message).not.toContain(PASSWORD);
    expect(err.message).not.toContain(b64(PASSWORD));
    expect(err.message).toContain('[redacted]');
  });
});

describe('ensureAdmin, verifyPassword, disable, remove', () => {
  it('ensureAdmin adds to Administrators by SID', async () => {
    await backend(transcript('local-ensure-admin-added.txt')).ensureAdmin('Remote Support');
    expect(stdinOf(0).params).toEqual({ name: 'Remote Support' });
  });

  it('verifyPassword: ValidateCredentials against the machine, with the password on stdin only', async () => {
    expect(await backend(transcript('local-verify-valid.txt')).verifyPassword('Remote Support', PASSWORD)).toBe(true);
    expect(stdinOf(0).password).toBe(PASSWORD);
    expect(local.LOCAL_VERIFY_SCRIPT).toContain('ContextType]::Machine');
    expect(local.LOCAL_VERIFY_SCRIPT).toContain('$ctx.ValidateCredentials($u.Name, $pw)');
    expect(await backend(transcript('local-verify-invalid.txt')).verifyPassword('Remote Support', PASSWORD)).toBe(false);
  });

  it('verifyPassword fails rather than answering when the verdict is missing', async () => {
    const t = transcript('local-verify-valid.txt');
    await expect(backend({ ...t, result: { code: 0, stdout: '{"valid":"yes"}\r\n', stderr: '' } }).verifyPassword('Remote Support', PASSWORD)).rejects.toMatchObject({
      code: 'tool_failed',
    });
  });

  it('disable and remove', async () => {
    await backend(transcript('local-disable.txt')).disable('Remote Support');
    await backend(transcript('local-remove.txt')).remove('Remote Support');
    await expect(backend(transcript('local-remove-not-found.txt')).remove('Remote Support')).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('serviceAccounts', () => {
  it('services and scheduled tasks, built-in identities dropped, names reduced to the bare account', async () => {
    const uses = await backend(transcript('service-accounts.txt')).serviceAccounts();
    expect(uses).toEqual([
      { account: 'backupagent', kind: 'service', name: 'ContosoBackupAgent' },
      { account: 'svc_sync', kind: 'service', name: 'ContosoSync' },
      { account: 'svc_reports', kind: 'service', name: 'ContosoReports' },
      { account: 'NOC_HelpDesk', kind: 'scheduled_task', name: '\\Nightly export' },
      { account: 'svc_sync', kind: 'scheduled_task', name: '\\Contoso\\Cleanup' },
    ]);
  });
});

describe('error classification', () => {
  it('goes by exception type and error id, so a translated message still maps (German Windows)', () => {
    const german = { message: 'Das Kennwort entspricht nicht den Anforderungen der Kennwortrichtlinie.', hresult: -2146233088 };
    expect(classifyScriptError('x', { ...german, types: ['Microsoft.PowerShell.Commands.InvalidPasswordException'], id: 'InvalidPassword,Microsoft.PowerShell.Commands.SetLocalUserCommand' }).code).toBe('policy_refused');
    expect(classifyScriptError('x', { ...german, types: ['Microsoft.ActiveDirectory.Management.ADPasswordComplexityException'] }).code).toBe('policy_refused');
    expect(classifyScriptError('x', { message: 'Benutzer NOC_HelpDesk wurde nicht gefunden.', types: ['Microsoft.PowerShell.Commands.UserNotFoundException'] }).code).toBe('not_found');
    expect(classifyScriptError('x', { message: 'Der Benutzer ist bereits vorhanden.', types: ['Microsoft.PowerShell.Commands.UserExistsException'] }).code).toBe('exists');
  });

  it('recognises the policy refusal by HRESULT 0x800708C5 or by the documented text when the type is generic', () => {
    const byHresult = classifyScriptError('x', { message: 'Exception calling "Save"', types: ['System.Management.Automation.MethodInvocationException'], hresult: -2147022651 });
    expect(byHresult.code).toBe('policy_refused');
    const byText = classifyScriptError('x', {
      message: 'The password does not meet the password policy requirements. Check the minimum password length, password complexity and password history requirements.',
      types: ['System.DirectoryServices.AccountManagement.PasswordException'],
    });
    expect(byText.code).toBe('policy_refused');
    expect(classifyScriptError('x', { message: 'Access is denied.', types: ['System.UnauthorizedAccessException'], hresult: -2147024891 }).code).toBe('tool_failed');
  });
});

function stripStrings(script: string): string {
  return script.replace(/'[^']*'/g, "''").replace(/"[^"]*"/g, '""');
}

function balanced(script: string): boolean {
  const s = stripStrings(script);
  if ((script.match(/'/g) ?? []).length % 2 !== 0 || (script.match(/"/g) ?? []).length % 2 !== 0) return false;
  const stack: string[] = [];
  const pairs: Record<string, string> = { ')': '(', '}': '{', ']': '[' };
  for (const ch of s) {
    if ('({['.includes(ch)) stack.push(ch);
    else if (ch in pairs && stack.pop() !== pairs[ch]) return false;
  }
  return stack.length === 0;
}
