import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pty from 'node-pty';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AccountBackendError } from '../../agent/accounts/account-backend.ts';
import { SambaAdAccounts } from '../../agent/accounts/samba-ad.ts';
import { runCommand, type CommandRunner } from '../../agent/platform/run-command.ts';

// The samba-ad backend against real, throwaway Samba AD domains (provisioned once, then copied per test; no daemon).
// Every check reads the real directory database: a wrong option, output assumption or password path fails here.
const haveSamba = ['/usr/bin/samba-tool', '/usr/bin/setsid', '/usr/bin/python3'].every((f) => existsSync(f));
if (!haveSamba) console.warn('SKIPPED: samba-ad account backend tests: samba-tool/setsid/python3 missing (apt-get install samba)');

const NOC = { name: 'NOC_HelpDesk', fullName: 'NOC Help Desk' };
const FIRST = 'Steward-First-2024!a';
const SECOND = 'Pässwört-Zwei-2024#b'; // non-ASCII: proves the stdin encoding matches what the NT hash is made of

/** Every password a test hands to the backend or samba-tool; none may show up in any argv. */
const passwords = new Set<string>([FIRST, SECOND]);
const argvSeen: string[][] = [];
const recording: CommandRunner = (file, args, opts) => {
  argvSeen.push([file, ...args]);
  return runCommand(file, args, opts);
};

let root: string;
let template: string;
let copies = 0;

/** A private copy of the provisioned domain: cp -a, then point smb.conf's paths at the copy. */
async function freshDomain(): Promise<string> {
  const dir = path.join(root, `dc${++copies}`);
  const cp = await runCommand('cp', ['-a', template, dir]);
  expect(cp.code, cp.stderr).toBe(0);
  const conf = path.join(dir, 'etc/smb.conf');
  await writeFile(conf, (await readFile(conf, 'utf8')).split(template).join(dir));
  return conf;
}

async function sambaTool(smbConf: string, args: string[], input = ''): Promise<string> {
  const r = await recording('setsid', ['-w', 'samba-tool', ...args], { input, env: { ...process.env, LC_ALL: 'C', SMB_CONF_PATH: smbConf } });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

async function failure(promise: Promise<unknown>): Promise<AccountBackendError> {
  const err = await promise.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(AccountBackendError);
  return err as AccountBackendError;
}

describe.skipIf(!haveSamba)('samba-ad account backend on a provisioned Samba AD DC', () => {
  let shared: string; // one domain for tests that leave the domain policy alone (each uses its own account names)

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'steward-samba-ad-'));
    template = path.join(root, 'template');
    await writeFile(path.join(root, 'empty.conf'), '');
    // No --adminpass: samba-tool makes up a random one, so no password reaches argv even here.
    const provision = await runCommand(
      'samba-tool',
      ['domain', 'provision', '-s', path.join(root, 'empty.conf'), '--realm=CORP.TEST', '--domain=CORP',
        '--server-role=dc', '--dns-backend=NONE', '--use-rfc2307', `--targetdir=${template}`],
      { timeoutMs: 90_000 },
    );
    expect(provision.code, provision.stderr).toBe(0);
    shared = await freshDomain();
  });

  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  afterEach(() => {
    const leaked = argvSeen.filter((argv) => argv.some((arg) => [...passwords].some((pw) => arg.includes(pw))));
    expect(leaked).toEqual([]);
  });

  it('creates the NOC account as a marked Domain Admin that the real hash check accepts', async () => {
    const ad = new SambaAdAccounts(recording, { smbConf: shared });
    expect(await ad.lookup(NOC.name)).toBeNull();
    const created = await ad.create(NOC, FIRST);
    expect(created).toMatchObject({ name: NOC.name, fullName: NOC.fullName, managedBySteward: true, admin: true, enabled: true });
    expect(created.id).toMatch(/^S-1-5-21-\d+-\d+-\d+-\d+$/);
    expect(await ad.lookup(NOC.name)).toEqual(created);
    const members = await sambaTool(shared, ['group', 'listmembers', 'Domain Admins']);
    expect(members.split('\n')).toContain(NOC.name);

    expect(await ad.verifyPassword(NOC.name, FIRST)).toBe(true);
    expect(await ad.verifyPassword(NOC.name, 'Steward-First-2024!b')).toBe(false);
    expect((await failure(ad.create(NOC, FIRST))).code).toBe('exists');
  });

  it('changes the password for real: new one opens, old one does not, pwdLastSet moves on', async () => {
    const ad = new SambaAdAccounts(recording, { smbConf: shared });
    const rotated = 'noc_rotate';
    await ad.create({ name: rotated, fullName: 'Rotate' }, FIRST);
    const before = await ad.passwordLastSet(rotated);
    expect(before).toBeInstanceOf(Date);
    expect(Math.abs(before!.getTime() - Date.now())).toBeLessThan(10 * 60_000);

    await ad.setPassword(rotated, SECOND);
    expect(await ad.verifyPassword(rotated, SECOND)).toBe(true);
    expect(await ad.verifyPassword(rotated, FIRST)).toBe(false);
    const after = await ad.passwordLastSet(rotated);
    expect(after!.getTime()).toBeGreaterThan(before!.getTime());
  });

  it('reports a password the domain refuses as policy_refused, without the password, and keeps the old one', async () => {
    const smbConf = await freshDomain();
    const ad = new SambaAdAccounts(recording, { smbConf });
    await ad.create(NOC, FIRST);
    // 14 is the longest minimum samba-tool accepts ("must be in the range of 0 to 14").
    await sambaTool(smbConf, ['domain', 'passwordsettings', 'set', '--min-pwd-length=14']);
    const short = 'Short-2024!x'; // 12 characters, complex
    passwords.add(short);
    const err = await failure(ad.setPassword(NOC.name, short));
    expect(err.code).toBe('policy_refused');
    expect(err.message).toMatch(/too short/);
    expect(err.message).not.toContain(short);
    expect(await ad.verifyPassword(NOC.name, FIRST)).toBe(true);

    const simple = 'alllowercaseletters'; // long enough, one character class
    passwords.add(simple);
    expect((await failure(ad.setPassword(NOC.name, simple))).code).toBe('policy_refused');

    // A refused create leaves nothing behind (samba-tool creates and sets the password in one transaction).
    expect((await failure(ad.create({ name: 'noc_second', fullName: 'x' }, short))).code).toBe('policy_refused');
    expect(await ad.lookup('noc_second')).toBeNull();
  });

  it('reads the domain password policy as samba states it', async () => {
    const smbConf = await freshDomain();
    const ad = new SambaAdAccounts(recording, { smbConf });
    const defaults = await ad.readPolicy();
    expect(defaults).toMatchObject({ minAgeDays: 1, minLength: 7, maxLength: null, minClasses: 3, rejectsAccountName: true, historyLength: 24 });
    expect(defaults.sources).toContain('samba-tool domain passwordsettings show: Minimum password age (days): 1');

    await sambaTool(smbConf, ['domain', 'passwordsettings', 'set', '--min-pwd-age=0', '--min-pwd-length=10', '--history-length=5', '--complexity=off']);
    expect(await ad.readPolicy()).toMatchObject({ minAgeDays: 0, minLength: 10, minClasses: 1, rejectsAccountName: false, historyLength: 5 });
    await sambaTool(smbConf, ['domain', 'passwordsettings', 'set', '--min-pwd-age=1']);
    expect((await ad.readPolicy()).minAgeDays).toBe(1);
  });

  it('sees an existing account without the marker as not ours, and refuses to create over it', async () => {
    const ad = new SambaAdAccounts(recording, { smbConf: shared });
    const theirs = 'Their-Own-2024!pw';
    passwords.add(theirs);
    await sambaTool(shared, ['user', 'create', 'noc_theirs', '--description=helpdesk person'], `${theirs}\n${theirs}\n`);
    expect(await ad.lookup('noc_theirs')).toMatchObject({ managedBySteward: false, admin: false, enabled: true });
    expect((await failure(ad.create({ name: 'noc_theirs', fullName: 'x' }, FIRST))).code).toBe('exists');
    expect(await ad.verifyPassword('noc_theirs', theirs)).toBe(true);
  });

  it('restores a removed Domain Admins membership, disables and removes', async () => {
    const ad = new SambaAdAccounts(recording, { smbConf: shared });
    await ad.create({ name: 'noc_cycle', fullName: 'Cycle' }, FIRST);
    await sambaTool(shared, ['group', 'removemembers', 'Domain Admins', 'noc_cycle']);
    expect((await ad.lookup('noc_cycle'))!.admin).toBe(false);
    await ad.ensureAdmin('noc_cycle');
    expect((await ad.lookup('noc_cycle'))!.admin).toBe(true);
    await ad.ensureAdmin('noc_cycle'); // already a member: must not fail

    await ad.disable('noc_cycle');
    expect((await ad.lookup('noc_cycle'))!.enabled).toBe(false);
    await ad.remove('noc_cycle');
    expect(await ad.lookup('noc_cycle')).toBeNull();
    expect((await failure(ad.remove('noc_cycle'))).code).toBe('not_found');
    expect((await failure(ad.setPassword('noc_cycle', FIRST))).code).toBe('not_found');
    expect((await failure(ad.verifyPassword('noc_cycle', FIRST))).code).toBe('not_found');
    expect((await failure(ad.ensureAdmin('noc_cycle'))).code).toBe('not_found');
  });

  it('tells a broken tool from a missing account, and refuses what cannot be passed safely', async () => {
    const broken = new SambaAdAccounts(recording, { smbConf: path.join(root, 'no-such-dc/etc/smb.conf') });
    expect((await failure(broken.lookup(NOC.name))).code).toBe('tool_failed');
    const noPython = new SambaAdAccounts(recording, { smbConf: shared, python: path.join(root, 'no-python3') });
    expect((await failure(noPython.verifyPassword(NOC.name, SECOND))).code).toBe('tool_missing');

    const ad = new SambaAdAccounts(recording, { smbConf: shared });
    const calls = argvSeen.length;
    expect((await failure(ad.lookup('-H'))).code).toBe('unsupported');
    expect((await failure(ad.setPassword(NOC.name, 'two\nlines'))).code).toBe('unsupported');
    expect(argvSeen.length).toBe(calls);
  });

  it('lists the accounts systemd units run as (drop-ins and overridden copies too, templates skipped)', async () => {
    const fakeRoot = path.join(root, 'units');
    const etc = path.join(fakeRoot, 'etc/systemd/system');
    const lib = path.join(fakeRoot, 'lib/systemd/system');
    await mkdir(path.join(etc, 'db.service.d'), { recursive: true });
    await mkdir(lib, { recursive: true });
    await writeFile(path.join(lib, 'web.service'), '[Unit]\nUser=wrong-section\n[Service]\nUser=www-data\n');
    await writeFile(path.join(lib, 'db.service'), '[Service]\nUser=postgres\n');
    await writeFile(path.join(etc, 'db.service.d/10-noc.conf'), '[Service]\nUser=CORP\\NOC_HelpDesk\n');
    await writeFile(path.join(lib, 'backup.service'), '[Service]\nUser=backup\n');
    await writeFile(path.join(etc, 'backup.service'), '[Service]\nExecStart=/bin/true\n'); // overrides lib's copy
    await writeFile(path.join(lib, 'worker@.service'), '[Service]\nUser=%i\n');
    await writeFile(path.join(lib, 'plain.service'), '[Service]\nExecStart=/bin/true\n');
    const ad = new SambaAdAccounts(recording, { smbConf: shared, root: fakeRoot });
    // Every name a unit runs as, overridden copies included: a name that any of them uses must not be taken over.
    const uses = await ad.serviceAccounts();
    expect(uses).toEqual(expect.arrayContaining([
      { account: 'CORP\\NOC_HelpDesk', kind: 'systemd_unit', name: 'db.service' },
      { account: 'postgres', kind: 'systemd_unit', name: 'db.service' },
      { account: 'backup', kind: 'systemd_unit', name: 'backup.service' },
      { account: 'www-data', kind: 'systemd_unit', name: 'web.service' },
    ]));
    expect(uses.map((u) => u.account)).not.toContain('wrong-section');
    expect(uses.map((u) => u.account).some((a) => a.includes('%'))).toBe(false);
  });

  it('sets a password from an agent that has a controlling terminal (setsid keeps samba-tool off /dev/tty)', async () => {
    // Without setsid, samba-tool's getpass opens the agent's terminal and waits there for a typed password.
    const third = 'Terminal-Case-2024!c';
    passwords.add(third);
    await writeFile(path.join(root, 'pw'), third);
    const probe = path.join(root, 'tty-probe.mts');
    const backend = fileURLToPath(new URL('../../agent/accounts/samba-ad.ts', import.meta.url));
    const runner = fileURLToPath(new URL('../../agent/platform/run-command.ts', import.meta.url));
    await writeFile(probe, [
      `import { readFileSync } from 'node:fs';`,
      `import { SambaAdAccounts } from ${JSON.stringify(backend)};`,
      `import { runCommand } from ${JSON.stringify(runner)};`,
      `const ad = new SambaAdAccounts(runCommand, { smbConf: ${JSON.stringify(shared)} });`,
      `const pw = readFileSync(${JSON.stringify(path.join(root, 'pw'))}, 'utf8');`,
      `await ad.create({ name: 'noc_tty', fullName: 'Tty' }, pw);`,
      `process.stdout.write('VERIFIED ' + String(await ad.verifyPassword('noc_tty', pw)) + '\\n');`,
    ].join('\n'));
    const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));
    const output = await new Promise<string>((resolve) => {
      let text = '';
      const term = pty.spawn(tsx, [probe], { cols: 120, rows: 30, env: process.env as Record<string, string> });
      const timer = setTimeout(() => term.kill('SIGKILL'), 25_000);
      term.onData((d) => (text += d));
      term.onExit(() => {
        clearTimeout(timer);
        resolve(text);
      });
    });
    expect(output).toContain('VERIFIED true');
  });

  it('never put a password in any argv (checked after every test) and did call the tools', () => {
    expect(argvSeen.some((a) => a.includes('setpassword'))).toBe(true);
    expect(argvSeen.some((a) => a[0] === '/usr/bin/python3')).toBe(true);
  });
});
