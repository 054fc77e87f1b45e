import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { parseWhoOutput } from '../inventory/who-output.ts';
import type { CommandResult, CommandRunner } from '../platform/run-command.ts';
import { ConsentUnavailable, type ConsentAnswer, type ConsentPrompter, type ConsentText, type InteractiveUser } from './consent-prompter.ts';
import { decideAsk, type DialogOutcome } from './consent-race.ts';
import { displayable } from './consent-text.ts';

export interface MacosConsentOptions {
  /** Where terminal devices live; tests point it at a temporary directory. */
  terminalDir?: string;
}

/** Owners of /dev/console while nobody is logged in at the GUI: the login window, or Setup Assistant. */
const NOBODY_AT_CONSOLE = new Set(['root', 'loginwindow', '_mbsetupuser']);
/** macOS short names; anything else (a leading "-" above all) never goes into an argv. */
const SHORT_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const TERMINAL = /^ttys\d+$/;
const C_LOCALE_ENV = { ...process.env, LC_ALL: 'C', LANG: 'C' };
const TOOL_TIMEOUT_MS = 10_000;
/** How long past the dialog's own "giving up after" we wait for osascript before treating it as unanswered. */
const ASK_GRACE_MS = 15_000;

export const DIALOG_BUTTONS = '{"Deny", "Allow"} default button "Deny" cancel button "Deny"';

type Outcome = DialogOutcome;

/**
 * macOS: the GUI user is whoever owns /dev/console; dialogs and notifications run as that user inside their GUI
 * bootstrap namespace (`launchctl asuser UID sudo -u NAME osascript -`), with the AppleScript on stdin. Titles and
 * messages are written into the script as escaped AppleScript text (appleScriptText) rather than passed as
 * arguments: argv would show them to every local user in the process table, and keeping argv constant keeps the
 * command line the same for every session.
 *
 * Remote terminal logins (ssh: a ttys line with a remote host in `who`) are listed as text sessions and told by
 * writing to their terminal device, as `wall` does (BSD `write` refuses to run without a terminal of its own, which
 * a LaunchDaemon has not). They cannot be asked. Local Terminal windows are not listed: they belong to the console
 * user, who is already told in the GUI.
 *
 * Deny is both the default and the cancel button: Return or Escape refuse, and osascript reports it as error -128.
 * Only the Allow button is consent; a dialog that could not be shown is not an answer, and when none could be
 * shown ask() throws ConsentUnavailable.
 */
export class MacosConsent implements ConsentPrompter {
  private readonly terminalDir: string;

  constructor(
    private readonly run: CommandRunner,
    opts: MacosConsentOptions = {},
  ) {
    this.terminalDir = opts.terminalDir ?? '/dev';
  }

  async interactiveUsers(): Promise<InteractiveUser[]> {
    const users: InteractiveUser[] = [];
    const consoleUser = await this.consoleUser();
    if (consoleUser) users.push({ name: consoleUser, session: 'console', graphical: true });
    const who = await this.run('who', [], { timeoutMs: TOOL_TIMEOUT_MS, env: C_LOCALE_ENV });
    // Failures throw rather than answer "nobody": an empty list lets a session start without anyone being told.
    if (who.code !== 0) throw new Error(`who exited ${who.code}: ${who.stderr.trim()}`);
    for (const login of parseWhoOutput(who.stdout)) {
      if (login.terminal && TERMINAL.test(login.terminal) && login.host && SHORT_NAME.test(login.name)) {
        users.push({ name: login.name, session: login.terminal, graphical: false });
      }
    }
    return users;
  }

  async notify(users: InteractiveUser[], text: ConsentText): Promise<InteractiveUser[]> {
    const reached: InteractiveUser[] = [];
    for (const user of users) {
      let ok = false;
      if (atConsole(user)) {
        const script = `display notification ${appleScriptText(text.message)} with title ${appleScriptText(text.title)}`;
        ok = (await this.osascriptAs(user.name, script, { timeoutMs: TOOL_TIMEOUT_MS }))?.code === 0;
      } else if (!user.graphical && TERMINAL.test(user.session)) {
        ok = await this.writeTerminal(user.session, text);
      }
      if (ok) reached.push(user);
    }
    return reached;
  }

  async ask(users: InteractiveUser[], text: ConsentText, timeoutMs: number): Promise<{ answer: ConsentAnswer; by: string | null }> {
    const askable = users.filter(atConsole);
    if (askable.length === 0) {
      throw new ConsentUnavailable(users.length === 0 ? 'nobody is logged on to ask' : "nobody is logged in at the Mac's screen to ask");
    }
    const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
    const script = dialogScript(text, seconds);
    const stop = new AbortController();
    let pastDeadline = false;
    const deadline = setTimeout(() => {
      pastDeadline = true;
      stop.abort();
    }, timeoutMs + ASK_GRACE_MS);
    const outcomes = askable.map(async (user) => {
      const result = await this.osascriptAs(user.name, script, { timeoutMs: timeoutMs + ASK_GRACE_MS + 5_000, signal: stop.signal });
      const outcome: Outcome = !result ? 'failed' : result.code === null && pastDeadline ? 'timeout' : dialogOutcome(result);
      return { user, outcome };
    });
    try {
      return await decideAsk(outcomes, "the consent dialog could not be shown at the Mac's screen");
    } finally {
      clearTimeout(deadline);
      stop.abort();
    }
  }

  private async consoleUser(): Promise<string | null> {
    const stat = await this.run('stat', ['-f', '%Su', '/dev/console'], { timeoutMs: TOOL_TIMEOUT_MS, env: C_LOCALE_ENV });
    if (stat.code !== 0) throw new Error(`stat /dev/console exited ${stat.code}: ${stat.stderr.trim()}`);
    const name = stat.stdout.trim();
    if (!name || NOBODY_AT_CONSOLE.has(name)) return null;
    if (!SHORT_NAME.test(name)) throw new Error(`unexpected owner of /dev/console: ${JSON.stringify(name)}`);
    return name;
  }

  /** Runs an AppleScript as `name` in their GUI session; null when their uid cannot be found. */
  private async osascriptAs(name: string, script: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<CommandResult | null> {
    if (!SHORT_NAME.test(name)) return null;
    const id = await this.run('id', ['-u', name], { timeoutMs: TOOL_TIMEOUT_MS, env: C_LOCALE_ENV });
    const uid = id.stdout.trim();
    if (id.code !== 0 || !/^\d+$/.test(uid)) return null;
    // sudo -n: never wait for a password prompt (root needs none; this only guards against an odd sudoers).
    return this.run('launchctl', ['asuser', uid, 'sudo', '-n', '-u', name, 'osascript', '-'], {
      input: `${script}\n`,
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
    });
  }

  private async writeTerminal(terminal: string, text: ConsentText): Promise<boolean> {
    const crlf = (s: string) => displayable(s).replace(/\n/g, '\r\n');
    const banner = `\r\n\x07*** ${crlf(text.title)} ***\r\n${crlf(text.message)}\r\n`;
    try {
      // O_NONBLOCK: a terminal stopped with ^S must not hang the agent.
      const handle = await open(path.join(this.terminalDir, terminal), constants.O_WRONLY | constants.O_NOCTTY | constants.O_NONBLOCK | constants.O_APPEND);
      try {
        await handle.write(banner);
      } finally {
        await handle.close();
      }
      return true;
    } catch {
      return false;
    }
  }
}

function atConsole(user: InteractiveUser): boolean {
  return user.graphical && user.session === 'console';
}

export function dialogScript(text: ConsentText, seconds: number): string {
  return `display dialog ${appleScriptText(text.message)} with title ${appleScriptText(text.title)} buttons ${DIALOG_BUTTONS} giving up after ${seconds} with icon caution`;
}

/**
 * osascript prints the dialog reply record as `button returned:Allow, gave up:false`; the cancel button (Deny)
 * raises error -128 ("User canceled.") instead, which osascript reports on stderr with exit status 1.
 */
function dialogOutcome(result: CommandResult): Outcome {
  if (result.code === 1 && /\(-128\)\s*$/.test(result.stderr.trim())) return 'denied';
  if (result.code !== 0) return 'failed';
  const reply = /^button returned:(.*), gave up:(true|false)$/m.exec(result.stdout.trim());
  if (!reply) return 'failed';
  if (reply[2] === 'true') return 'timeout';
  return reply[1] === 'Allow' ? 'allowed' : 'denied';
}



/**
 * An AppleScript expression whose value is the displayable form of `text`. Printable ASCII goes into string
 * literals with `\` and `"` escaped (the only two characters that mean anything inside one); every other character,
 * line breaks included, becomes `(character id N)`. The script stays pure ASCII, so nothing depends on the encoding
 * osascript assumes for stdin, and no character of the text can end a literal early.
 */
export function appleScriptText(text: string): string {
  const parts: string[] = [];
  let literal = '';
  const flush = () => {
    if (literal) parts.push(`"${literal}"`);
    literal = '';
  };
  for (const ch of displayable(text)) {
    const code = ch.codePointAt(0) as number;
    if (code >= 0x20 && code <= 0x7e) {
      literal += ch === '\\' || ch === '"' ? `\\${ch}` : ch;
    } else {
      flush();
      parts.push(`(character id ${code})`);
    }
  }
  flush();
  return parts.length === 0 ? '""' : `(${parts.join(' & ')})`;
}
