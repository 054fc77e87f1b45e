import type { CommandResult, CommandRunner } from '../platform/run-command.ts';
import { readLinuxServiceAccounts } from './linux-service-accounts.ts';
import {
  AccountBackendError,
  STEWARD_MARKER,
  type AccountBackend,
  type AccountState,
  type EndpointPasswordPolicy,
  type ManagedAccountSpec,
  type ServiceAccountUse,
} from './account-backend.ts';

/**
 * Steward's NOC account as a domain account on a Linux Samba AD domain controller, driven through `samba-tool`
 * working on the directory database directly (no running daemon needed).
 *
 * Passwords: `samba-tool user create|setpassword` without a password argument read it twice from stdin through
 * Python's getpass — but getpass opens /dev/tty first and only falls back to stdin when the process has no
 * controlling terminal. CommandRunner's stdio pipes do not detach the child from the agent's terminal (an agent
 * started from a shell hangs on "New Password:"), so every samba-tool call goes through `setsid -w`, which gives the
 * child a new session without a terminal and passes its exit code back.
 */

export interface SambaAdOptions {
  /** smb.conf of the DC, passed as SMB_CONF_PATH to every call; default: Samba's own default. */
  smbConf?: string;
  /** Python with samba's modules; the python3 first on PATH (pyenv, venv) may lack them. */
  python?: string;
  /** Root of the file system whose systemd units and cron tables are scanned for service accounts; tests use a fake root. */
  root?: string;
}

const ADMIN_GROUP = 'Domain Admins';
const UF_ACCOUNTDISABLE = 0x2;
/** Microsoft's sAMAccountName rules: none of these characters, no control characters; leading '-' would be an option. */
const INVALID_NAME = /[\x00-\x1f"/\\[\]:;|=,+*?<>@]|^-|^$/;
/** AD's "password must meet complexity requirements": 3 of the character categories, and not the account name. */
const COMPLEXITY_MIN_CLASSES = 3;

/**
 * Compares the stored NT hash with MD4(UTF-16LE(password)) inside samba's own Python, so neither the password
 * (stdin) nor the hash (which is password-equivalent) ever appears in argv or reaches the agent. hashlib and Node
 * both lack MD4 under OpenSSL 3; samba.crypto has it.
 */
const VERIFY_SCRIPT = `
import os, sys, hmac, ldb
from samba.param import LoadParm
from samba.samdb import SamDB
from samba.auth import system_session
from samba.crypto import md4_hash_blob
raw = sys.stdin.buffer.readline()
password = raw[:-1] if raw.endswith(b'\\n') else raw
lp = LoadParm()
conf = os.environ.get('SMB_CONF_PATH')
lp.load(conf) if conf else lp.load_default()
db = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)
res = db.search(base=db.domain_dn(), scope=ldb.SCOPE_SUBTREE, attrs=['unicodePwd'],
    expression='(&(objectClass=user)(sAMAccountName=%s))' % ldb.binary_encode(sys.argv[1]))
if len(res) != 1:
    print('not_found'); sys.exit(3)
stored = res[0].get('unicodePwd')
if stored is None:
    print('no_hash'); sys.exit(0)
digest = md4_hash_blob(password.decode('utf-8').encode('utf-16-le'))
print('match' if hmac.compare_digest(bytes(stored[0]), bytes(digest)) else 'mismatch')
`;

export class SambaAdAccounts implements AccountBackend {
  readonly kind = 'samba-ad' as const;
  readonly scope = 'domain' as const;
  private readonly env: NodeJS.ProcessEnv;

  constructor(
    private readonly run: CommandRunner,
    private readonly opts: SambaAdOptions = {},
  ) {
    // C locale for untranslated output; UTF-8 mode so a non-ASCII password read from stdin keeps its bytes.
    this.env = { ...process.env, LC_ALL: 'C', LANG: 'C', PYTHONUTF8: '1' };
    if (opts.smbConf) this.env.SMB_CONF_PATH = opts.smbConf;
  }

  async readPolicy(): Promise<EndpointPasswordPolicy> {
    const result = await this.sambaTool(['domain', 'passwordsettings', 'show'], 'read the domain password policy');
    const fields = new Map<string, string>();
    for (const line of result.stdout.split('\n')) {
      const m = /^([^:]+):\s*(.*?)\s*$/.exec(line);
      if (m) fields.set(m[1].trim().toLowerCase(), m[2]);
    }
    const sources: string[] = [];
    const field = (label: string): string => {
      const value = fields.get(label.toLowerCase());
      if (value === undefined) throw new AccountBackendError('tool_failed', `samba-tool domain passwordsettings show printed no "${label}"`);
      sources.push(`samba-tool domain passwordsettings show: ${label}: ${value}`);
      return value;
    };
    const count = (label: string): number => {
      const value = field(label);
      if (!/^\d+$/.test(value)) throw new AccountBackendError('tool_failed', `unexpected "${label}" value "${value}" from samba-tool`);
      return Number(value);
    };
    const complexity = field('Password complexity') === 'on';
    return {
      minAgeDays: count('Minimum password age (days)'),
      minLength: count('Minimum password length'),
      maxLength: null,
      minClasses: complexity ? COMPLEXITY_MIN_CLASSES : 1,
      requiredClasses: [],
      rejectsAccountName: complexity,
      historyLength: count('Password history length'),
      sources,
    };
  }

  async lookup(name: string): Promise<AccountState | null> {
    const attrs = ldifAttributes(await this.userShow(name, 'objectSid,sAMAccountName,displayName,description,memberOf,userAccountControl'));
    if (!attrs) return null;
    const first = (key: string) => attrs.get(key.toLowerCase())?.[0];
    const sid = first('objectSid');
    const uac = Number(first('userAccountControl'));
    if (!sid || !Number.isInteger(uac)) throw new AccountBackendError('tool_failed', `samba-tool user show ${name}: no objectSid/userAccountControl`);
    return {
      name: first('sAMAccountName') ?? name,
      id: sid,
      fullName: first('displayName') ?? '',
      managedBySteward: (attrs.get('description') ?? []).some((d) => d.includes(STEWARD_MARKER)),
      // Direct membership only: that is what ensureAdmin repairs. The first RDN names the group.
      admin: (attrs.get('memberof') ?? []).some((dn) => dn.toLowerCase().startsWith(`cn=${ADMIN_GROUP.toLowerCase()},`)),
      enabled: (uac & UF_ACCOUNTDISABLE) === 0,
    };
  }

  async create(spec: ManagedAccountSpec, password: string): Promise<AccountState> {
    checkName(spec.name);
    checkPassword(password);
    if (await this.lookup(spec.name)) throw new AccountBackendError('exists', `domain account ${spec.name} already exists`);
    // CN = the account name, so a second object with the same display name cannot block creation.
    const args = ['user', 'create', spec.name, '--use-username-as-cn', `--description=${STEWARD_MARKER}`];
    if (spec.fullName) args.push(`--given-name=${spec.fullName}`); // samba builds displayName from the name parts
    await this.sambaTool(args, `create domain account ${spec.name}`, password);
    try {
      await this.sambaTool(['group', 'addmembers', ADMIN_GROUP, spec.name], `add ${spec.name} to ${ADMIN_GROUP}`);
    } catch (err) {
      // Left in place: it carries the marker, so the next run finds it as ours and ensureAdmin retries.
      throw new AccountBackendError('tool_failed', `created ${spec.name} but could not make it an admin: ${(err as Error).message}`);
    }
    const state = await this.lookup(spec.name);
    if (!state) throw new AccountBackendError('tool_failed', `domain account ${spec.name} not found right after creating it`);
    return state;
  }

  async setPassword(name: string, password: string): Promise<void> {
    checkName(name);
    checkPassword(password);
    await this.sambaTool(['user', 'setpassword', name], `set the password of ${name}`, password);
  }

  async ensureAdmin(name: string): Promise<void> {
    const state = await this.lookup(name);
    if (!state) throw new AccountBackendError('not_found', `domain account ${name} not found`);
    // addmembers fails on an existing member, so only call it when the membership is missing.
    if (!state.admin) await this.sambaTool(['group', 'addmembers', ADMIN_GROUP, name], `add ${name} to ${ADMIN_GROUP}`);
  }

  async verifyPassword(name: string, password: string): Promise<boolean> {
    checkName(name);
    checkPassword(password);
    const python = this.opts.python ?? '/usr/bin/python3';
    const result = await this.run(python, ['-c', VERIFY_SCRIPT, name], { input: `${password}\n`, env: this.env, timeoutMs: 30_000 });
    const verdict = result.stdout.trim();
    if (result.code === 0 && verdict === 'match') return true;
    if (result.code === 0 && (verdict === 'mismatch' || verdict === 'no_hash')) return false;
    if (result.code === 3) throw new AccountBackendError('not_found', `domain account ${name} not found`);
    if (result.code === null && /ENOENT/.test(result.stderr)) throw new AccountBackendError('tool_missing', `${python} not found`);
    throw new AccountBackendError('tool_failed', `could not check the password of ${name}: ${reason(result, password)}`);
  }

  async disable(name: string): Promise<void> {
    checkName(name);
    await this.sambaTool(['user', 'disable', name], `disable ${name}`);
  }

  async remove(name: string): Promise<void> {
    checkName(name);
    await this.sambaTool(['user', 'delete', name], `delete ${name}`);
  }

  /** When the password was last set (AD pwdLastSet); null when it was never set or must change at next logon. */
  async passwordLastSet(name: string): Promise<Date | null> {
    const attrs = ldifAttributes(await this.userShow(name, 'pwdLastSet'));
    if (!attrs) throw new AccountBackendError('not_found', `domain account ${name} not found`);
    const raw = attrs.get('pwdlastset')?.[0];
    if (!raw || !/^\d+$/.test(raw)) throw new AccountBackendError('tool_failed', `samba-tool user show ${name}: no pwdLastSet`);
    return fileTimeToDate(BigInt(raw));
  }

  /**
   * Samba has no Windows services or scheduled tasks; on a Linux DC the things that run as an account are systemd
   * units. A unit's User= may name a domain account (through winbind), so every User= counts.
   */
  serviceAccounts(): Promise<ServiceAccountUse[]> {
    // A Linux DC has no Windows services or scheduled tasks: its systemd units and cron tables are what run as accounts.
    return readLinuxServiceAccounts(this.opts.root ?? '/');
  }

  /** LDIF of one user, or null when samba-tool says there is no such user (any other failure throws). */
  private async userShow(name: string, attributes: string): Promise<string | null> {
    checkName(name);
    const result = await this.sambaToolRaw(['user', 'show', name, `--attributes=${attributes}`]);
    if (result.code === 0) return result.stdout;
    if (/Unable to find user/i.test(result.stderr)) return null;
    throw mapFailure(result, `look up ${name}`);
  }

  private async sambaTool(args: string[], action: string, password?: string): Promise<CommandResult> {
    const result = await this.sambaToolRaw(args, password);
    if (result.code !== 0) throw mapFailure(result, action, password);
    return result;
  }

  private sambaToolRaw(args: string[], password?: string): Promise<CommandResult> {
    // samba-tool asks twice ("New Password:" / "Retype Password:").
    const input = password === undefined ? '' : `${password}\n${password}\n`;
    return this.run('setsid', ['-w', 'samba-tool', ...args], { input, env: this.env, timeoutMs: 60_000 });
  }
}

function checkName(name: string): void {
  if (INVALID_NAME.test(name) || name.length > 256) {
    throw new AccountBackendError('unsupported', `"${name.replace(/[\x00-\x1f]/g, '?')}" is not a valid sAMAccountName`);
  }
}

/** The password travels as one stdin line, so it cannot hold a line break; an empty one would be prompted again. */
function checkPassword(password: string): void {
  if (!password || /[\r\n\0]/.test(password)) {
    throw new AccountBackendError('unsupported', 'the password is empty or contains a line break or NUL, which samba-tool cannot read');
  }
}

function mapFailure(result: CommandResult, action: string, password?: string): AccountBackendError {
  // setsid exits 127 when it cannot find samba-tool; the runner reports a missing setsid as code null + ENOENT.
  if (result.code === 127 || (result.code === null && /ENOENT/.test(result.stderr))) {
    return new AccountBackendError('tool_missing', `cannot ${action}: samba-tool or setsid not found (apt-get install samba)`);
  }
  const why = reason(result, password);
  if (/0000052D|check_password_restrictions/i.test(why)) {
    return new AccountBackendError('policy_refused', `the domain refused the password: ${why}`);
  }
  if (/already in use|already exists/i.test(why)) return new AccountBackendError('exists', `cannot ${action}: ${why}`);
  if (/Unable to find (user|account)/i.test(why)) return new AccountBackendError('not_found', `cannot ${action}: ${why}`);
  return new AccountBackendError('tool_failed', `cannot ${action}: ${why}`);
}

/** samba-tool's own "ERROR..." line (else the last line), with the password scrubbed in case a tool ever echoed it. */
function reason(result: CommandResult, password?: string): string {
  const lines = result.stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  let text = lines.find((l) => l.startsWith('ERROR')) ?? lines[lines.length - 1] ?? `exit code ${result.code}`;
  if (password) text = text.split(password).join('[redacted]');
  return text.length > 400 ? `${text.slice(0, 400)}…` : text;
}

/** Attributes of the first LDIF record (names lower-cased), unfolding continuation lines and base64 values. */
function ldifAttributes(ldif: string | null): Map<string, string[]> | null {
  if (ldif === null) return null;
  const attrs = new Map<string, string[]>();
  const lines = ldif.replace(/\r\n/g, '\n').replace(/\n /g, '').split('\n');
  for (const line of lines) {
    const m = /^([A-Za-z][\w;=-]*)(::?) ?(.*)$/.exec(line);
    if (!m) continue;
    const value = m[2] === '::' ? Buffer.from(m[3], 'base64').toString('utf8') : m[3];
    const key = m[1].toLowerCase();
    attrs.set(key, [...(attrs.get(key) ?? []), value]);
  }
  return attrs;
}

/** AD times are 100 ns ticks since 1601-01-01 UTC; 0 means "never" / "must change". */
function fileTimeToDate(ticks: bigint): Date | null {
  if (ticks === 0n) return null;
  return new Date(Number(ticks / 10_000n - 11_644_473_600_000n));
}

