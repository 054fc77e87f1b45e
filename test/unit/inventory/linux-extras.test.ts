import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LinuxInventoryExtras } from '../../../agent/inventory/extras-linux.ts';
import { TranscriptRunner, exits, missing, ok, type Scripted } from '../../helpers/transcript-runner.ts';

const FIXTURE_ROOT = path.resolve(import.meta.dirname, '../../fixtures/inventory/linux-root');

// Output recorded on Debian 12 (samba 4.17, coreutils 9.1). testparm prints its banner on stderr and, for a
// provisioned DC whose cache dir is missing, exits 1 while still printing the value: the exit code means nothing.
const TESTPARM_BANNER =
  'Load smb config files from /etc/samba/smb.conf\nLoaded services file OK.\n' +
  'Weak crypto is allowed by GnuTLS (e.g. NTLM as a compatibility fallback)\n';
const testparm = (parameter: string, value: string, code = 0): Scripted =>
  exits(['testparm', '-s', `--parameter-name=${parameter}`], code, `${value}\n`, TESTPARM_BANNER);
const noTestparm = (parameter: string) => missing(['testparm', '-s', `--parameter-name=${parameter}`]);
const REALM_LIST = ['realm', 'list'];
const WHO = ['who'];
const GET_DEFAULT = ['systemctl', 'get-default'];

// `realm list` on a machine joined with `realm join` (realmd 0.17, RHEL/Debian documentation layout).
const REALM_JOINED = `corp.example.com
  type: kerberos
  realm-name: CORP.EXAMPLE.COM
  domain-name: corp.example.com
  configured: kerberos-member
  server-software: active-directory
  client-software: sssd
  required-package: sssd-tools
  required-package: sssd
  required-package: adcli
  login-formats: %U@corp.example.com
  login-policy: allow-realm-logins
`;

let root: string;
let runner: TranscriptRunner;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'steward-linux-root-'));
  await cp(FIXTURE_ROOT, root, { recursive: true });
});

afterEach(async () => {
  expect(runner?.unexpected ?? []).toEqual([]);
  await rm(root, { recursive: true, force: true });
});

function extras(scripted: Scripted[], now = new Date(2024, 10, 20, 12, 0)) {
  runner = new TranscriptRunner(scripted);
  return new LinuxInventoryExtras(runner.run, { root, now: () => now });
}

describe('local accounts from etc/passwd, group and shadow', () => {
  it('reads names, uids and full names, and skips NIS markers', async () => {
    const accounts = await extras([]).localAccounts();
    expect(accounts.map((a) => a.name)).toEqual([
      'root', 'daemon', 'www-data', 'nobody', 'svc-backup', 'alice', 'bob', 'carol', 'dave', 'erin',
    ]);
    const bob = accounts.find((a) => a.name === 'bob');
    expect(bob).toMatchObject({ uid: '1001', fullName: 'Bob User' }); // GECOS: only the first comma field
    expect(accounts.find((a) => a.name === 'svc-backup')?.fullName).toBeNull();
  });

  it('marks uid 0 and members of sudo, wheel (primary group) and admin as admins, nobody else', async () => {
    const accounts = await extras([]).localAccounts();
    const admins = accounts.filter((a) => a.isAdmin).map((a) => a.name);
    expect(admins).toEqual(['root', 'alice', 'carol', 'erin']);
  });

  it('takes disabled from shadow: ! or * is disabled, a hash is not, no entry is unknown', async () => {
    const byName = new Map((await extras([]).localAccounts()).map((a) => [a.name, a.disabled]));
    expect(byName.get('root')).toBe(true);
    expect(byName.get('dave')).toBe(true);
    expect(byName.get('svc-backup')).toBe(true);
    expect(byName.get('alice')).toBe(false);
    expect(byName.get('bob')).toBe(false);
    expect(byName.get('erin')).toBeNull();
  });

  it('reports disabled as unknown for everyone when shadow cannot be read', async () => {
    await rm(path.join(root, 'etc/shadow'));
    const accounts = await extras([]).localAccounts();
    expect(accounts.every((a) => a.disabled === null)).toBe(true);
    expect(accounts.find((a) => a.name === 'alice')?.isAdmin).toBe(true);
  });
});

describe('software', () => {
  const DPKG = ['dpkg-query', '-W', '-f=${db:Status-Abbrev}\\t${Package}\\t${Version}\\t${Maintainer}\\n'];
  const RPM = ['rpm', '-qa', '--queryformat', '%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\t%{VENDOR}\\n'];

  it('lists installed dpkg packages, skipping removed ones and multi-arch duplicates', async () => {
    const out = [
      'ii \tdpkg\t1.21.22\tDpkg Developers <debian-dpkg@lists.debian.org>',
      'ii \tlibc6\t2.36-9+deb12u14\tGNU Libc Maintainers <debian-glibc@lists.debian.org>',
      'ii \tlibc6\t2.36-9+deb12u14\tGNU Libc Maintainers <debian-glibc@lists.debian.org>',
      'rc \told-tool\t1.0-1\tSomeone <someone@example.org>',
      'ii \tvim\t2:9.0.1378-2\tDebian Vim Maintainers <team+vim@tracker.debian.org>',
      '',
    ].join('\n');
    const software = await extras([ok(DPKG, out)]).software();
    expect(software).toEqual([
      { name: 'dpkg', version: '1.21.22', publisher: 'Dpkg Developers', source: 'dpkg' },
      { name: 'libc6', version: '2.36-9+deb12u14', publisher: 'GNU Libc Maintainers', source: 'dpkg' },
      { name: 'vim', version: '2:9.0.1378-2', publisher: 'Debian Vim Maintainers', source: 'dpkg' },
    ]);
  });

  it('falls back to rpm when dpkg-query is missing', async () => {
    const out = 'bash\t5.2.15-5.el10\tRed Hat, Inc.\nkernel-core\t6.12.0-55.el10\t(none)\nshim-x64\t1:15.8-2.el10\tRed Hat, Inc.\n';
    const software = await extras([missing(DPKG), ok(RPM, out)]).software();
    expect(software).toEqual([
      { name: 'bash', version: '5.2.15-5.el10', publisher: 'Red Hat, Inc.', source: 'rpm' },
      { name: 'kernel-core', version: '6.12.0-55.el10', publisher: null, source: 'rpm' },
      { name: 'shim-x64', version: '1:15.8-2.el10', publisher: 'Red Hat, Inc.', source: 'rpm' },
    ]);
  });

  it('fails loudly, instead of reporting nothing installed, when neither package tool works', async () => {
    await expect(extras([missing(DPKG), missing(RPM)]).software()).rejects.toThrow(/no package database/);
  });
});

describe('logged-in users and FQDN', () => {
  it('parses who output (C locale), with remote hosts and X displays', async () => {
    const out = [
      'alice    tty1         Nov 20 08:02',
      'alice    pts/0        Nov 20 09:15 (198.51.100.7)',
      'bob      :0           Nov 19 17:40 (:0)',
      '',
    ].join('\n');
    const users = await extras([ok(WHO, out)]).loggedInUsers();
    expect(users).toEqual([
      { name: 'alice', terminal: 'tty1', host: null, since: new Date(2024, 10, 20, 8, 2).toISOString() },
      { name: 'alice', terminal: 'pts/0', host: '198.51.100.7', since: new Date(2024, 10, 20, 9, 15).toISOString() },
      { name: 'bob', terminal: ':0', host: ':0', since: new Date(2024, 10, 19, 17, 40).toISOString() },
    ]);
  });

  it('puts a December login seen in January in the previous year', async () => {
    const users = await extras([ok(WHO, 'carol    pts/3        Dec 31 23:50 (10.0.0.9)\n')], new Date(2025, 0, 1, 0, 5))
      .loggedInUsers();
    expect(users[0].since).toBe(new Date(2024, 11, 31, 23, 50).toISOString());
  });

  it('parses the ISO time format other locales give', async () => {
    const users = await extras([ok(WHO, 'dave     pts/1        2024-11-18 07:30 (203.0.113.5)\n')]).loggedInUsers();
    expect(users).toEqual([
      { name: 'dave', terminal: 'pts/1', host: '203.0.113.5', since: new Date(2024, 10, 18, 7, 30).toISOString() },
    ]);
  });

  it('uses hostname -f, and os.hostname() when that fails', async () => {
    expect(await extras([ok(['hostname', '-f'], 'web01.corp.example.com\n')]).fqdn()).toBe('web01.corp.example.com');
    expect(await extras([exits(['hostname', '-f'], 1, '', 'hostname: Name or service not known\n')]).fqdn()).toBe(
      os.hostname(),
    );
  });
});

describe('machine kind', () => {
  const noLogins = ok(WHO, '');

  it('is server on a Debian server whose default target is graphical.target but has no display manager', async () => {
    const x = extras([noLogins, ok(GET_DEFAULT, 'graphical.target\n')]);
    expect(await x.machineKind()).toBe('server');
  });

  it('is desktop when a display manager is installed and the target is graphical', async () => {
    await mkdir(path.join(root, 'etc/systemd/system'), { recursive: true });
    // Dangling on purpose: the alias points into the real /lib, which the fixture root does not have.
    await symlink('/lib/systemd/system/gdm3.service', path.join(root, 'etc/systemd/system/display-manager.service'));
    expect(await extras([noLogins, ok(GET_DEFAULT, 'graphical.target\n')]).machineKind()).toBe('desktop');
  });

  it('is server when a display manager is installed but the boot target is multi-user.target', async () => {
    await mkdir(path.join(root, 'usr/sbin'), { recursive: true });
    await writeFile(path.join(root, 'usr/sbin/lightdm'), '');
    expect(await extras([noLogins, ok(GET_DEFAULT, 'multi-user.target\n')]).machineKind()).toBe('server');
  });

  it('is desktop when someone is logged into an X session, whatever is installed', async () => {
    const x = extras([ok(WHO, 'bob      :0           Nov 19 17:40 (:0)\n')]);
    expect(await x.machineKind()).toBe('desktop');
  });
});

describe('domain role', () => {
  const notJoinedRealmd = ok(REALM_LIST, '');

  it('is domain_controller for a Samba AD DC with its sam.ldb', async () => {
    await mkdir(path.join(root, 'var/lib/samba/private'), { recursive: true });
    await writeFile(path.join(root, 'var/lib/samba/private/sam.ldb'), '');
    const x = extras([
      testparm('server role', 'active directory domain controller', 1),
      testparm('private dir', '/var/lib/samba/private', 1),
      testparm('realm', 'CORP.EXAMPLE.COM', 1),
    ]);
    expect(await x.domainRole()).toEqual({ role: 'domain_controller', domain: 'corp.example.com' });
  });

  it('is not a DC when smb.conf says DC but there is no sam.ldb (a failed provision)', async () => {
    const x = extras([
      testparm('server role', 'active directory domain controller'),
      testparm('private dir', '/var/lib/samba/private'),
      testparm('realm', 'CORP.EXAMPLE.COM'),
      notJoinedRealmd,
      testparm('security', 'AUTO'),
    ]);
    expect(await x.domainRole()).toEqual({ role: 'standalone', domain: null });
    expect(runner.uncalled()).toEqual([]);
  });

  it('is member when realm list shows a configured realm', async () => {
    const x = extras([noTestparm('server role'), ok(REALM_LIST, REALM_JOINED)]);
    expect(await x.domainRole()).toEqual({ role: 'member', domain: 'corp.example.com' });
  });

  it('ignores realms realmd only discovered (configured: no)', async () => {
    const discovered = REALM_JOINED.replace('configured: kerberos-member', 'configured: no');
    const x = extras([noTestparm('server role'), ok(REALM_LIST, discovered)]);
    expect(await x.domainRole()).toEqual({ role: 'standalone', domain: null });
  });

  it('is member when Samba is configured for ADS with a realm (winbind join)', async () => {
    const x = extras([
      testparm('server role', 'member server'),
      missing(REALM_LIST),
      testparm('security', 'ADS'),
      testparm('realm', 'AD.EXAMPLE.ORG'),
    ]);
    expect(await x.domainRole()).toEqual({ role: 'member', domain: 'ad.example.org' });
  });

  it('is member when sssd.conf has an AD domain, even without realmd', async () => {
    await mkdir(path.join(root, 'etc/sssd'), { recursive: true });
    await writeFile(
      path.join(root, 'etc/sssd/sssd.conf'),
      '[sssd]\ndomains = ipa.example.net\nservices = nss, pam\n\n[domain/ipa.example.net]\nid_provider = ipa\nipa_server = _srv_\n',
    );
    const x = extras([noTestparm('server role'), missing(REALM_LIST)]);
    expect(await x.domainRole()).toEqual({ role: 'member', domain: 'ipa.example.net' });
  });

  it('is standalone with Samba as a plain file server and nothing joined', async () => {
    const x = extras([
      testparm('server role', 'standalone server'),
      notJoinedRealmd,
      testparm('security', 'AUTO'),
      testparm('realm', ''),
    ]);
    expect(await x.domainRole()).toEqual({ role: 'standalone', domain: null });
    expect(runner.uncalled()).toEqual([]);
  });
});
