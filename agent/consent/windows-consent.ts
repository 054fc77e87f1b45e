import type { CommandResult, CommandRunner } from '../platform/run-command.ts';
import { ConsentUnavailable, type ConsentAnswer, type ConsentPrompter, type ConsentText, type InteractiveUser } from './consent-prompter.ts';
import { decideAsk, type DialogOutcome } from './consent-race.ts';

/**
 * Every Win32 number this file uses, in one place, checked against Microsoft Learn:
 * - MessageBox uType flags, IDYES / IDNO: https://learn.microsoft.com/en-us/windows/win32/api/winuser/nf-winuser-messagebox
 * - WTSSendMessageW (IDTIMEOUT, IDASYNC, Timeout in seconds, bWait, lengths in bytes):
 *   https://learn.microsoft.com/en-us/windows/win32/api/wtsapi32/nf-wtsapi32-wtssendmessagew
 * - WTS_CONNECTSTATE_CLASS (WTSActive is the first member, 0):
 *   https://learn.microsoft.com/en-us/windows/win32/api/wtsapi32/ne-wtsapi32-wts_connectstate_class
 * - WTS_INFO_CLASS (WTSUserName 5, WTSDomainName 7): https://learn.microsoft.com/en-us/windows/win32/api/wtsapi32/ne-wtsapi32-wts_info_class
 * - WTSEnumerateSessionsW (Reserved 0, Version must be 1; WTS_CURRENT_SERVER_HANDLE is ((HANDLE)NULL) in wtsapi32.h):
 *   https://learn.microsoft.com/en-us/windows/win32/api/wtsapi32/nf-wtsapi32-wtsenumeratesessionsw
 */
export const WIN32 = {
  MB_OK: 0x0,
  MB_YESNO: 0x4,
  MB_ICONQUESTION: 0x20,
  MB_ICONINFORMATION: 0x40,
  MB_DEFBUTTON2: 0x100,
  MB_SETFOREGROUND: 0x10000,
  MB_TOPMOST: 0x40000,
  IDYES: 6,
  IDNO: 7,
  IDTIMEOUT: 32000,
  IDASYNC: 32001,
  WTS_CURRENT_SERVER_HANDLE: 0,
  WTS_ENUMERATE_VERSION: 1,
  WTSActive: 0,
  WTSUserName: 5,
  WTSDomainName: 7,
} as const;

/** A notice: one OK button, information icon; the box stays until the user dismisses it. */
export const NOTIFY_STYLE = WIN32.MB_OK | WIN32.MB_ICONINFORMATION;
/** A question: Yes / No with No (deny) as the default button, so a stray Enter never grants access. */
export const ASK_STYLE = WIN32.MB_YESNO | WIN32.MB_ICONQUESTION | WIN32.MB_DEFBUTTON2 | WIN32.MB_TOPMOST | WIN32.MB_SETFOREGROUND;

export const POWERSHELL_ARGS = ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command', '-'];

/** P/Invoke of wtsapi32. No apostrophes: it travels inside a single-quoted PowerShell string. */
const WTS_CSHARP = [
  'using System; using System.Runtime.InteropServices;',
  'public class StewardWtsSession { public int Id; public int State; public string Station; public string User; public string Domain; }',
  'public class StewardWtsSent { public bool Ok; public int Response; public int Error; }',
  'public static class StewardWts {',
  `static readonly IntPtr Server = new IntPtr(${WIN32.WTS_CURRENT_SERVER_HANDLE});`,
  '[StructLayout(LayoutKind.Sequential)] struct SessionInfo { public int SessionId; public IntPtr WinStationName; public int State; }',
  '[DllImport("wtsapi32.dll", SetLastError = true)] static extern bool WTSEnumerateSessionsW(IntPtr server, int reserved, int version, out IntPtr info, out int count);',
  '[DllImport("wtsapi32.dll", SetLastError = true)] static extern bool WTSQuerySessionInformationW(IntPtr server, int session, int infoClass, out IntPtr buffer, out int bytes);',
  '[DllImport("wtsapi32.dll")] static extern void WTSFreeMemory(IntPtr memory);',
  '[DllImport("wtsapi32.dll", SetLastError = true, CharSet = CharSet.Unicode)] static extern bool WTSSendMessageW(IntPtr server, int session, string title, int titleBytes, string message, int messageBytes, int style, int timeout, out int response, bool wait);',
  'static string Query(int session, int infoClass) { IntPtr buffer; int bytes; if (!WTSQuerySessionInformationW(Server, session, infoClass, out buffer, out bytes)) return null; try { return Marshal.PtrToStringUni(buffer); } finally { WTSFreeMemory(buffer); } }',
  'public static StewardWtsSession[] Sessions() { IntPtr info; int count;',
  `if (!WTSEnumerateSessionsW(Server, 0, ${WIN32.WTS_ENUMERATE_VERSION}, out info, out count)) throw new System.ComponentModel.Win32Exception();`,
  'try { var rows = new StewardWtsSession[count]; int size = Marshal.SizeOf(typeof(SessionInfo));',
  'for (int i = 0; i < count; i++) { var s = (SessionInfo)Marshal.PtrToStructure(new IntPtr(info.ToInt64() + (long)i * size), typeof(SessionInfo));',
  `rows[i] = new StewardWtsSession { Id = s.SessionId, State = s.State, Station = Marshal.PtrToStringUni(s.WinStationName), User = Query(s.SessionId, ${WIN32.WTSUserName}), Domain = Query(s.SessionId, ${WIN32.WTSDomainName}) }; }`,
  'return rows; } finally { WTSFreeMemory(info); } }',
  'public static StewardWtsSent Send(int session, string title, string message, int style, int timeout, bool wait) { int response;',
  'bool ok = WTSSendMessageW(Server, session, title, title.Length * 2, message, message.Length * 2, style, timeout, out response, wait);',
  'return new StewardWtsSent { Ok = ok, Response = response, Error = ok ? 0 : Marshal.GetLastWin32Error() }; } }',
].join(' ');

/**
 * The whole script is ONE line, followed on stdin by one line of JSON (the request). `-Command -` reads stdin like a
 * REPL, one line at a time, through the same Console.In the script reads (PowerShell's ConsoleHostUserInterface
 * .ReadLineFromFile reads it character by character), so `[Console]::In.ReadLine()` inside line 1 gets line 2 and
 * PowerShell never executes the request as code. Multi-line statements would need blank-line terminators in that
 * mode, hence one line. The script text never changes: titles and messages reach WTSSendMessage only as JSON data.
 */
export const WINDOWS_CONSENT_SCRIPT = [
  "$ErrorActionPreference = 'Stop'",
  '[Console]::OutputEncoding = [System.Text.Encoding]::UTF8',
  'try { $line = [Console]::In.ReadLine()',
  "if (-not $line) { throw 'no request line on stdin' }",
  '$req = ConvertFrom-Json -InputObject $line',
  `Add-Type -TypeDefinition '${WTS_CSHARP}'`,
  "if ($req.action -eq 'sessions') { foreach ($s in [StewardWts]::Sessions()) { ConvertTo-Json -Compress -InputObject ([ordered]@{ id = $s.Id; state = $s.State; station = $s.Station; user = $s.User; domain = $s.Domain }) } }" +
    " elseif ($req.action -eq 'send') { foreach ($id in @($req.sessions)) { $r = [StewardWts]::Send([int]$id, [string]$req.title, [string]$req.message, [int]$req.style, [int]$req.timeout, [bool]$req.wait); ConvertTo-Json -Compress -InputObject ([ordered]@{ session = [int]$id; ok = $r.Ok; response = $r.Response; error = $r.Error }) } }" +
    " else { throw ('unknown action ' + $req.action) } } catch { [Console]::Error.WriteLine($_.Exception.Message); exit 1 }",
].join('; ');

type WtsRequest =
  | { action: 'sessions' }
  | { action: 'send'; sessions: number[]; title: string; message: string; style: number; timeout: number; wait: boolean };

/**
 * The request line: JSON with every non-ASCII character as a \u escape, so it survives the OEM code page Windows
 * PowerShell reads stdin with, and no raw line break can end it early.
 */
export function requestLine(request: WtsRequest): string {
  return JSON.stringify(request).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Listing sessions and compiling the P/Invoke (Add-Type runs csc) takes seconds on a slow machine. */
const SCRIPT_TIMEOUT_MS = 60_000;
/** How long past the dialog's own timeout we wait for PowerShell to start, compile and report before giving up. */
const ASK_GRACE_MS = 30_000;

type Outcome = DialogOutcome;

/**
 * Windows: the agent runs as LocalSystem in session 0, so it reaches users through Remote Desktop Services, which
 * covers the console and every RDP session alike. Only active sessions count (a disconnected one shows nothing to
 * anyone). OpenSSH logons have no terminal-services session and cannot be reached, so they are not listed.
 *
 * Asking several sessions runs one PowerShell per session concurrently; the first Yes or No wins and the other
 * PowerShell processes are killed. Their message boxes cannot be withdrawn (WTSSendMessage has no cancel), so they
 * stay until the shared timeout closes them, and whatever is clicked there is ignored. Only IDYES is consent: IDNO
 * and any other answer the box reports are a refusal, IDTIMEOUT is a timeout, and a box that could not be shown
 * (WTSSendMessage failed, PowerShell failed) is neither: when no box could be shown at all, ask() throws
 * ConsentUnavailable so the caller fails closed.
 */
export class WindowsConsent implements ConsentPrompter {
  constructor(private readonly run: CommandRunner) {}

  async interactiveUsers(): Promise<InteractiveUser[]> {
    const result = await this.powershell({ action: 'sessions' }, { timeoutMs: SCRIPT_TIMEOUT_MS });
    // An empty list means "nobody to tell"; a failure must not look like that, so it throws.
    if (result.code !== 0) throw new Error(`powershell exited ${result.code}: ${result.stderr.trim()}`);
    const users: InteractiveUser[] = [];
    for (const row of jsonLines(result.stdout).map(sessionRow)) {
      if (row.state !== WIN32.WTSActive || !row.user) continue;
      users.push({ name: row.domain ? `${row.domain}\\${row.user}` : row.user, session: String(row.id), graphical: true });
    }
    return users;
  }

  async notify(users: InteractiveUser[], text: ConsentText): Promise<InteractiveUser[]> {
    const reachable = users.filter(inSession);
    if (reachable.length === 0) return [];
    const request = sendRequest(reachable.map((u) => Number(u.session)), text, NOTIFY_STYLE, 0, false);
    const result = await this.powershell(request, { timeoutMs: SCRIPT_TIMEOUT_MS });
    if (result.code !== 0) return [];
    // bWait = FALSE: a box that was put up answers IDASYNC at once; anything else was not delivered.
    const delivered = new Set(sentRows(result.stdout).filter((r) => r.ok && r.response === WIN32.IDASYNC).map((r) => r.session));
    return reachable.filter((u) => delivered.has(Number(u.session)));
  }

  async ask(users: InteractiveUser[], text: ConsentText, timeoutMs: number): Promise<{ answer: ConsentAnswer; by: string | null }> {
    const askable = users.filter(inSession);
    if (askable.length === 0) {
      throw new ConsentUnavailable(users.length === 0 ? 'nobody is logged on to ask' : 'nobody logged on has an active Windows session to ask in');
    }
    const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
    const stop = new AbortController();
    let pastDeadline = false;
    const deadline = setTimeout(() => {
      pastDeadline = true;
      stop.abort();
    }, timeoutMs + ASK_GRACE_MS);
    const outcomes = askable.map(async (user) => {
      const request = sendRequest([Number(user.session)], text, ASK_STYLE, seconds, true);
      const result = await this.powershell(request, { timeoutMs: timeoutMs + ASK_GRACE_MS + 5_000, signal: stop.signal });
      const outcome: Outcome = result.code === null && pastDeadline ? 'timeout' : askOutcome(result, Number(user.session));
      return { user, outcome };
    });
    try {
      return await decideAsk(outcomes, 'no consent dialog could be shown in any Windows session');
    } finally {
      clearTimeout(deadline);
      stop.abort();
    }
  }

  private powershell(request: WtsRequest, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<CommandResult> {
    return this.run('powershell.exe', POWERSHELL_ARGS, {
      input: `${WINDOWS_CONSENT_SCRIPT}\n${requestLine(request)}\n`,
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
    });
  }
}

function inSession(user: InteractiveUser): boolean {
  return user.graphical && /^\d+$/.test(user.session);
}

function sendRequest(sessions: number[], text: ConsentText, style: number, timeout: number, wait: boolean): WtsRequest {
  return { action: 'send', sessions, title: text.title, message: text.message, style, timeout, wait };
}

/** What one WTSSendMessage with bWait = TRUE reported for `session`. */
function askOutcome(result: CommandResult, session: number): Outcome {
  if (result.code !== 0) return 'failed';
  let row: SentRow | undefined;
  try {
    row = sentRows(result.stdout).find((r) => r.session === session);
  } catch {
    return 'failed';
  }
  if (!row || !row.ok) return 'failed';
  if (row.response === WIN32.IDYES) return 'allowed';
  if (row.response === WIN32.IDTIMEOUT) return 'timeout';
  return 'denied';
}

/** The first dialog answered Yes or No (or otherwise refused), or null once every dialog ended without one. */

interface SessionRow {
  id: number;
  state: number;
  user: string | null;
  domain: string | null;
}

interface SentRow {
  session: number;
  ok: boolean;
  response: number;
}

/** The script's JSON lines; anything else on stdout (there should be nothing) is skipped. */
function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.startsWith('{'))
    .map((line) => {
      const value: unknown = JSON.parse(line);
      if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error(`not a JSON object: ${line}`);
      return value as Record<string, unknown>;
    });
}

function sessionRow(row: Record<string, unknown>): SessionRow {
  const { id, state, user, domain } = row;
  if (!isCount(id) || !isCount(state) || !isOptionalString(user) || !isOptionalString(domain)) {
    throw new Error(`unexpected WTS session row: ${JSON.stringify(row)}`);
  }
  return { id, state, user: user ?? null, domain: domain ?? null };
}

function sentRows(stdout: string): SentRow[] {
  return jsonLines(stdout).map((row) => {
    const { session, ok, response } = row;
    if (!isCount(session) || typeof ok !== 'boolean' || !isCount(response)) throw new Error(`unexpected WTSSendMessage row: ${JSON.stringify(row)}`);
    return { session, ok, response };
  });
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

function isOptionalString(value: unknown): value is string | null | undefined {
  return value === null || value === undefined || typeof value === 'string';
}
