import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Real account stores for credential tests, never the host's: a fake root holding a copy of /etc's account files
 * (the shadow tools work on it with --prefix / -R), and a check of a password against its shadow hash with the real
 * crypt(3) (through perl, the password on stdin).
 */
const SBIN_PATH = `${process.env.PATH ?? '/usr/bin:/bin'}:/usr/local/sbin:/usr/sbin:/sbin`;

/** A copy of the host's account files with a `sudo` group and none of the names Steward manages. */
export function linuxFakeRoot(prefix = 'steward-fake-root-'): string {
  const root = mkdtempSync(path.join(tmpdir(), prefix));
  mkdirSync(path.join(root, 'etc'));
  for (const f of ['passwd', 'shadow', 'group', 'gshadow', 'login.defs']) {
    const kept = readFileSync(`/etc/${f}`, 'utf8')
      .split('\n')
      .filter((l) => !/^(remote-support|NOC_HelpDesk|sudo|wheel):/.test(l));
    writeFileSync(path.join(root, 'etc', f), kept.join('\n'));
  }
  execFileSync('groupadd', ['--prefix', root, 'sudo'], { env: { ...process.env, PATH: SBIN_PATH } });
  return root;
}

export function passwdEntry(root: string, name: string): string[] | null {
  const line = readFileSync(path.join(root, 'etc/passwd'), 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  return line ? line.split(':') : null;
}

export function groupMembers(root: string, group: string): string[] {
  const line = readFileSync(path.join(root, 'etc/group'), 'utf8').split('\n').find((l) => l.startsWith(`${group}:`));
  return line?.split(':')[3]?.split(',').filter(Boolean) ?? [];
}

/** Whether `password` opens `name` in the fake root: crypt(password, stored hash) === stored hash. */
export function linuxPasswordOpens(root: string, name: string, password: string): boolean {
  const hash = readFileSync(path.join(root, 'etc/shadow'), 'utf8').split('\n').find((l) => l.startsWith(`${name}:`))?.split(':')[1];
  if (!hash || hash.startsWith('!') || hash === '*') return false;
  const check = spawnSync('perl', ['-e', 'my $h = <STDIN>; chomp $h; my $p = do { local $/; <STDIN> }; print crypt($p, $h) eq $h ? "yes" : "no"'], {
    input: `${hash}\n${password}`,
    encoding: 'utf8',
  });
  return check.stdout === 'yes';
}

export const HAVE_SAMBA = ['/usr/bin/samba-tool', '/usr/bin/testparm', '/usr/bin/setsid'].every((f) => existsSync(f));

/**
 * A throwaway Samba AD domain (CORP.TEST) provisioned with no daemon into `dir`, no admin password in argv (samba-tool
 * makes one up). Its policy is set so rotation qualifies: minimum age 0, complexity on. Returns the smb.conf path.
 */
export async function provisionSambaDomain(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'empty.conf'), '');
  const env = { ...process.env, LC_ALL: 'C' };
  const provision = spawnSync(
    'samba-tool',
    ['domain', 'provision', '-s', path.join(dir, 'empty.conf'), '--realm=CORP.TEST', '--domain=CORP', '--server-role=dc', '--dns-backend=NONE', '--use-rfc2307', `--targetdir=${path.join(dir, 'dc')}`],
    { env, encoding: 'utf8', timeout: 120_000 },
  );
  if (provision.status !== 0) throw new Error(`samba-tool domain provision failed: ${provision.stderr}`);
  const smbConf = path.join(dir, 'dc/etc/smb.conf');
  const settings = spawnSync('samba-tool', ['domain', 'passwordsettings', 'set', '--min-pwd-age=0', '--complexity=on'], { env: { ...env, SMB_CONF_PATH: smbConf }, encoding: 'utf8' });
  if (settings.status !== 0) throw new Error(`samba-tool domain passwordsettings set failed: ${settings.stderr}`);
  return smbConf;
}
