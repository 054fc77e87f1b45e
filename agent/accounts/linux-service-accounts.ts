import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { ServiceAccountUse } from './account-backend.ts';

/**
 * Accounts that something on this Linux machine runs as, from files only (under `root`, normally "/"): systemd
 * units' User= (unit files and *.d/*.conf drop-ins, system and vendor directories), the system crontabs' user
 * column, and the per-user crontab spools. Errs towards listing too much: an /etc override that replaces a vendor
 * unit's User= leaves both names listed, since a name in this list is only protected from being taken over.
 */

const UNIT_DIRS = [
  'etc/systemd/system',
  'run/systemd/system',
  'usr/local/lib/systemd/system',
  'lib/systemd/system',
  'usr/lib/systemd/system',
];
/** Unit types whose [Service]/[Socket]/[Mount]/[Swap] section runs processes and so may carry User=. */
const UNIT_FILE = /\.(service|socket|mount|swap)$/;
/** Debian spools per-user crontabs in crontabs/, cronie (RHEL) directly in /var/spool/cron. */
const CRON_SPOOLS = ['var/spool/cron/crontabs', 'var/spool/cron'];
/** cron's own rule for /etc/cron.d: skip editor backups, package-manager leftovers and hidden files. */
const IGNORED_CRON_FILE = /^\.|~$|\.(dpkg-[a-z]+|rpm[a-z]+|ucf-[a-z]+|swp)$/;
const ENV_ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*\s*=/;

export async function readLinuxServiceAccounts(root: string): Promise<ServiceAccountUse[]> {
  const found = new Map<string, ServiceAccountUse>();
  const add = (use: ServiceAccountUse) => found.set(`${use.kind}\0${use.name}\0${use.account}`, use);
  const uidToName = await passwdNames(root);

  for (const dir of UNIT_DIRS) {
    for (const entry of await list(path.join(root, dir))) {
      if (UNIT_FILE.test(entry)) {
        const user = unitUser(await readUnderRoot(root, path.join(root, dir, entry)));
        if (user) add({ account: uidToName.get(user) ?? user, kind: 'systemd_unit', name: entry });
      } else if (entry.endsWith('.d') && UNIT_FILE.test(entry.slice(0, -2))) {
        for (const dropIn of (await list(path.join(root, dir, entry))).filter((f) => f.endsWith('.conf'))) {
          const user = unitUser(await readUnderRoot(root, path.join(root, dir, entry, dropIn)));
          if (user) add({ account: uidToName.get(user) ?? user, kind: 'systemd_unit', name: entry.slice(0, -2) });
        }
      }
    }
  }

  const cronD = (await list(path.join(root, 'etc/cron.d'))).filter((f) => !IGNORED_CRON_FILE.test(f));
  const systemCrontabs = ['etc/crontab', ...cronD.map((f) => `etc/cron.d/${f}`)];
  for (const rel of systemCrontabs) {
    for (const user of systemCrontabUsers(await readUnderRoot(root, path.join(root, rel)))) {
      add({ account: user, kind: 'cron', name: `/${rel}` });
    }
  }

  for (const spool of CRON_SPOOLS) {
    for (const user of await list(path.join(root, spool))) {
      const file = path.join(root, spool, user);
      if (!(await lstat(file).then((s) => s.isFile(), () => false))) continue;
      if (jobLines((await readFile(file, 'utf8').catch(() => '')) ?? '').length > 0) {
        add({ account: user, kind: 'cron', name: `/${spool}/${user}` });
      }
    }
  }
  return [...found.values()];
}

/** The last User= of a unit file or drop-in (a later one overrides, an empty one resets). Specifiers such as %i
 * name no fixed account and are skipped. */
function unitUser(text: string): string | null {
  let user: string | null = null;
  for (const raw of text.split('\n')) {
    const m = /^\s*User\s*=\s*(.*?)\s*$/.exec(raw);
    if (m) user = m[1] || null;
  }
  return user && !user.includes('%') ? user : null;
}

/** /etc/crontab and /etc/cron.d lines: five time fields (or one @keyword), then the user, then the command. */
function systemCrontabUsers(text: string): string[] {
  return jobLines(text)
    .map((line) => line.split(/\s+/))
    .map((fields) => (fields[0].startsWith('@') ? fields[1] : fields[5]))
    .filter((user): user is string => Boolean(user));
}

function jobLines(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#') && !ENV_ASSIGNMENT.test(line));
}

/** Reads a file, resolving symlinks inside `root` (a unit linked to /dev/null is masked and reads as empty). */
async function readUnderRoot(root: string, file: string): Promise<string> {
  let current = file;
  for (let hops = 0; hops < 8; hops++) {
    const info = await lstat(current).catch(() => null);
    if (!info) return '';
    if (!info.isSymbolicLink()) return info.isFile() ? readFile(current, 'utf8').catch(() => '') : '';
    const target = await readlink(current);
    current = path.isAbsolute(target) ? path.join(root, target) : path.resolve(path.dirname(current), target);
  }
  return '';
}

async function list(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

/** uid → name, so a unit's numeric User=1001 is reported by name. */
async function passwdNames(root: string): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  const text = await readFile(path.join(root, 'etc/passwd'), 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const [name, , uid] = line.split(':');
    if (name && uid && !names.has(uid)) names.set(uid, name);
  }
  return names;
}
