import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { CommandResult, CommandRunner } from '../platform/run-command.ts';
import {
  AccountBackendError,
  STEWARD_MARKER,
  type AccountBackend,
  type AccountErrorCode,
  type AccountState,
  type EndpointPasswordPolicy,
  type ManagedAccountSpec,
  type ServiceAccountUse,
} from './account-backend.ts';
import { readLinuxPasswordPolicy } from './linux-password-policy.ts';
import { readLinuxServiceAccounts } from './linux-service-accounts.ts';

/**
 * Local accounts on a Linux desktop or standalone server, driven through the shadow tools (useradd, usermod,
 * userdel, chpasswd, chage) so locking, /etc/gshadow, nscd/sssd cache flushes and SELinux labels happen the way
 * the distribution intends. Only the files count: accounts that NSS serves from LDAP/SSSD/winbind are out of scope
 * here (a Samba AD domain has its own backend), which is also why nothing asks `getent`.
 *
 * `root` points every tool and every file read at a copy of /etc (tests). useradd/usermod/userdel take
 * `--prefix ROOT` (they only open ROOT/etc/*); chpasswd and chage have only `-R ROOT`, a chroot. chpasswd under
 * -R cannot run PAM, so it gets `-c METHOD` (login.defs ENCRYPT_METHOD) and hashes itself; without a root it runs
 * through PAM like `passwd`, so pam_pwquality / pam_pwhistory see the change as the administrator configured them.
 *
 * Passwords reach chpasswd and perl on stdin only. chpasswd reads "name:password" lines: shadow 4.13 splits at
 * the first ':' (a ':' in the password would survive), but a newline ends the record, so such passwords are
 * refused rather than mangled; ':' is refused too, since other chpasswd implementations are not as careful.
 */

export interface LinuxLocalOptions {
  /** A directory holding a copy of etc/passwd, shadow, group, gshadow, login.defs (tests); "/" when absent. */
  root?: string;
}

/**
 * English, unlocalised tool messages (stderr is matched below and shown to administrators); sbin on the PATH, where
 * the shadow tools live and which a service manager's PATH may leave out.
 */
const TOOL_ENV = { ...process.env, PATH: `${process.env.PATH ?? '/usr/bin:/bin'}:/usr/local/sbin:/usr/sbin:/sbin`, LC_ALL: 'C', LANG: 'C' };
/** Membership in one of these is administrator rights (same set as the inventory's account list). */
const ADMIN_GROUPS = ['sudo', 'wheel', 'admin'];
/** Where we add an account: sudo on Debian/Ubuntu, wheel on RHEL/Fedora/SUSE/Arch. */
const GRANT_GROUPS = ['sudo', 'wheel'];
/** shadow's is_valid_user_name, minus the odd corners; a leading '-' would be read as an option. */
const VALID_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
const HASH_METHODS = new Set(['YESCRYPT', 'SHA512', 'SHA256']);
const MS_PER_DAY = 86_400_000;

/** Reads the hash line, then the rest of stdin as the password, and says whether crypt() reproduces the hash. */
const VERIFY_SCRIPT =
  'my $h = <STDIN>; chomp $h; my $p = do { local $/; <STDIN> }; $p = "" unless defined $p; ' +
  'my $c = crypt($p, $h); print !defined($c) || $c =~ /^\\*/ ? "unsupported" : $c eq $h ? "match" : "differ";';

interface PasswdEntry {
  name: string;
  uid: string;
  gid: string;
  gecos: string[];
}

export class LinuxLocalAccounts implements AccountBackend {
  readonly kind = 'linux-local' as const;
  readonly scope = 'local' as const;
  private readonly root: string | undefined;

  constructor(
    private readonly run: CommandRunner,
    opts: LinuxLocalOptions = {},
  ) {
    this.root = opts.root;
  }

  readPolicy(): Promise<EndpointPasswordPolicy> {
    return readLinuxPasswordPolicy(this.root ?? '/');
  }

  serviceAccounts(): Promise<ServiceAccountUse[]> {
    return readLinuxServiceAccounts(this.root ?? '/');
  }

  async lookup(name: string): Promise<AccountState | null> {
    checkName(name);
    const entry = (await this.passwd()).find((e) => e.name === name);
    if (!entry) return null;
    const groups = await this.groups();
    const adminGroups = groups.filter((g) => ADMIN_GROUPS.includes(g.name));
    const shadow = await this.shadowFields(name);
    const locked = shadow ? /^[!*]/.test(shadow[1] ?? '') : false;
    // pam_unix's rule: the account is expired from the day stored in field 8 on.
    const expireDay = shadow?.[7] ? Number(shadow[7]) : NaN;
    const expired = Number.isFinite(expireDay) && Math.floor(Date.now() / MS_PER_DAY) >= expireDay;
    return {
      name,
      id: entry.uid,
      fullName: (entry.gecos[0] ?? '').trim(),
      // The marker lives in GECOS' fifth ("other") field, where chfn and desktop tools leave it alone.
      managedBySteward: entry.gecos.slice(4).some((f) => f.trim() === STEWARD_MARKER),
      admin: entry.uid === '0' || adminGroups.some((g) => g.gid === entry.gid || g.members.includes(name)),
      enabled: !locked && !expired,
    };
  }

  async create(spec: ManagedAccountSpec, password: string): Promise<AccountState> {
    checkName(spec.name);
    checkCarriable(password);
    if (/[:,\p{Cc}]/u.test(spec.fullName)) {
      const why = "cannot go into GECOS (no ':', ',' or control characters)";
      throw new AccountBackendError('unsupported', `full name ${JSON.stringify(spec.fullName)} ${why}`);
    }
    if (await this.lookup(spec.name)) throw new AccountBackendError('exists', `account ${spec.name} already exists`);
    const adminGroup = await this.grantGroup();
    const shell = (await this.exists('bin/bash')) || (await this.exists('usr/bin/bash')) ? '/bin/bash' : '/bin/sh';
    const gecos = `${spec.fullName},,,,${STEWARD_MARKER}`;
    const added = await this.tool('useradd', [...this.prefix(), '-m', '-c', gecos, '-s', shell, '-G', adminGroup, spec.name]);
    // 9: the name is taken (by a user or, with USERGROUPS_ENAB, a group) — someone was faster than our lookup.
    if (added.code === 9) throw new AccountBackendError('exists', `useradd: ${added.stderr.trim()}`);
    if (added.code !== 0) throw failure('useradd', added);
    try {
      await this.chpasswd(spec.name, password);
      // Rotation changes the password whenever it must; a minimum age from login.defs would refuse that.
      const aged = await this.tool('chage', [...this.chroot(), '-m', '0', spec.name]);
      if (aged.code !== 0) throw failure('chage', aged);
    } catch (err) {
      // A half-made account (no password) would block every retry with "exists": it is ours, so undo it.
      await this.tool('userdel', [...this.prefix(), '-r', spec.name]).catch(() => undefined);
      throw err;
    }
    const state = await this.lookup(spec.name);
    if (!state) throw new AccountBackendError('tool_failed', `useradd reported success but ${spec.name} is not in passwd`);
    return state;
  }

  async setPassword(name: string, password: string): Promise<void> {
    checkName(name);
    checkCarriable(password);
    await this.require(name);
    await this.chpasswd(name, password);
  }

  async ensureAdmin(name: string): Promise<void> {
    const state = await this.require(name);
    if (state.admin) return;
    const added = await this.tool('usermod', [...this.prefix(), '-a', '-G', await this.grantGroup(), name]);
    if (added.code !== 0) throw failure('usermod', added);
  }

  async verifyPassword(name: string, password: string): Promise<boolean> {
    checkName(name);
    const shadow = await this.shadowFields(name);
    if (!shadow) throw new AccountBackendError('not_found', `account ${name} has no entry in /etc/shadow`);
    const hash = shadow[1] ?? '';
    // Locked ("!…") or password-less ("*") accounts open with no password; an empty field opens with an empty one.
    if (/^[!*]/.test(hash)) return false;
    if (hash === '') return password === '';
    // The hash is no secret from root, but it is an offline-cracking target: stdin, like the password.
    const result = await this.tool('perl', ['-e', VERIFY_SCRIPT], `${hash}\n${password}`, password);
    const verdict = result.stdout.trim();
    if (result.code !== 0 || !['match', 'differ'].includes(verdict)) {
      const method = /^\$[^$]+\$/.exec(hash)?.[0] ?? 'DES';
      const why = verdict === 'unsupported' ? `perl's crypt() cannot compute ${method} hashes here` : failure('perl', result).message;
      throw new AccountBackendError('tool_failed', `cannot verify the password of ${name}: ${why}`);
    }
    return verdict === 'match';
  }

  async disable(name: string): Promise<void> {
    await this.requireOurs(name, 'disable');
    // -L locks the password; -e 1 expires the account, which also stops SSH-key and other non-password logons.
    const locked = await this.tool('usermod', [...this.prefix(), '-L', '-e', '1', name]);
    if (locked.code !== 0) throw failure('usermod', locked);
  }

  async remove(name: string): Promise<void> {
    await this.requireOurs(name, 'remove');
    // -r takes the home directory and mail spool along; a missing spool is only a warning (exit 0).
    const removed = await this.tool('userdel', [...this.prefix(), '-r', name]);
    if (removed.code !== 0) throw failure('userdel', removed);
  }

  private async chpasswd(name: string, password: string): Promise<void> {
    const args = this.root ? ['-R', this.root, '-c', await this.hashMethod()] : [];
    const result = await this.tool('chpasswd', args, `${name}:${password}\n`, password);
    if (result.code === 0) return;
    if (/does not exist/.test(result.stderr)) throw failure('chpasswd', result, 'not_found');
    // PAM's refusals (pam_pwquality "BAD PASSWORD…", pam_unix "You must choose a shorter password", pam_pwhistory).
    const refused = /BAD PASSWORD|choose a (longer|shorter)|too (short|long|simple)|already (been )?used|fewer than|dictionary/i;
    throw failure('chpasswd', result, refused.test(result.stderr) ? 'policy_refused' : 'tool_failed');
  }

  /** Runs a tool in the C locale; a missing binary becomes tool_missing, and the secret never reaches stderr text. */
  private async tool(file: string, args: string[], input?: string, secret?: string): Promise<CommandResult> {
    const result = await this.run(file, args, { input, env: TOOL_ENV, timeoutMs: 60_000 });
    if (result.code === null && /\b(ENOENT|EACCES)\b/.test(result.stderr)) {
      throw new AccountBackendError('tool_missing', `${file} is not installed or not executable (${firstLine(result.stderr)})`);
    }
    if (!secret) return result;
    return { ...result, stdout: result.stdout.split(secret).join('[password]'), stderr: result.stderr.split(secret).join('[password]') };
  }

  private async require(name: string): Promise<AccountState> {
    const state = await this.lookup(name);
    if (!state) throw new AccountBackendError('not_found', `account ${name} does not exist`);
    return state;
  }

  /** Destructive steps only touch accounts carrying our marker: a same-named account of someone else's is not ours. */
  private async requireOurs(name: string, action: string): Promise<void> {
    const state = await this.require(name);
    if (!state.managedBySteward) {
      throw new AccountBackendError('unsupported', `refusing to ${action} ${name}: it does not carry the "${STEWARD_MARKER}" marker`);
    }
  }

  private async grantGroup(): Promise<string> {
    const names = new Set((await this.groups()).map((g) => g.name));
    const group = GRANT_GROUPS.find((g) => names.has(g));
    if (!group) throw new AccountBackendError('unsupported', 'neither a sudo nor a wheel group exists to grant administrator rights');
    return group;
  }

  private async hashMethod(): Promise<string> {
    const defs = (await this.readText('etc/login.defs')) ?? '';
    const method = /^\s*ENCRYPT_METHOD\s+(\S+)/m.exec(defs)?.[1]?.toUpperCase();
    return method && HASH_METHODS.has(method) ? method : 'SHA512';
  }

  private prefix(): string[] {
    return this.root ? ['--prefix', this.root] : [];
  }

  private chroot(): string[] {
    return this.root ? ['-R', this.root] : [];
  }

  private async passwd(): Promise<PasswdEntry[]> {
    const text = await this.readText('etc/passwd');
    if (text === null) throw new AccountBackendError('tool_failed', 'cannot read /etc/passwd');
    return records(text).map(([name, , uid, gid, gecos = '']) => ({ name, uid, gid, gecos: gecos.split(',') }));
  }

  private async groups(): Promise<{ name: string; gid: string; members: string[] }[]> {
    return records((await this.readText('etc/group')) ?? '').map(([name, , gid, members = '']) => ({
      name,
      gid,
      members: members.split(',').map((m) => m.trim()).filter(Boolean),
    }));
  }

  /** The account's shadow fields, or null when it has no shadow entry. Unreadable shadow is an error, not "enabled". */
  private async shadowFields(name: string): Promise<string[] | null> {
    const text = await this.readText('etc/shadow');
    if (text === null) throw new AccountBackendError('tool_failed', 'cannot read /etc/shadow (the agent must run as root)');
    return records(text).find((r) => r[0] === name) ?? null;
  }

  private async readText(rel: string): Promise<string | null> {
    try {
      return await readFile(path.join(this.root ?? '/', rel), 'utf8');
    } catch {
      return null;
    }
  }

  private exists(rel: string): Promise<boolean> {
    return stat(path.join(this.root ?? '/', rel)).then(
      () => true,
      () => false,
    );
  }
}

function checkName(name: string): void {
  if (!VALID_NAME.test(name)) throw new AccountBackendError('unsupported', `${JSON.stringify(name)} is not a valid Linux account name`);
}

/** What chpasswd's "name:password" line cannot carry faithfully. The message never repeats the password. */
function checkCarriable(password: string): void {
  if (password === '') throw new AccountBackendError('unsupported', 'an empty password cannot be set');
  if (/[:\p{Cc}]/u.test(password)) {
    const why = "the password contains ':' or a control character (newline, tab…), which chpasswd cannot carry";
    throw new AccountBackendError('unsupported', why);
  }
}

/** Colon-separated records, skipping blanks, comments and NIS "+"/"-" compat lines. */
function records(text: string): string[][] {
  return text
    .split('\n')
    .filter((line) => line.trim() && !/^[#+-]/.test(line))
    .map((line) => line.split(':'));
}

function failure(file: string, result: CommandResult, code: AccountErrorCode = 'tool_failed'): AccountBackendError {
  const detail = result.stderr.trim() || result.stdout.trim() || 'no output';
  return new AccountBackendError(code, `${file} exited ${result.code ?? '(killed)'}: ${detail}`);
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}
