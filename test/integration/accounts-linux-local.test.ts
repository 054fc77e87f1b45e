import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountBackendError, type AccountErrorCode } from '../../agent/accounts/account-backend.ts';
import { LinuxLocalAccounts } from '../../agent/accounts/linux-local.ts';
import { generatePassword } from '../../agent/accounts/password-generator.ts';
import { runCommand, type CommandRunner } from '../../agent/platform/run-command.ts';

// The real shadow tools, chpasswd and perl's crypt() on a copy of /etc (a "fake root"): the host's accounts are
// never touched, which the last test proves by hashing the host's files before and after.
const TOOLS = ['useradd', 'usermod', 'userdel', 'groupadd', 'chpasswd', 'chage', 'perl'];
const SBIN_PATH = `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin`;
const missingTools = TOOLS.filter((t) => !SBIN_PATH.split(':').some((dir) => dir && existsSync(path.join(dir, t))));
const notRoot = process.getuid?.() !== 0;
const skip = missingTools.length > 0 || notRoot;
if (skip) {
  console.warn(
    notRoot
      ? 'SKIPPED: accounts-linux-local needs root (chpasswd -R and useradd --prefix chroot/write files as root)'
      : `SKIPPED: accounts-linux-local needs ${missingTools.join(', ')} (apt-get install passwd perl-base)`,
  );
}

const HOST_FILES = ['/etc/passwd', '/etc/shadow', '/etc/group', '/etc/gshadow', '/var/log/lastlog', '/var/log/faillog'];
const hostHashes = () => HOST_FILES.map((f) => (existsSync(f) ? createHash('sha256').update(readFileSync(f)).digest('hex') : 'absent'));
const NAME = 'remote-support';
const SPEC = { name: NAME, fullName: 'Remote Support' };

/** Every command line any backend in this file ran, and every password handed to one: argv must hold none of them. */
const argvSeen: string[][] = [];
const secretsUsed: string[] = [];
const recording: CommandRunner = (file, args, opts) => {
  argvSeen.push([file, ...args]);
  return runCommand(file, args, { ...opts, env: { ...(opts?.env ?? process.env), PATH: SBIN_PATH } });
};
const secret = (pw: string) => (secretsUsed.push(pw), pw);
const STRICT = {
  minAgeDays: 0,
  minLength: 12,
  maxLength: null,
  minClasses: 4,
  requiredClasses: [],
  rejectsAccountName: true,
  historyLength: 0,
  sources: [],
};
const pw = () => secret(generatePassword({ mode: 'characters', length: 20, classes: [] }, STRICT, NAME));

const roots: string[] = [];
let before: string[];

/** A copy of the host's account files in a temp dir, without any account of the names used here. */
function fakeRoot(edit: { loginDefs?: (text: string) => string; adminGroup?: 'sudo' | 'wheel' } = {}): string {
  const root = mkdtempSync(path.join(tmpdir(), 'steward-linux-local-'));
  roots.push(root);
  mkdirSync(path.join(root, 'etc'));
  for (const f of ['passwd', 'shadow', 'group', 'gshadow', 'login.defs']) {
    const lines = readFileSync(`/etc/${f}`, 'utf8').split('\n');
    const kept = lines.filter((l) => !/^(remote-support|NOC_HelpDesk|svc-app):/.test(l));
    const text = f === 'login.defs' && edit.loginDefs ? edit.loginDefs(kept.join('\n')) : kept.join('\n');
    writeFileSync(path.join(root, 'etc', f), f === 'group' || f === 'gshadow' ? dropAdminGroups(text) : text);
  }
  return root;
}

/** Leaves exactly one admin group (sudo by default) so each test knows which one the backend must pick. */
function dropAdminGroups(text: string): string {
  return text
    .split('\n')
    .filter((l) => !/^(sudo|wheel):/.test(l))
    .join('\n');
}

async function tool(file: string, ...args: string[]): Promise<string> {
  const r = await runCommand(file, args, { env: { ...process.env, LC_ALL: 'C', PATH: SBIN_PATH } });
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

async function backend(edit: Parameters<typeof fakeRoot>[0] = {}) {
  const root = fakeRoot(edit);
  await tool('groupadd', '--prefix', root, edit.adminGroup ?? 'sudo');
  return { root, accounts: new LinuxLocalAccounts(recording, { root }) };
}

const shadowHash = (root: string, name: string) =>
  readFileSync(path.join(root, 'etc/shadow'), 'utf8').split('\n').find((l) => l.startsWith(`${name}:`))?.split(':')[1];

async function rejection(promise: Promise<unknown>): Promise<AccountBackendError> {
  const err = await promise.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(AccountBackendError);
  return err as AccountBackendError;
}
const expectCode = async (promise: Promise<unknown>, code: AccountErrorCode) => expect((await rejection(promise)).code).toBe(code);

beforeAll(() => {
  before = hostHashes();
});
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

describe.skipIf(skip)('LinuxLocalAccounts on a fake root', () => {
  it('creates the account with the marker, admin rights, a home, and a password that verifies', async () => {
    const { root, accounts } = await backend();
    const password = pw();
    const state = await accounts.create(SPEC, password);
    expect(state).toEqual({
      name: NAME,
      id: expect.stringMatching(/^\d+$/),
      fullName: 'Remote Support',
      managedBySteward: true,
      admin: true,
      enabled: true,
    });
    expect(await accounts.lookup(NAME)).toEqual(state);
    const passwdLine = readFileSync(path.join(root, 'etc/passwd'), 'utf8').split('\n').find((l) => l.startsWith(`${NAME}:`));
    // No bash under the fake root, so /bin/sh.
    expect(passwdLine).toMatch(/^remote-support:x:\d+:\d+:Remote Support,,,,Managed by Steward:\/home\/remote-support:\/bin\/sh$/);
    expect(readFileSync(path.join(root, 'etc/group'), 'utf8')).toMatch(/^sudo:x:\d+:remote-support$/m);
    expect(existsSync(path.join(root, 'home', NAME))).toBe(true);
    // The copied login.defs says SHA512: chpasswd -R -c follows it.
    expect(shadowHash(root, NAME)).toMatch(/^\$6\$/);
    expect(await accounts.verifyPassword(NAME, password)).toBe(true);
  });

  it('sets a new password: the new one verifies, the old one no longer does (yescrypt)', async () => {
    const { root, accounts } = await backend({ loginDefs: (t) => t.replace(/^ENCRYPT_METHOD.*$/m, '') + '\nENCRYPT_METHOD YESCRYPT\n' });
    const first = pw();
    const second = pw();
    await accounts.create(SPEC, first);
    expect(shadowHash(root, NAME)).toMatch(/^\$y\$/);
    await accounts.setPassword(NAME, second);
    expect(shadowHash(root, NAME)).toMatch(/^\$y\$/);
    expect(await accounts.verifyPassword(NAME, second)).toBe(true);
    expect(await accounts.verifyPassword(NAME, first)).toBe(false);
    expect(await accounts.verifyPassword(NAME, `${second}x`)).toBe(false);
  });

  it('sets the minimum password age to 0 even when login.defs says 7 (chage -l reads it back)', async () => {
    const { root, accounts } = await backend({ loginDefs: (t) => t.replace(/^PASS_MIN_DAYS.*$/m, 'PASS_MIN_DAYS 7') });
    await accounts.create(SPEC, pw());
    await tool('useradd', '--prefix', root, 'svc-app');
    const minDays = (name: string) => tool('chage', '-R', root, '-l', name).then((out) => /Minimum number of days.*:\s*(\d+)/.exec(out)?.[1]);
    expect(await minDays(NAME)).toBe('0');
    expect(await minDays('svc-app')).toBe('7');
  });

  it('uses wheel where there is no sudo group, and ensureAdmin puts a removed member back', async () => {
    const { root, accounts } = await backend({ adminGroup: 'wheel' });
    await accounts.create(SPEC, pw());
    expect(readFileSync(path.join(root, 'etc/group'), 'utf8')).toMatch(/^wheel:x:\d+:remote-support$/m);
    await tool('gpasswd', '-Q', root, '-d', NAME, 'wheel');
    expect((await accounts.lookup(NAME))?.admin).toBe(false);
    await accounts.ensureAdmin(NAME);
    expect((await accounts.lookup(NAME))?.admin).toBe(true);
  });

  it('uses /bin/bash when the root has one', async () => {
    const { root, accounts } = await backend();
    mkdirSync(path.join(root, 'bin'));
    writeFileSync(path.join(root, 'bin/bash'), '');
    await accounts.create(SPEC, pw());
    expect(readFileSync(path.join(root, 'etc/passwd'), 'utf8')).toMatch(/^remote-support:.*:\/bin\/bash$/m);
  });

  it("treats a same-named account without the marker as someone else's: not managed, not disabled or removed", async () => {
    const { root, accounts } = await backend();
    await tool('useradd', '--prefix', root, '-c', 'Remote Support', NAME);
    expect(await accounts.lookup(NAME)).toMatchObject({ name: NAME, managedBySteward: false, admin: false, enabled: false });
    await expectCode(accounts.create(SPEC, pw()), 'exists');
    await expectCode(accounts.disable(NAME), 'unsupported');
    await expectCode(accounts.remove(NAME), 'unsupported');
    expect(await accounts.lookup(NAME)).not.toBeNull();
  });

  it('refuses to create an account that exists, and reports not_found for missing ones', async () => {
    const { accounts } = await backend();
    await accounts.create(SPEC, pw());
    const err = await rejection(accounts.create(SPEC, pw()));
    expect(err.code).toBe('exists');
    expect(err.message).toMatch(/remote-support already exists/);
    expect(await accounts.lookup('NOC_HelpDesk')).toBeNull();
    await expectCode(accounts.setPassword('NOC_HelpDesk', pw()), 'not_found');
    await expectCode(accounts.verifyPassword('NOC_HelpDesk', pw()), 'not_found');
    await expectCode(accounts.remove('NOC_HelpDesk'), 'not_found');
  });

  it('creates the NOC account with a mixed-case name', async () => {
    const { accounts } = await backend();
    const password = pw();
    const state = await accounts.create({ name: 'NOC_HelpDesk', fullName: 'NOC Help Desk' }, password);
    expect(state).toMatchObject({ managedBySteward: true, admin: true });
    expect(await accounts.verifyPassword('NOC_HelpDesk', password)).toBe(true);
  });

  it('refuses passwords chpasswd cannot carry without running anything, and never echoes them', async () => {
    const { accounts } = await backend();
    await accounts.create(SPEC, pw());
    const calls = argvSeen.length;
    for (const bad of ['Abcdefgh:12345', 'Abcdefgh\n12345', 'Abcdefgh\r12345', '']) {
      const err = await rejection(accounts.setPassword(NAME, secret(bad)));
      expect(err.code).toBe('unsupported');
      if (bad) expect(err.message).not.toContain(bad);
    }
    expect(argvSeen.slice(calls)).toEqual([]);
    await expectCode(accounts.lookup('-r'), 'unsupported');
  });

  it('disables (locked and expired, password no longer opens it) and removes (home gone)', async () => {
    const { root, accounts } = await backend();
    const password = pw();
    await accounts.create(SPEC, password);
    await accounts.disable(NAME);
    expect(await accounts.lookup(NAME)).toMatchObject({ enabled: false, managedBySteward: true });
    const fields = readFileSync(path.join(root, 'etc/shadow'), 'utf8').split('\n').find((l) => l.startsWith(`${NAME}:`))?.split(':');
    expect(fields?.[1]).toMatch(/^!/);
    expect(fields?.[7]).toBe('1');
    expect(await accounts.verifyPassword(NAME, password)).toBe(false);
    await accounts.remove(NAME);
    expect(await accounts.lookup(NAME)).toBeNull();
    expect(existsSync(path.join(root, 'home', NAME))).toBe(false);
  });

  it('undoes the account when its password cannot be set, so a retry is not blocked by "exists"', async () => {
    const { root, accounts } = await backend();
    // libxcrypt refuses 512+ characters; under -R chpasswd reports it as an unsupported crypt method.
    const tooLong = secret('Aa1-'.repeat(150));
    const err = await rejection(accounts.create(SPEC, tooLong));
    expect(err.code).toBe('tool_failed');
    expect(err.message).toMatch(/^chpasswd exited 1: /);
    expect(err.message).not.toContain(tooLong);
    expect(await accounts.lookup(NAME)).toBeNull();
    expect(existsSync(path.join(root, 'home', NAME))).toBe(false);
    await accounts.create(SPEC, pw());
  });

  it('reports a missing tool as tool_missing', async () => {
    const root = fakeRoot();
    const noUseradd: CommandRunner = (file, args, opts) => recording(file === 'useradd' ? '/nonexistent/steward-test/useradd' : file, args, opts);
    await tool('groupadd', '--prefix', root, 'sudo');
    const err = await rejection(new LinuxLocalAccounts(noUseradd, { root }).create(SPEC, pw()));
    expect(err.code).toBe('tool_missing');
    expect(err.message).toMatch(/useradd is not installed/);
  });

  it('finds service accounts in unit files, drop-ins, linked units, system crontabs and user crontabs', async () => {
    const { root, accounts } = await backend();
    const write = (rel: string, text: string) => {
      mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      writeFileSync(path.join(root, rel), text);
    };
    await tool('useradd', '--prefix', root, 'svc-app');
    const svcUid = readFileSync(path.join(root, 'etc/passwd'), 'utf8').split('\n').find((l) => l.startsWith('svc-app:'))?.split(':')[2];
    write('etc/systemd/system/app.service', '[Unit]\nDescription=App\n[Service]\nUser=svc-app\nExecStart=/usr/bin/app\n');
    write('lib/systemd/system/db.service', '[Service]\nUser=postgres\n');
    write('lib/systemd/system/db.service.d/10-user.conf', `[Service]\nUser=${svcUid}\n`);
    write('usr/lib/systemd/system/getty@.service', '[Service]\nUser=%i\n');
    write('usr/lib/systemd/system/reset.service', '[Service]\nUser=ghost\nUser=\n');
    write('opt/vendor/vendor.service', '[Service]\nUser = vendor-svc\n');
    symlinkSync('/opt/vendor/vendor.service', path.join(root, 'etc/systemd/system/vendor.service'));
    symlinkSync('/dev/null', path.join(root, 'etc/systemd/system/masked.service'));
    write('etc/crontab', 'SHELL=/bin/sh\n# m h dom mon dow user command\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n');
    write('etc/cron.d/backup', 'MAILTO=root\n*/5 * * * *  backup  /usr/local/bin/backup\n@reboot svc-boot /usr/bin/warmup\n');
    write('etc/cron.d/backup.dpkg-old', '* * * * * olduser /bin/true\n');
    write('var/spool/cron/crontabs/alice', '# edit with crontab -e\n0 3 * * * /home/alice/bin/sync\n');
    write('var/spool/cron/crontabs/bob', '# nothing scheduled\n');
    const uses = await accounts.serviceAccounts();
    expect(uses).toEqual(
      expect.arrayContaining([
        { account: 'svc-app', kind: 'systemd_unit', name: 'app.service' },
        { account: 'postgres', kind: 'systemd_unit', name: 'db.service' },
        { account: 'svc-app', kind: 'systemd_unit', name: 'db.service' },
        { account: 'vendor-svc', kind: 'systemd_unit', name: 'vendor.service' },
        { account: 'root', kind: 'cron', name: '/etc/crontab' },
        { account: 'backup', kind: 'cron', name: '/etc/cron.d/backup' },
        { account: 'svc-boot', kind: 'cron', name: '/etc/cron.d/backup' },
        { account: 'alice', kind: 'cron', name: '/var/spool/cron/crontabs/alice' },
      ]),
    );
    expect(uses).toHaveLength(8);
  });
});

describe.skipIf(skip)('readPolicy', () => {
  it('falls back to Linux defaults when login.defs, PAM and pwquality say nothing', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'steward-linux-policy-'));
    roots.push(root);
    const policy = await new LinuxLocalAccounts(recording, { root }).readPolicy();
    expect(policy).toMatchObject({
      minAgeDays: 0,
      minLength: 6,
      maxLength: 511,
      minClasses: 0,
      requiredClasses: [],
      rejectsAccountName: false,
      historyLength: 0,
    });
    expect(policy.sources).toEqual(
      expect.arrayContaining([expect.stringMatching(/no PASS_MIN_DAYS/), expect.stringMatching(/pam_unix's default 6/)]),
    );
  });

  it('reads login.defs, pwquality.conf.d then pwquality.conf, and the Debian PAM stack', async () => {
    const root = fakeRoot({ loginDefs: (t) => t.replace(/^PASS_MIN_DAYS.*$/m, 'PASS_MIN_DAYS 3') });
    mkdirSync(path.join(root, 'etc/security/pwquality.conf.d'), { recursive: true });
    mkdirSync(path.join(root, 'etc/pam.d'));
    writeFileSync(path.join(root, 'etc/security/pwquality.conf.d/50-site.conf'), 'minlen = 10\nucredit = -1\n');
    writeFileSync(
      path.join(root, 'etc/security/pwquality.conf'),
      '# site policy\nminlen = 14\nminclass = 3\ndcredit = -1\nocredit=-2\nmaxrepeat = 3\n',
    );
    writeFileSync(
      path.join(root, 'etc/pam.d/common-password'),
      '# here are the per-package modules\npassword\trequisite\tpam_pwquality.so retry=3\n' +
        'password\trequired\tpam_pwhistory.so use_authtok remember=5\n' +
        'password\t[success=1 default=ignore]\tpam_unix.so obscure use_authtok try_first_pass yescrypt remember=3\n',
    );
    const policy = await new LinuxLocalAccounts(recording, { root }).readPolicy();
    expect(policy).toMatchObject({ minAgeDays: 3, minLength: 14, maxLength: 511, minClasses: 3, rejectsAccountName: true, historyLength: 5 });
    expect(new Set(policy.requiredClasses)).toEqual(new Set(['upper', 'digit', 'symbol']));
    expect(policy.sources).toEqual(
      expect.arrayContaining([
        'login.defs PASS_MIN_DAYS=3 (for new accounts; Steward sets its own account to 0 with chage)',
        expect.stringMatching(/minimum length 14 from minlen=14 \(\/etc\/security\/pwquality\.conf\)/),
        expect.stringMatching(/ucredit=-1 \(\/etc\/security\/pwquality\.conf\.d\/50-site\.conf\)/),
        expect.stringMatching(/ocredit=-2 .*asks for 2/),
        expect.stringMatching(/usercheck=1 \(libpwquality default\)/),
        expect.stringMatching(/maxrepeat=3 .*not modelled/),
        'pam_pwhistory remember=5 (/etc/pam.d/common-password)',
      ]),
    );
  });

  it('lets pam_pwquality arguments override the config (RHEL system-auth), and honours usercheck=0', async () => {
    const root = fakeRoot();
    mkdirSync(path.join(root, 'etc/security'), { recursive: true });
    mkdirSync(path.join(root, 'etc/pam.d'));
    writeFileSync(path.join(root, 'etc/security/pwquality.conf'), 'minlen = 9\nusercheck = 0\n');
    writeFileSync(path.join(root, 'etc/security/pwhistory.conf'), 'remember = 12\n');
    writeFileSync(
      path.join(root, 'etc/pam.d/system-auth'),
      'password    requisite     pam_pwquality.so try_first_pass local_users_only minlen=16\n' +
        '-password   optional      pam_pwhistory.so use_authtok\n' +
        'password    sufficient    pam_unix.so sha512 shadow nullok try_first_pass use_authtok\n',
    );
    const policy = await new LinuxLocalAccounts(recording, { root }).readPolicy();
    expect(policy).toMatchObject({ minLength: 16, rejectsAccountName: false, historyLength: 12, requiredClasses: [], minClasses: 0 });
    expect(policy.sources).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/minlen=16 \(pam_pwquality in \/etc\/pam.d\/system-auth\)/),
        'pwhistory.conf remember=12',
      ]),
    );
  });
});

// libpwquality itself judges our generated passwords: pwscore reads only /etc/security/pwquality.conf, so the test
// config is bind-mounted over it inside a private mount namespace (the host's file is not touched).
const pwscoreMissing = !SBIN_PATH.split(':').some((d) => d && existsSync(path.join(d, 'pwscore'))) || !existsSync('/usr/bin/unshare');
if (pwscoreMissing) console.warn('SKIPPED: pwscore cross-check needs pwscore and unshare (apt-get install libpwquality-tools util-linux)');

describe.skipIf(skip || pwscoreMissing)('generated passwords against the real libpwquality', () => {
  it('pwscore accepts passwords generated from the policy readPolicy found, and refuses a weak one', async () => {
    const root = fakeRoot();
    mkdirSync(path.join(root, 'etc/security'), { recursive: true });
    const conf = path.join(root, 'etc/security/pwquality.conf');
    writeFileSync(conf, 'minlen = 18\nminclass = 4\ndcredit = -1\nucredit = -1\nocredit = -1\nlcredit = -1\nusercheck = 1\n');
    const policy = await new LinuxLocalAccounts(recording, { root }).readPolicy();
    const score = async (password: string) =>
      runCommand(
        'unshare',
        ['--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$1" /etc/security/pwquality.conf && exec pwscore "$2"', 'sh', conf, NAME],
        { input: `${password}\n`, env: { ...process.env, LC_ALL: 'C', PATH: SBIN_PATH } },
      );
    const weak = await score('remote-support1A!');
    expect(weak.code).not.toBe(0);
    for (const mode of ['characters', 'passphrase'] as const) {
      for (let i = 0; i < 5; i++) {
        const rules = mode === 'characters' ? { mode, length: 12, classes: ['lower' as const] } : { mode, words: 4 };
        const password = generatePassword(rules, policy, NAME);
        const result = await score(password);
        expect(result.code, `${password}: ${result.stderr}`).toBe(0);
      }
    }
  });
});

// The production path: no root option, so chpasswd goes through PAM (pam_unix here) instead of hashing itself.
// The backend runs in a child process inside a private mount namespace where /etc, /home, /var/mail and /var/log are
// bind-mounted copies/scratch dirs: the tools and the backend's own file reads see the copy, the host sees nothing.
const REPO = path.resolve(import.meta.dirname, '../..');
const unshareMissing = !existsSync('/usr/bin/unshare');
if (unshareMissing) console.warn('SKIPPED: the PAM-path test needs unshare (apt-get install util-linux)');

const SCENARIO = `
import { existsSync, readFileSync } from 'node:fs';
import { LinuxLocalAccounts } from ${JSON.stringify(path.join(REPO, 'agent/accounts/linux-local.ts'))};
import { runCommand } from ${JSON.stringify(path.join(REPO, 'agent/platform/run-command.ts'))};
const input = JSON.parse(await new Promise((resolve) => {
  let text = '';
  process.stdin.on('data', (d) => (text += d)).on('end', () => resolve(text));
}));
const argv = [];
const accounts = new LinuxLocalAccounts((file, args, opts) => (argv.push([file, ...args]), runCommand(file, args, opts)));
const settle = (p) => p.then((value) => ({ value }), (e) => ({ error: { code: e.code, message: e.message } }));
const name = 'remote-support';
const out = {};
out.policy = await accounts.readPolicy();
out.created = await settle(accounts.create({ name, fullName: 'Remote Support' }, input.first));
out.home = existsSync('/home/' + name);
out.hash = readFileSync('/etc/shadow', 'utf8').split('\\n').find((l) => l.startsWith(name + ':'))?.split(':')[1].slice(0, 3);
out.verifyFirst = await settle(accounts.verifyPassword(name, input.first));
out.set = await settle(accounts.setPassword(name, input.second));
out.verifySecond = await settle(accounts.verifyPassword(name, input.second));
out.verifyFirstAgain = await settle(accounts.verifyPassword(name, input.first));
out.tooLong = await settle(accounts.setPassword(name, input.tooLong));
out.verifyAfterRefusal = await settle(accounts.verifyPassword(name, input.second));
out.chage = (await runCommand('chage', ['-l', name], { env: { ...process.env, LC_ALL: 'C' } })).stdout;
out.disabled = await settle(accounts.disable(name));
out.afterDisable = await accounts.lookup(name);
out.removed = await settle(accounts.remove(name));
out.afterRemove = await accounts.lookup(name);
out.homeAfterRemove = existsSync('/home/' + name);
console.log(JSON.stringify({ out, argv }));
`;

describe.skipIf(skip || unshareMissing)('LinuxLocalAccounts without a root (PAM path, private mount namespace)', () => {
  it('creates, verifies, rotates, maps a PAM refusal to policy_refused, disables and removes', async () => {
    const scratch = mkdtempSync(path.join(tmpdir(), 'steward-linux-pam-'));
    roots.push(scratch);
    const etc = path.join(scratch, 'etc');
    await tool('cp', '-a', '/etc', etc);
    for (const f of ['passwd', 'shadow', 'group', 'gshadow']) {
      const file = path.join(etc, f);
      writeFileSync(file, readFileSync(file, 'utf8').split('\n').filter((l) => !l.startsWith(`${NAME}:`)).join('\n'));
    }
    for (const dir of ['home', 'mail', 'log']) mkdirSync(path.join(scratch, dir));
    const script = path.join(scratch, 'scenario.mts');
    writeFileSync(script, SCENARIO);
    const input = { first: pw(), second: pw(), tooLong: secret('Aa1-'.repeat(150)) };
    const mounts = 'mount --bind "$1" /etc && mount --bind "$2" /home && mount --bind "$3" /var/mail && mount --bind "$4" /var/log';
    const result = await runCommand(
      'unshare',
      ['--mount', '--propagation', 'private', 'sh', '-c', `${mounts} && shift 4 && exec "$@"`, 'sh', etc,
        path.join(scratch, 'home'), path.join(scratch, 'mail'), path.join(scratch, 'log'), process.execPath, '--import', 'tsx', script],
      { input: JSON.stringify(input), cwd: REPO, timeoutMs: 60_000, env: { ...process.env, PATH: SBIN_PATH } },
    );
    expect(result.code, result.stderr).toBe(0);
    const { out, argv } = JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}');
    argvSeen.push(...argv);
    expect(out.created.value).toMatchObject({ name: NAME, managedBySteward: true, admin: true, enabled: true });
    expect(out.home).toBe(true);
    // Debian 12's pam_unix is configured with "yescrypt": PAM, not chpasswd -c, chose the hash.
    expect(out.hash).toBe('$y$');
    expect(argv.filter(([file]: string[]) => file === 'chpasswd')).toEqual([['chpasswd'], ['chpasswd'], ['chpasswd']]);
    expect(out.verifyFirst).toEqual({ value: true });
    expect(out.set).toEqual({ value: undefined });
    expect(out.verifySecond).toEqual({ value: true });
    expect(out.verifyFirstAgain).toEqual({ value: false });
    expect(out.tooLong.error.code).toBe('policy_refused');
    expect(out.tooLong.error.message).toMatch(/choose a shorter password/);
    expect(out.tooLong.error.message).not.toContain(input.tooLong);
    expect(out.verifyAfterRefusal).toEqual({ value: true });
    expect(out.chage).toMatch(/Minimum number of days between password change\s*:\s*0/);
    expect(out.disabled).toEqual({ value: undefined });
    expect(out.afterDisable).toMatchObject({ enabled: false });
    expect(out.removed).toEqual({ value: undefined });
    expect(out.afterRemove).toBeNull();
    expect(out.homeAfterRemove).toBe(false);
    expect(out.policy).toMatchObject({ maxLength: 511, historyLength: 0 });
  });
});

describe.skipIf(skip)('hygiene', () => {
  it('never put a password on any command line', () => {
    expect(secretsUsed.length).toBeGreaterThan(10);
    expect(argvSeen.some(([file]) => file === 'chpasswd')).toBe(true);
    const leaks = argvSeen.filter((argv) => secretsUsed.some((s) => s && argv.some((a) => a.includes(s))));
    expect(leaks).toEqual([]);
  });

  it("left the host's account files untouched", () => {
    expect(hostHashes()).toEqual(before);
  });
});
