import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { LocalAccount } from './extras.ts';

/**
 * Local accounts from the files under `root` (normally "/"), so tests can point at a fixture tree.
 *
 * Admin means uid 0 or membership (supplementary, or primary gid) in one of the groups that sudoers/polkit grant
 * full rights to on the common distributions: sudo (Debian/Ubuntu), wheel (RHEL/Fedora/SUSE/Arch), admin (old
 * Ubuntu). `disabled` comes from the shadow file: a password field starting with "!" (locked) or "*" (no
 * password can match) means no password login. When shadow cannot be read we say null (unknown) rather than
 * guessing false.
 */
const ADMIN_GROUPS = new Set(['sudo', 'wheel', 'admin']);

interface GroupEntry {
  name: string;
  gid: string;
  members: string[];
}

export async function readLinuxAccounts(root: string): Promise<LocalAccount[]> {
  const passwd = await readFile(path.join(root, 'etc/passwd'), 'utf8');
  const groups = parseGroup(await readFile(path.join(root, 'etc/group'), 'utf8').catch(() => ''));
  const shadow = await readShadow(path.join(root, 'etc/shadow'));

  const adminGids = new Set(groups.filter((g) => ADMIN_GROUPS.has(g.name)).map((g) => g.gid));
  const adminMembers = new Set(groups.filter((g) => ADMIN_GROUPS.has(g.name)).flatMap((g) => g.members));

  const accounts: LocalAccount[] = [];
  for (const line of passwd.split('\n')) {
    // "+"/"-" lines are NIS compat markers, not accounts.
    if (!line.trim() || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    const fields = line.split(':');
    if (fields.length < 7) throw new Error(`malformed passwd line: ${JSON.stringify(line)}`);
    const [name, , uid, gid, gecos] = fields;
    accounts.push({
      name,
      fullName: gecos.split(',')[0].trim() || null,
      uid,
      isAdmin: uid === '0' || adminGids.has(gid) || adminMembers.has(name),
      disabled: shadow ? lockedState(shadow.get(name)) : null,
    });
  }
  return accounts;
}

function parseGroup(text: string): GroupEntry[] {
  return text
    .split('\n')
    .filter((line) => line.trim() && !line.startsWith('#') && !line.startsWith('+') && !line.startsWith('-'))
    .map((line) => {
      const [name, , gid, members = ''] = line.split(':');
      return { name, gid, members: members.split(',').map((m) => m.trim()).filter(Boolean) };
    });
}

/** name → password field, or null when the file is unreadable (not root, or no shadow file). */
async function readShadow(file: string): Promise<Map<string, string> | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return null;
  }
  const entries = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [name, password] = line.split(':');
    if (name && password !== undefined) entries.set(name, password);
  }
  return entries;
}

function lockedState(password: string | undefined): boolean | null {
  if (password === undefined) return null;
  return password.startsWith('!') || password.startsWith('*');
}
