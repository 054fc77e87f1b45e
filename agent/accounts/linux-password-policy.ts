import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { CharacterClass, EndpointPasswordPolicy } from './account-backend.ts';

/**
 * A Linux machine's password rules, read from the files that set them (under `root`, normally "/"):
 * login.defs (shadow), the PAM password stack (pam_unix, pam_pwquality / pam_cracklib, pam_pwhistory) and
 * libpwquality's pwquality.conf(.d). Every value says where it came from in `sources`, because qualification
 * shows that text to the administrator.
 *
 * Deliberately conservative: pwquality.conf settings count even when no PAM stack loads pam_pwquality, and even
 * though root's resets bypass pwquality unless `enforce_for_root` is set — a password meeting stricter rules than
 * the machine enforces costs nothing.
 */

/** Debian/Ubuntu/SUSE keep the password stack in common-password; RHEL/Fedora in system-auth and password-auth. */
const PAM_STACKS = ['etc/pam.d/common-password', 'etc/pam.d/system-auth', 'etc/pam.d/password-auth'];
/** libxcrypt and pam_unix both refuse 512 characters or more (tried with chpasswd on Debian 12: 511 passes). */
const MAX_PASSWORD_CHARS = 511;
const PAM_UNIX_DEFAULT_MINLEN = 6;
const PWHISTORY_DEFAULT_REMEMBER = 10;
/** libpwquality 1.4's defaults (pwquality.conf(5)); older releases had minlen 9 with positive credits. */
const PWQUALITY_DEFAULTS: Record<string, string> = { minlen: '8', usercheck: '1' };
const CREDIT_CLASSES: Record<string, CharacterClass> = { dcredit: 'digit', ucredit: 'upper', lcredit: 'lower', ocredit: 'symbol' };
/** Checks the policy type has no field for; random passwords rarely trip them, so they are named, not enforced. */
const NOT_MODELLED = ['maxrepeat', 'maxsequence', 'maxclassrepeat', 'gecoscheck', 'usersubstr', 'badwords'];

interface Setting {
  value: string;
  from: string;
}

interface PamModule {
  module: string;
  args: Map<string, string>;
  file: string;
}

export async function readLinuxPasswordPolicy(root: string): Promise<EndpointPasswordPolicy> {
  const read = (rel: string) => readFile(path.join(root, rel), 'utf8').catch(() => null);
  const sources: string[] = [];
  const policy: EndpointPasswordPolicy = {
    minAgeDays: 0,
    minLength: PAM_UNIX_DEFAULT_MINLEN,
    maxLength: MAX_PASSWORD_CHARS,
    minClasses: 0,
    requiredClasses: [],
    rejectsAccountName: false,
    historyLength: 0,
    sources,
  };

  const defs = parseLoginDefs((await read('etc/login.defs')) ?? '');
  const minDays = intOf(defs.get('PASS_MIN_DAYS'));
  if (minDays !== null) {
    policy.minAgeDays = Math.max(0, minDays);
    sources.push(`login.defs PASS_MIN_DAYS=${minDays} (for new accounts; Steward sets its own account to 0 with chage)`);
  } else {
    sources.push('login.defs sets no PASS_MIN_DAYS: 0, shadow\'s default');
  }

  const lengths: { value: number; source: string }[] = [];
  const defsMinLen = intOf(defs.get('PASS_MIN_LEN'));
  if (defsMinLen !== null) lengths.push({ value: defsMinLen, source: `login.defs PASS_MIN_LEN=${defsMinLen}` });

  const modules: PamModule[] = [];
  for (const rel of PAM_STACKS) modules.push(...passwordModules((await read(rel)) ?? '', `/${rel}`));
  const histories: { value: number; source: string }[] = [];
  for (const m of modules.filter((m) => m.module === 'pam_unix')) {
    const minlen = intOf(m.args.get('minlen'));
    if (minlen !== null) lengths.push({ value: minlen, source: `pam_unix minlen=${minlen} (${m.file})` });
    const remember = intOf(m.args.get('remember'));
    if (remember !== null) histories.push({ value: remember, source: `pam_unix remember=${remember} (${m.file})` });
  }
  for (const m of modules.filter((m) => m.module === 'pam_pwhistory')) {
    const fromArgs = intOf(m.args.get('remember'));
    const fromConf = intOf(parseKeyValues((await read('etc/security/pwhistory.conf')) ?? '').get('remember'));
    if (fromArgs !== null) histories.push({ value: fromArgs, source: `pam_pwhistory remember=${fromArgs} (${m.file})` });
    else if (fromConf !== null) histories.push({ value: fromConf, source: `pwhistory.conf remember=${fromConf}` });
    else {
      const source = `pam_pwhistory without remember= (${m.file}): its default ${PWHISTORY_DEFAULT_REMEMBER}`;
      histories.push({ value: PWHISTORY_DEFAULT_REMEMBER, source });
    }
  }

  const pwq = await pwqualitySettings(root, modules);
  if (pwq) {
    const minlen = intOf(pwq.get('minlen')?.value);
    if (minlen !== null) lengths.push({ value: minlen, source: `minlen=${minlen} (${pwq.get('minlen')?.from})` });
    const minclass = intOf(pwq.get('minclass')?.value);
    if (minclass !== null && minclass > 0) {
      policy.minClasses = Math.min(minclass, 4);
      sources.push(`minclass=${minclass} (${pwq.get('minclass')?.from})`);
    }
    for (const [key, cls] of Object.entries(CREDIT_CLASSES)) {
      const credit = intOf(pwq.get(key)?.value);
      if (credit === null || credit >= 0) continue;
      policy.requiredClasses.push(cls);
      const count = credit < -1 ? `; it asks for ${-credit}, the generator guarantees one` : '';
      sources.push(`${key}=${credit} (${pwq.get(key)?.from}): a ${cls} character is required${count}`);
    }
    const usercheck = pwq.get('usercheck');
    policy.rejectsAccountName = usercheck !== undefined && intOf(usercheck.value) !== 0;
    if (usercheck) sources.push(`usercheck=${usercheck.value} (${usercheck.from})`);
    if (!pwq.has('enforce_for_root')) sources.push('pwquality binds root (the agent) only with enforce_for_root; met anyway');
    for (const key of NOT_MODELLED) {
      const s = pwq.get(key);
      if (s && s.value !== '0') sources.push(`${key}=${s.value} (${s.from}): not modelled`);
    }
  }

  if (lengths.length > 0) {
    const longest = lengths.reduce((a, b) => (b.value > a.value ? b : a));
    policy.minLength = longest.value;
    const others = lengths.length > 1 ? ` (of: ${lengths.map((l) => l.source).join('; ')})` : '';
    sources.push(`minimum length ${longest.value} from ${longest.source}${others}`);
  } else {
    sources.push(`no minimum length configured: pam_unix's default ${PAM_UNIX_DEFAULT_MINLEN}`);
  }
  sources.push(`maximum length ${MAX_PASSWORD_CHARS}: the most libxcrypt and pam_unix accept`);
  if (histories.length > 0) {
    policy.historyLength = Math.max(...histories.map((h) => h.value));
    sources.push(...histories.map((h) => h.source));
  } else {
    sources.push('no pam_pwhistory or pam_unix remember=: no password history');
  }
  return policy;
}

/**
 * libpwquality's effective settings — its defaults, then pwquality.conf.d/*.conf in ASCII order, then
 * pwquality.conf (pwquality.conf(5): the directory is read first), then the PAM module's own arguments — or null
 * when neither a config setting nor pam_pwquality / pam_cracklib is there.
 */
async function pwqualitySettings(root: string, modules: PamModule[]): Promise<Map<string, Setting> | null> {
  const settings = new Map<string, Setting>();
  const dir = path.join(root, 'etc/security/pwquality.conf.d');
  const dropIns = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.conf')).sort();
  const files = [...dropIns.map((f) => `etc/security/pwquality.conf.d/${f}`), 'etc/security/pwquality.conf'];
  for (const rel of files) {
    const text = await readFile(path.join(root, rel), 'utf8').catch(() => '');
    for (const [key, value] of parseKeyValues(text)) settings.set(key, { value, from: `/${rel}` });
  }
  const checkers = modules.filter((m) => m.module === 'pam_pwquality' || m.module === 'pam_cracklib');
  if (settings.size === 0 && checkers.length === 0) return null;
  for (const m of checkers) for (const [key, value] of m.args) settings.set(key, { value, from: `${m.module} in ${m.file}` });
  for (const [key, value] of Object.entries(PWQUALITY_DEFAULTS)) {
    if (!settings.has(key)) settings.set(key, { value, from: 'libpwquality default' });
  }
  return settings;
}

/** The `password` lines of a PAM file: module base name and its key=value / flag arguments. */
function passwordModules(text: string, file: string): PamModule[] {
  const found: PamModule[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    // A leading '-' means "skip quietly if the module is missing"; the control may be a bracketed "[a=b c=d]".
    const m = /^-?password\s+(\[[^\]]*\]|\S+)\s+(\S+)(.*)$/.exec(line);
    if (!m) continue;
    const args = new Map<string, string>();
    for (const arg of m[3].trim().split(/\s+/).filter(Boolean)) {
      const eq = arg.indexOf('=');
      args.set(eq < 0 ? arg : arg.slice(0, eq), eq < 0 ? '1' : arg.slice(eq + 1));
    }
    found.push({ module: path.basename(m[2]).replace(/\.so$/, ''), args, file });
  }
  return found;
}

/** login.defs: "KEY value" per line. */
function parseLoginDefs(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const m = /^\s*([A-Z_][A-Z0-9_]*)\s+(\S+)/.exec(raw);
    if (m) values.set(m[1], m[2]);
  }
  return values;
}

/** pwquality.conf / pwhistory.conf: "key = value", or a bare flag such as enforce_for_root. */
function parseKeyValues(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const eq = line.indexOf('=');
    if (eq < 0) values.set(line.toLowerCase(), '1');
    else values.set(line.slice(0, eq).trim().toLowerCase(), line.slice(eq + 1).trim());
  }
  return values;
}

function intOf(value: string | undefined): number | null {
  if (value === undefined || !/^-?\d+$/.test(value.trim())) return null;
  return Number(value.trim());
}
