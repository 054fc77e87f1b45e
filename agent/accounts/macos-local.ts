import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { CommandResult, CommandRunner } from '../platform/run-command.ts';
import { parseDsclList } from '../inventory/extras-macos.ts';
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
import { policyFromAccountPolicies } from './macos-password-policy.ts';

/**
 * Steward's "Remote Support" account in the local directory node of a Mac, through dscl, dseditgroup, pwpolicy,
 * createhomedir and plutil (all in the base system).
 *
 * Passwords never go to argv. Every macOS tool that sets or checks a password takes it as an argument
 * (`sysadminctl -addUser … -password PW`, `sysadminctl -resetPasswordFor … -newPassword PW`,
 * `dscl . -passwd PATH PW`, `dscl . -authonly NAME PW`), where any local user can read it in the process table;
 * their prompts ("Pass '-' instead of password … to request prompt", dscl's "you will be securely prompted") are
 * documented for a terminal, not for a pipe. What dscl(1) does document is its interactive mode: "If invoked without
 * any commands, dscl runs in an interactive mode, reading commands from standard input". So the password-bearing
 * commands (`passwd`, `authonly`) are written to the stdin of `dscl -q .` and never appear in any process's argv.
 * The account is therefore created with dscl too (sysadminctl has no way to take the password but argv), which
 * means Steward picks the UniqueID and creates the home folder (createhomedir) itself. Like `sysadminctl -addUser`
 * run without an admin's credentials, it gives the account no SecureToken: it cannot unlock FileVault at boot.
 *
 * dscl's interactive mode splits a command line into words; how it treats a backslash or a double quote inside a
 * quoted word is not documented, so names and passwords containing " or \ (or control characters) are refused
 * rather than guessed at. Steward's generator never uses either character.
 */

export interface MacosAccountOptions {
  /** Prefix for /Library/LaunchDaemons, so tests can use a fixture tree. */
  root?: string;
}

const C_LOCALE_ENV = { ...process.env, LC_ALL: 'C', LANG: 'C' };
/** macOS gives people's accounts uids from 501 (the first account made by Setup Assistant). */
const FIRST_USER_UID = 501;
/** staff, every local user's primary group on macOS. */
const STAFF_GID = 20;
const DISABLED_TAG = ';DisabledUser;';
const UNSAFE_FOR_DSCL = /["\\\x00-\x1f\x7f]/;

export class MacosLocalAccounts implements AccountBackend {
  readonly kind = 'macos-local' as const;
  readonly scope = 'local' as const;

  constructor(
    private readonly run: CommandRunner,
    private readonly opts: MacosAccountOptions = {},
  ) {}

  async readPolicy(): Promise<EndpointPasswordPolicy> {
    const result = await this.tool('pwpolicy', ['-getaccountpolicies'], 'read the password policy');
    // The plist follows a "Getting global account policies" line.
    const xml = result.stdout.slice(Math.max(0, result.stdout.search(/<\?xml|<plist/)));
    if (!xml.includes('<plist')) return policyFromAccountPolicies({});
    const json = await this.tool('plutil', ['-convert', 'json', '-o', '-', '-'], 'read the password policy', xml);
    return policyFromAccountPolicies(parseJsonObject(json.stdout, 'plutil (pwpolicy output)'));
  }

  async lookup(name: string): Promise<AccountState | null> {
    checkMacName(name);
    const keys = ['RecordName', 'UniqueID', 'RealName', 'Comment', 'AuthenticationAuthority'];
    const read = await this.runTool('dscl', ['.', '-read', `/Users/${name}`, ...keys]);
    if (/eDSRecordNotFound|eDSUnknownNodeName/.test(`${read.stdout}\n${read.stderr}`)) return null;
    const attrs = parseDsclRead(read.stdout);
    const uid = attrs.get('UniqueID')?.[0];
    if (!uid) throw failure(`look up ${name}`, 'dscl', read);
    return {
      name: attrs.get('RecordName')?.[0] ?? name,
      id: uid,
      fullName: attrs.get('RealName')?.[0] ?? '',
      managedBySteward: (attrs.get('Comment') ?? []).some((c) => c.includes(STEWARD_MARKER)),
      admin: await this.isAdmin(name),
      enabled: !(attrs.get('AuthenticationAuthority') ?? []).some((a) => a.includes(DISABLED_TAG)),
    };
  }

  async create(spec: ManagedAccountSpec, password: string): Promise<AccountState> {
    checkMacName(spec.name);
    checkDsclWord(spec.fullName, 'the full name');
    checkDsclWord(password, 'the password');
    const what = `create ${spec.name}`;
    if (await this.lookup(spec.name)) throw new AccountBackendError('exists', `${what}: an account with this name already exists`);
    const uid = nextFreeUid(parseDsclList((await this.tool('dscl', ['.', '-list', '/Users', 'UniqueID'], what)).stdout));
    const record = quote(`/Users/${spec.name}`);
    // Password "*" until passwd sets the real one: a record without a password must not be one that opens empty.
    const attributes = [
      `create ${record}`,
      `create ${record} RealName ${quote(spec.fullName)}`,
      `create ${record} UniqueID ${uid}`,
      `create ${record} PrimaryGroupID ${STAFF_GID}`,
      `create ${record} UserShell /bin/zsh`,
      `create ${record} NFSHomeDirectory ${quote(`/Users/${spec.name}`)}`,
      `create ${record} Comment ${quote(STEWARD_MARKER)}`,
      `create ${record} Password "*"`,
    ];
    let step: 'record' | 'password' | 'admin' | 'home' = 'record';
    try {
      await this.dsclSession(attributes, what);
      step = 'password';
      await this.dsclSession([`passwd ${record} ${quote(password)}`], what, password);
      step = 'admin';
      await this.tool('dseditgroup', ['-o', 'edit', '-a', spec.name, '-t', 'user', 'admin'], what);
      step = 'home';
      await this.tool('createhomedir', ['-c', '-u', spec.name], what);
    } catch (err) {
      // No half-made admin account is left behind: the name was free a moment ago, so this record is ours.
      if (step === 'home') await this.runTool('dseditgroup', ['-o', 'edit', '-d', spec.name, '-t', 'user', 'admin']);
      await this.runTool('dscl', ['.', '-delete', `/Users/${spec.name}`]);
      throw err;
    }
    const state = await this.lookup(spec.name);
    if (!state) throw new AccountBackendError('tool_failed', `${what}: the account is not there after creating it`);
    return state;
  }

  async setPassword(name: string, password: string): Promise<void> {
    checkMacName(name);
    checkDsclWord(password, 'the password');
    // As root the local node needs no old password; the account has no SecureToken, so FileVault does not either.
    await this.dsclSession([`passwd ${quote(`/Users/${name}`)} ${quote(password)}`], `set the password of ${name}`, password);
  }

  async ensureAdmin(name: string): Promise<void> {
    checkMacName(name);
    if (!(await this.isAdmin(name))) await this.tool('dseditgroup', ['-o', 'edit', '-a', name, '-t', 'user', 'admin'], `make ${name} an administrator`);
  }

  async verifyPassword(name: string, password: string): Promise<boolean> {
    checkMacName(name);
    checkDsclWord(password, 'the password');
    try {
      await this.dsclSession([`authonly ${quote(name)} ${quote(password)}`], `verify the password of ${name}`, password);
      return true;
    } catch (err) {
      if (err instanceof AuthRefused) return false;
      throw err;
    }
  }

  /** The ";DisabledUser;" authentication authority is what loginwindow and opendirectoryd honour for a local user. */
  async disable(name: string): Promise<void> {
    const state = await this.lookup(name);
    if (!state) throw new AccountBackendError('not_found', `disable ${name}: no such account`);
    if (!state.enabled) return;
    await this.tool('dscl', ['.', '-append', `/Users/${name}`, 'AuthenticationAuthority', DISABLED_TAG], `disable ${name}`);
  }

  /** Leaves /Users/<name> in place: it may hold a technician's files. Leaving admin first means a later account
   * with the same name does not inherit the group membership. */
  async remove(name: string): Promise<void> {
    const state = await this.lookup(name);
    if (!state) throw new AccountBackendError('not_found', `remove ${name}: no such account`);
    if (state.admin) await this.tool('dseditgroup', ['-o', 'edit', '-d', name, '-t', 'user', 'admin'], `remove ${name}`);
    await this.tool('dscl', ['.', '-delete', `/Users/${name}`], `remove ${name}`);
  }

  /** launchd daemons' UserName key (launchd.plist(5)); plutil reads both XML and binary plists. An unreadable plist
   * is skipped: launchd does not load it either. */
  async serviceAccounts(): Promise<ServiceAccountUse[]> {
    const dir = path.join(this.opts.root ?? '/', 'Library', 'LaunchDaemons');
    const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.plist')).sort();
    const uses: ServiceAccountUse[] = [];
    for (const file of files) {
      const result = await this.runTool('plutil', ['-convert', 'json', '-o', '-', path.join(dir, file)]);
      if (isMissing(result)) throw failure('list service accounts', 'plutil', result);
      if (result.code !== 0) continue;
      let job: Record<string, unknown>;
      try {
        job = parseJsonObject(result.stdout, file);
      } catch {
        continue;
      }
      if (typeof job.UserName === 'string' && job.UserName.trim()) {
        uses.push({ account: job.UserName.trim(), kind: 'launchd_job', name: typeof job.Label === 'string' ? job.Label : file.slice(0, -'.plist'.length) });
      }
    }
    return uses;
  }

  private async isAdmin(name: string): Promise<boolean> {
    // "yes NAME is a member of admin" (exit 0) / "no NAME is NOT a member of admin".
    const result = await this.runTool('dseditgroup', ['-o', 'checkmember', '-m', name, 'admin']);
    if (/^yes\b/.test(result.stdout.trim())) return true;
    if (/^no\b/.test(result.stdout.trim())) return false;
    throw failure(`check whether ${name} is an administrator`, 'dseditgroup', result);
  }

  /**
   * One `dscl -q .` session reading `commands` (then quit) from stdin. Every command used here prints nothing when
   * it succeeds, so any output is a failure; it is reported by its DS error name only, since a session's output is
   * never echoed whole when the commands carried a password.
   */
  private async dsclSession(commands: string[], what: string, password?: string): Promise<void> {
    const result = await this.runTool('dscl', ['-q', '.'], `${[...commands, 'quit'].join('\n')}\n`);
    const output = `${result.stdout}${result.stderr}`.trim();
    if (result.code === 0 && !output) return;
    if (isMissing(result)) throw failure(what, 'dscl', result);
    const ds = /eDS\w+/.exec(output)?.[0];
    const code = ds ? DS_ERRORS[ds] : undefined;
    if (code === 'refused') throw new AuthRefused(`${what}: ${ds}`);
    const detail = ds ?? (password === undefined ? firstLine(output) || `exit ${result.code}` : `exit ${result.code}, ${output.split('\n').length} line(s) of output`);
    throw new AccountBackendError(code ?? 'tool_failed', `${what}: dscl ${detail}`);
  }

  private async tool(file: string, args: string[], what: string, input?: string): Promise<CommandResult> {
    const result = await this.runTool(file, args, input);
    if (result.code !== 0) throw failure(what, file, result);
    return result;
  }

  private runTool(file: string, args: string[], input?: string): Promise<CommandResult> {
    return this.run(file, args, { input, timeoutMs: 30_000, env: C_LOCALE_ENV });
  }
}

/** authonly's "the password is wrong" family: a verdict, not a failure. */
class AuthRefused extends Error {}

/** DirectoryService error names (DirServicesConst.h) dscl prints, e.g. "DS Error: -14165 (eDSAuthPasswordQualityCheckFailed)". */
const DS_ERRORS: Record<string, AccountErrorCode | 'refused'> = {
  eDSAuthPasswordQualityCheckFailed: 'policy_refused',
  eDSAuthPasswordTooShort: 'policy_refused',
  eDSAuthPasswordTooLong: 'policy_refused',
  eDSAuthPasswordNeedsLetter: 'policy_refused',
  eDSAuthPasswordNeedsDigit: 'policy_refused',
  eDSRecordNotFound: 'not_found',
  eDSUnknownNodeName: 'not_found',
  eDSAuthUnknownUser: 'not_found',
  eDSAuthFailed: 'refused',
  eDSAuthBadPassword: 'refused',
  eDSAuthAccountDisabled: 'refused',
  eDSAuthAccountExpired: 'refused',
  eDSAuthAccountInactive: 'refused',
};

const isMissing = (result: CommandResult) => result.code === null && /\bENOENT\b/.test(result.stderr);

/** Only for commands that carried no password: the tool's first line of output becomes part of the message. */
function failure(what: string, tool: string, result: CommandResult): AccountBackendError {
  if (isMissing(result)) return new AccountBackendError('tool_missing', `${what}: ${tool} is not installed`);
  const detail = firstLine(result.stderr) || firstLine(result.stdout) || `exit ${result.code}`;
  return new AccountBackendError('tool_failed', `${what}: ${tool} failed: ${detail}`);
}

/** Short names on macOS: no "/" (a path separator to dscl), no leading "-" (an option to dseditgroup). */
function checkMacName(name: string): void {
  if (!name.trim() || name.includes('/') || name.startsWith('-') || UNSAFE_FOR_DSCL.test(name)) {
    throw new AccountBackendError('unsupported', `"${name}" cannot be a macOS account name here (no / " \\ control characters or leading -)`);
  }
}

function checkDsclWord(value: string, label: string): void {
  if (UNSAFE_FOR_DSCL.test(value)) {
    throw new AccountBackendError('unsupported', `${label} contains a double quote, backslash or control character, which dscl's interactive mode cannot take safely`);
  }
}

const quote = (word: string) => `"${word}"`;

function nextFreeUid(uids: Map<string, string>): number {
  const used = new Set([...uids.values()].map(Number));
  let uid = FIRST_USER_UID;
  while (used.has(uid)) uid += 1;
  return uid;
}

/**
 * `dscl . -read PATH KEY…` per dscl(1): "Key: value value…", or, when any value contains a space, "Key:" followed
 * by one value per line, each indented by a space. Absent keys print "No such key: KEY".
 */
export function parseDsclRead(output: string): Map<string, string[]> {
  const attrs = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const line of output.split('\n')) {
    if (/^No such key: /.test(line)) current = null;
    else if (line.startsWith(' ') && current) current.push(line.slice(1));
    else {
      const m = /^([A-Za-z][\w.-]*):(?: (.*))?$/.exec(line);
      if (!m) {
        current = null;
        continue;
      }
      current = m[2] === undefined ? [] : m[2].split(' ').filter(Boolean);
      attrs.set(m[1], current);
    }
  }
  return attrs;
}

function parseJsonObject(textOut: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(textOut);
  } catch {
    throw new AccountBackendError('tool_failed', `${what}: output is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new AccountBackendError('tool_failed', `${what}: output is not a JSON object`);
  return value as Record<string, unknown>;
}

function firstLine(s: string): string {
  return s.trim().split('\n')[0]?.trim() ?? '';
}
