import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { CommandRunner } from './run-command.ts';

/** What it takes to start a process as a local account on Linux or macOS. */
export interface PosixAccount {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/**
 * Looks a local account up: in ROOT/etc/passwd when a fake root is given (tests), else through NSS (`getent passwd`)
 * on Linux and Directory Services (`dscl . -read`) on macOS. null when there is no such account.
 */
export async function posixAccount(run: CommandRunner, platform: 'linux' | 'macos', name: string, root?: string): Promise<PosixAccount | null> {
  if (root) {
    const text = await readFile(path.join(root, 'etc/passwd'), 'utf8').catch(() => '');
    return parsePasswdLine(text.split('\n').find((l) => l.startsWith(`${name}:`)) ?? '');
  }
  if (platform === 'linux') {
    const result = await run('getent', ['passwd', name]);
    return result.code === 0 ? parsePasswdLine(result.stdout.trim().split('\n')[0] ?? '') : null;
  }
  const result = await run('dscl', ['.', '-read', `/Users/${name}`, 'UniqueID', 'PrimaryGroupID', 'NFSHomeDirectory', 'UserShell']);
  return result.code === 0 ? parseDsclAccount(name, result.stdout) : null;
}

export function parsePasswdLine(line: string): PosixAccount | null {
  const f = line.split(':');
  if (f.length < 7 || !/^\d+$/.test(f[2]) || !/^\d+$/.test(f[3])) return null;
  return { name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] || '/', shell: f[6] || '/bin/sh' };
}

/** `dscl . -read /Users/NAME UniqueID …` prints `Key: value` lines (dscl(1)); a long value continues on the next line. */
export function parseDsclAccount(name: string, stdout: string): PosixAccount | null {
  const values = new Map<string, string>();
  let last = '';
  for (const line of stdout.split('\n')) {
    const m = /^(\w+):\s*(.*)$/.exec(line);
    if (m) {
      last = m[1];
      values.set(last, m[2]);
    } else if (last && line.startsWith(' ')) values.set(last, `${values.get(last) ?? ''}${line.trim()}`);
  }
  const uid = values.get('UniqueID');
  const gid = values.get('PrimaryGroupID');
  if (!uid || !gid || !/^\d+$/.test(uid) || !/^\d+$/.test(gid)) return null;
  return { name, uid: Number(uid), gid: Number(gid), home: values.get('NFSHomeDirectory') || '/', shell: values.get('UserShell') || '/bin/zsh' };
}
