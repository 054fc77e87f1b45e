import type { CommandRunner } from '../platform/run-command.ts';
import { AccountBackendError, type AccountErrorCode, type ServiceAccountUse } from './account-backend.ts';

/**
 * Runs the Windows account backends' scripts (windows-local.ts, windows-ad.ts) in Windows PowerShell 5.1, the one
 * PowerShell every supported Windows has.
 *
 * Nothing secret or caller-supplied ever reaches argv or the script text. argv is always the same
 * (`-Command -`: commands from stdin), and stdin carries three lines:
 *   1. the script — a constant, one line (PowerShell runs `-Command -` input line by line, "as though typed at the
 *      prompt", so a multi-line script would start running before its end arrived);
 *   2. base64(UTF-8 JSON) of the parameters (account name, full name, description);
 *   3. base64(UTF-8) of the password, only for the scripts that need one.
 * The script's first statements read lines 2 and 3 with [Console]::In.ReadLine(): the console host reads its own
 * command lines from that same reader one character at a time, so those lines are consumed as data, never run.
 * base64 keeps them ASCII, whatever the console input code page (OEM 437/850...) would do to UTF-8.
 *
 * Why not the script text or a cmdlet parameter for the password: with script block logging (event 4104) the
 * script text lands in the event log, and module logging (event 4103) records cmdlet parameter values — so the
 * password goes from a .NET ReadLine into a SecureString by AppendChar, and only the SecureString object (logged
 * as "System.Security.SecureString") is ever bound to a cmdlet (about_Logging_Windows). The one plain-text use is
 * PrincipalContext.ValidateCredentials, a .NET method call that neither kind of logging records.
 *
 * Every script ends in one line of JSON (ConvertTo-Json -Compress). A failure prints {"error":{...}} with the
 * exception types, FullyQualifiedErrorId and HResult — locale-independent, unlike the messages — and exits 1.
 */

export const POWERSHELL = 'powershell.exe';
export const POWERSHELL_ARGS: readonly string[] = ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command', '-'];

/** HRESULT of NERR_PasswordTooShort (2245), "The password does not meet the password policy requirements..." */
const HRESULT_PASSWORD_POLICY = -2147022651;
/** Windows account name rules (sAMAccountName and local SAM): none of these characters, no control characters. */
const INVALID_NAME = /[\x00-\x1f"/\\[\]:;|=,+*?<>@]|^-|^\s|\s$|^$/;

const ERROR_HANDLER = [
  '$record = $_',
  '$types = @()',
  '$inner = $record.Exception',
  'while ($inner) { $types += $inner.GetType().FullName; $last = $inner; $inner = $inner.InnerException }',
  'ConvertTo-Json -Compress -InputObject @{ error = @{ message = $last.Message; types = $types; id = $record.FullyQualifiedErrorId; hresult = $last.HResult } }',
  'exit 1',
].join('; ');

const READ_PARAMETERS = '$p = ConvertFrom-Json ([System.Text.Encoding]::UTF8.GetString([System.Convert]::FromBase64String([Console]::In.ReadLine())))';
const READ_PASSWORD = [
  '$pw = [System.Text.Encoding]::UTF8.GetString([System.Convert]::FromBase64String([Console]::In.ReadLine()))',
  '$sec = New-Object System.Security.SecureString',
  'foreach ($c in $pw.ToCharArray()) { $sec.AppendChar($c) }',
  '$sec.MakeReadOnly()',
].join('; ');

/** A script's own refusal ("exists"), in the same shape as a caught exception. */
export const refuse = (code: AccountErrorCode, message: string) =>
  `ConvertTo-Json -Compress -InputObject @{ error = @{ code = '${code}'; message = '${message}' } }; exit 1`;

/** Builds the one-line script from statements; `password` adds the line-3 read into $pw (plain) and $sec. */
export function accountScript(statements: string[], opts: { password?: boolean } = {}): string {
  const body = [READ_PARAMETERS, ...(opts.password ? [READ_PASSWORD] : []), ...statements].join('; ');
  const script = `$ErrorActionPreference = 'Stop'; [Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false; try { ${body} } catch { ${ERROR_HANDLER} }`;
  if (/[\r\n]/.test(script)) throw new Error('a PowerShell account script must be one line');
  return script;
}

export interface ScriptError {
  code?: string;
  message?: string;
  types?: string[];
  id?: string;
  hresult?: number;
}

const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/**
 * Runs one script and returns its JSON result object. `what` names the operation for error messages ("create
 * Remote Support"); messages never carry the password or its encoding, even if PowerShell echoed them.
 */
export async function runAccountScript(
  run: CommandRunner,
  what: string,
  script: string,
  params: Record<string, string>,
  password?: string,
  timeoutMs = 60_000,
): Promise<Record<string, unknown>> {
  const lines = [script, base64(JSON.stringify(params))];
  if (password !== undefined) lines.push(base64(password));
  const result = await run(POWERSHELL, [...POWERSHELL_ARGS], { input: `${lines.join('\n')}\n`, timeoutMs });
  const secrets = password === undefined ? [] : [password, base64(password)];
  const stderr = redact(firstLine(result.stderr), secrets);
  if (result.code === null) {
    if (/\bENOENT\b/.test(result.stderr)) throw new AccountBackendError('tool_missing', `${what}: powershell.exe is not installed`);
    throw new AccountBackendError('tool_failed', `${what}: powershell did not finish (${stderr || 'no output'})`);
  }
  const json = lastJsonObject(result.stdout);
  if (json && typeof json.error === 'object' && json.error !== null) throw classifyScriptError(what, json.error as ScriptError, secrets);
  if (result.code !== 0) throw new AccountBackendError('tool_failed', `${what}: powershell exited ${result.code}: ${stderr || 'no output'}`);
  if (!json) throw new AccountBackendError('tool_failed', `${what}: powershell printed no JSON result`);
  return json;
}

/** Maps a script's error to the backend's codes by exception type and error id first (the same in every language),
 * the message only as a last resort. */
export function classifyScriptError(what: string, error: ScriptError, secrets: string[] = []): AccountBackendError {
  const message = redact(String(error.message ?? 'unknown error'), secrets);
  const explicit = ['exists', 'not_found', 'policy_refused', 'tool_missing', 'unsupported'].find((c) => c === error.code);
  const tags = [...(Array.isArray(error.types) ? error.types : []), error.id ?? ''].join(' ');
  const code: AccountErrorCode =
    (explicit as AccountErrorCode | undefined) ??
    (/CommandNotFoundException|Modules_ModuleNotFound/.test(tags) ? 'tool_missing'
    : /UserNotFound|ADIdentityNotFoundException|PrincipalNotFound/.test(tags) ? 'not_found'
    : /UserExists|ADIdentityAlreadyExistsException/.test(tags) ? 'exists'
    : /InvalidPassword|PasswordComplexity|PasswordException/.test(tags) || error.hresult === HRESULT_PASSWORD_POLICY ? 'policy_refused'
    : /password does not meet/i.test(message) ? 'policy_refused'
    : 'tool_failed');
  return new AccountBackendError(code, `${what}: ${message}`);
}

/** Refuses names Windows would refuse anyway, before anything runs (a clear reason instead of a cmdlet error). */
export function checkWindowsName(name: string): void {
  if (INVALID_NAME.test(name) || name.length > 20) {
    throw new AccountBackendError('unsupported', `"${name}" is not a valid Windows account name (at most 20 characters, none of " / \\ [ ] : ; | = , + * ? < > @)`);
  }
}

/**
 * Services (Win32_Service.StartName) and scheduled tasks (Principal.UserId) and the accounts they run as. The
 * same on a member server and a domain controller, so both backends share it.
 */
export const SERVICE_ACCOUNTS_SCRIPT = accountScript([
  "$services = @(Get-CimInstance -ClassName Win32_Service | Where-Object { $_.StartName } | Select-Object Name, StartName)",
  "$tasks = @(Get-ScheduledTask | Where-Object { $_.Principal.UserId } | Select-Object TaskPath, TaskName, @{ Name = 'UserId'; Expression = { $_.Principal.UserId } })",
  'ConvertTo-Json -Compress -Depth 3 -InputObject @{ services = $services; tasks = $tasks }',
]);

/** The built-in service identities: no account of ours can be one of them. */
const BUILT_IN_PRINCIPAL = /^(localsystem|system|local ?service|network ?service|s-1-5-(18|19|20)|nt authority\\.*|nt service\\.*|nt virtual machine\\.*)$/i;

/**
 * Reduces "CONTOSO\svc_sql", ".\svc_backup" and "svc_sql@contoso.com" to the bare account name: a reserved name
 * must clash with none of them, local or domain, so dropping the qualifier errs on the side of protecting.
 */
export function parseServiceAccounts(result: Record<string, unknown>): ServiceAccountUse[] {
  const uses = new Map<string, ServiceAccountUse>();
  const add = (raw: unknown, kind: ServiceAccountUse['kind'], name: string) => {
    const principal = text(raw);
    if (!principal || BUILT_IN_PRINCIPAL.test(principal) || !name) return;
    const account = principal.replace(/^.*\\/, '').replace(/@.*$/, '');
    if (account) uses.set(`${kind}\0${name}\0${account.toLowerCase()}`, { account, kind, name });
  };
  for (const s of asArray(result.services) as { Name?: unknown; StartName?: unknown }[]) add(s.StartName, 'service', text(s.Name) ?? '');
  for (const t of asArray(result.tasks) as { TaskPath?: unknown; TaskName?: unknown; UserId?: unknown }[]) {
    add(t.UserId, 'scheduled_task', `${text(t.TaskPath) ?? '\\'}${text(t.TaskName) ?? ''}`);
  }
  return [...uses.values()];
}

export function asArray(value: unknown): unknown[] {
  if (value === null || value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

export function text(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const s = String(value).trim();
  return s ? s : null;
}

/** The result fields every script reports about one account, checked rather than trusted. */
export function accountFields(what: string, r: Record<string, unknown>) {
  const name = text(r.name);
  const sid = text(r.sid);
  if (!name || !sid || typeof r.enabled !== 'boolean' || typeof r.admin !== 'boolean') {
    throw new AccountBackendError('tool_failed', `${what}: PowerShell's account description lacks name, sid, enabled or admin`);
  }
  return { name, sid, fullName: text(r.fullName) ?? '', description: text(r.description) ?? '', enabled: r.enabled, admin: r.admin };
}

function lastJsonObject(stdout: string): Record<string, unknown> | null {
  const lines = stdout.replace(/^\uFEFF/, '').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const last = lines.at(-1);
  if (!last?.startsWith('{')) return null;
  try {
    const value: unknown = JSON.parse(last);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function firstLine(s: string): string {
  return s.trim().split(/\r?\n/)[0]?.trim() ?? '';
}

function redact(s: string, secrets: string[]): string {
  return secrets.filter(Boolean).reduce((out, secret) => out.split(secret).join('[redacted]'), s);
}
