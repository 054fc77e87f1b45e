import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WindowsInventoryExtras } from '../../../agent/inventory/extras-windows.ts';
import { parseLogonTime } from '../../../agent/inventory/windows-quser.ts';
import { TranscriptRunner, loadTranscript, missing, type Scripted } from '../../helpers/transcript-runner.ts';

// Contract tests: the transcripts carry the exact argv the agent must run and output shaped after Microsoft's docs.
const dir = path.resolve(import.meta.dirname, '../../fixtures/inventory/windows');
const transcript = (name: string) => loadTranscript(path.join(dir, name));

let runner: TranscriptRunner;
function extras(...scripted: Scripted[]) {
  runner = new TranscriptRunner(scripted);
  return new WindowsInventoryExtras(runner.run);
}
afterEach(() => {
  expect(runner.unexpected).toEqual([]);
});

describe('installed software (registry uninstall keys)', () => {
  it('reads name, version and publisher, trims them, and drops the HKCU / HKEY_USERS duplicate', async () => {
    const software = await extras(transcript('software.txt')).software();
    expect(software).toHaveLength(5);
    expect(software[0]).toEqual({ name: '7-Zip 23.01 (x64)', version: '23.01', publisher: 'Igor Pavlov', source: 'registry' });
    expect(software.find((s) => s.name.startsWith('Contoso'))).toEqual({
      name: 'Contoso Line-of-Business App',
      version: null,
      publisher: 'Contoso Ltd.',
      source: 'registry',
    });
    expect(software.filter((s) => s.name === 'Zoom Workplace')).toHaveLength(1);
  });

  it('runs PowerShell with -NoProfile -NonInteractive and the uninstall keys of all three hives', async () => {
    await extras(transcript('software.txt')).software();
    const [file, ...args] = runner.calls[0];
    expect(file).toBe('powershell.exe');
    expect(args.slice(0, 3)).toEqual(['-NoProfile', '-NonInteractive', '-Command']);
    for (const hive of ['HKLM:\\SOFTWARE\\Microsoft', 'HKLM:\\SOFTWARE\\WOW6432Node', 'HKCU:\\SOFTWARE', 'HKEY_USERS']) {
      expect(args[3]).toContain(hive);
    }
  });

  it('turns a PowerShell failure into an error, not an empty list', async () => {
    const failing = { ...transcript('software.txt'), result: { code: 1, stdout: '', stderr: 'Access is denied.\r\n' } };
    await expect(extras(failing).software()).rejects.toThrow(/powershell exited 1: Access is denied/);
  });
});

describe('local accounts', () => {
  it('maps Get-LocalUser and Administrators membership by SID', async () => {
    const accounts = await extras(transcript('accounts.txt')).localAccounts();
    const byName = new Map(accounts.map((a) => [a.name, a]));
    expect(accounts).toHaveLength(7);
    expect(byName.get('Administrator')).toEqual({
      name: 'Administrator',
      fullName: null,
      uid: 'S-1-5-21-9526073513-1762370368-3942940353-500',
      isAdmin: true,
      disabled: true,
    });
    expect(byName.get('LocalAdmin')).toMatchObject({ isAdmin: true, disabled: false, fullName: 'Local Admin' });
    expect(byName.get('AdminContoso02')).toMatchObject({ isAdmin: false, disabled: false });
    expect(byName.get('Remote Support')).toMatchObject({ isAdmin: false, disabled: false });
    expect(accounts.filter((a) => a.isAdmin).map((a) => a.name).sort()).toEqual(['Administrator', 'LocalAdmin']);
  });
});

describe('system facts: kind, domain role, FQDN, build', () => {
  it('domain-joined workstation: desktop, member, AD FQDN, build with UBR — from one PowerShell run', async () => {
    const x = extras(transcript('system-member-workstation.txt'));
    expect(await x.machineKind()).toBe('desktop');
    expect(await x.domainRole()).toEqual({ role: 'member', domain: 'corp.contoso.com' });
    expect(await x.fqdn()).toBe('contosopc.corp.contoso.com');
    expect(await x.build()).toBe('19045.3803');
    expect(runner.calls).toHaveLength(1);
  });

  it('domain controller: server, domain_controller', async () => {
    const x = extras(transcript('system-domain-controller.txt'));
    expect(await x.machineKind()).toBe('server');
    expect(await x.domainRole()).toEqual({ role: 'domain_controller', domain: 'corp.contoso.com' });
    expect(await x.build()).toBe('20348.2227');
  });

  it('workgroup server: server, standalone, no domain, the workgroup name is not a DNS suffix', async () => {
    const x = extras(transcript('system-standalone-server.txt'));
    expect(await x.machineKind()).toBe('server');
    expect(await x.domainRole()).toEqual({ role: 'standalone', domain: null });
    expect(await x.fqdn()).toBe('FILESRV01');
    expect(await x.build()).toBe('17763');
  });

  it('rejects a ProductType or DomainRole outside the documented values instead of guessing', async () => {
    const t = transcript('system-member-workstation.txt');
    const odd = { ...t, result: { ...t.result, stdout: '{"ProductType":7,"DomainRole":9,"BuildNumber":"1"}' } };
    const x = extras(odd);
    await expect(x.machineKind()).rejects.toThrow(/ProductType 7/);
    await expect(x.domainRole()).rejects.toThrow(/DomainRole 9/);
  });
});

describe('logged-in users', () => {
  it('parses quser columns, including a name with a space and a disconnected session without a session name', async () => {
    const users = await extras(transcript('quser.txt')).loggedInUsers();
    expect(users).toEqual([
      { name: 'jsmith', terminal: 'console', host: null, since: new Date(2023, 9, 17, 8, 41).toISOString() },
      { name: 'Remote Support', terminal: 'rdp-tcp#3', host: null, since: new Date(2023, 9, 17, 9, 2).toISOString() },
      { name: 'adoe', terminal: null, host: null, since: new Date(2023, 9, 16, 17, 47).toISOString() },
    ]);
  });

  it('treats quser exit 1 with no output as no sessions', async () => {
    expect(await extras(transcript('quser-no-sessions.txt')).loggedInUsers()).toEqual([]);
  });

  it('falls back to the console user where quser does not exist (Windows Home)', async () => {
    const users = await extras(missing(['quser.exe']), transcript('console-user.txt')).loggedInUsers();
    expect(users).toEqual([{ name: 'CONTOSOPC\\jsmith', terminal: 'console', host: null, since: null }]);
  });

  it('only converts logon times whose date order is unambiguous', () => {
    expect(parseLogonTime('2023-10-17 08:41')).toBe(new Date(2023, 9, 17, 8, 41).toISOString());
    expect(parseLogonTime('10/17/2023 12:05 AM')).toBe(new Date(2023, 9, 17, 0, 5).toISOString());
    expect(parseLogonTime('05/06/2023 14:10')).toBeNull(); // en-GB or en-US? Unknown, so not a guess.
    expect(parseLogonTime('17.10.2023 08:41')).toBeNull();
    expect(parseLogonTime('02/30/2023 9:00 AM')).toBeNull();
  });
});
