import { constants } from 'node:fs';
import { access, open, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { CommandResult, CommandRunner } from '../platform/run-command.ts';
import { ConsentUnavailable, type ConsentAnswer, type ConsentPrompter, type ConsentText, type InteractiveUser } from './consent-prompter.ts';
import { decideAsk, type DialogOutcome } from './consent-race.ts';
import { displayable } from './consent-text.ts';
import { parseLoginctlSession, parseLoginctlSessionIds } from './loginctl.ts';
import { parseUtmp } from './utmp.ts';

export interface LinuxConsentOptions {
  /**
   * Read logins from this utmp file only, and never from systemd-logind. Without it: logind when it runs, else
   * /var/run/utmp (containers, minimal servers).
   */
  utmpPath?: string;
  /** Where dialog and notification tools are looked for. */
  toolPath?: string[];
}

/** A logged-on user and what it takes to reach them: their tty, or their display, bus and runtime directory. */
interface Login extends InteractiveUser {
  tty: string | null;
  display: string | null;
  wayland: boolean;
}

interface LinuxLogin extends Login {
  uid: number;
  home: string;
}

const DEFAULT_UTMP = '/var/run/utmp';
const DEFAULT_TOOL_PATH = ['/usr/local/bin', '/usr/bin', '/bin'];
/** runuser lives in sbin, which the user-tool path leaves out. */
const SYSTEM_TOOL_PATH = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];
const TTY_NAME = /^(pts\/\d+|tty[A-Za-z]*\d+)$/;
const X_DISPLAY = /^:\d+(\.\d+)?$/;
/** A notice shown by a tool that stays open (xmessage) counts as delivered once it has run this long. */
const DELIVERY_CHECK_MS = 1_000;
const ALLOW_CODE = 101;
const DENY_CODE = 102;

/**
 * Linux: logins come from systemd-logind (`loginctl`) or, without it, from utmp. A text login is told the way `wall`
 * does it, by writing to its tty; a graphical one gets `notify-send` on its session bus (or an `xmessage` window when
 * no notification service runs). Asking needs a graphical login: zenity, kdialog or xmessage run as that user on
 * their display. Text terminals cannot be asked (the shell there reads the keyboard), so a text-only endpoint with
 * consent required stays closed. Everything shown is stripped of control characters first: a technician's name must
 * not carry escape sequences into an end user's terminal.
 */
export class LinuxConsent implements ConsentPrompter {
  private readonly utmpPath: string;
  private readonly utmpOnly: boolean;
  private readonly toolPath: string[];

  constructor(
    private readonly run: CommandRunner,
    opts: LinuxConsentOptions = {},
  ) {
    this.utmpPath = opts.utmpPath ?? DEFAULT_UTMP;
    this.utmpOnly = opts.utmpPath !== undefined;
    this.toolPath = opts.toolPath ?? DEFAULT_TOOL_PATH;
  }

  async interactiveUsers(): Promise<LinuxLogin[]> {
    const fromLogind = this.utmpOnly ? null : await this.logindLogins();
    const raw = fromLogind ?? (await this.utmpLogins());
    const logins: LinuxLogin[] = [];
    const seen = new Set<string>();
    for (const login of raw) {
      const key = `${login.name}@${login.session}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const account = await this.account(login.name);
      if (account) logins.push({ ...login, ...account });
    }
    return logins;
  }

  async notify(users: InteractiveUser[], text: ConsentText): Promise<InteractiveUser[]> {
    const reached: InteractiveUser[] = [];
    for (const user of users as LinuxLogin[]) {
      const ok = user.graphical ? await this.notifyGraphical(user, text) : await this.writeToTty(user, text);
      if (ok) reached.push(user);
    }
    return reached;
  }

  async ask(users: InteractiveUser[], text: ConsentText, timeoutMs: number): Promise<{ answer: ConsentAnswer; by: string | null }> {
    const askable: Array<{ user: LinuxLogin; argv: string[] }> = [];
    for (const user of (users as LinuxLogin[]).filter((u) => u.graphical)) {
      const argv = await this.dialogCommand(user, text, timeoutMs);
      if (argv) askable.push({ user, argv });
    }
    if (askable.length === 0) {
      throw new ConsentUnavailable(
        users.length === 0
          ? 'nobody is logged on to ask'
          : 'nobody logged on can be asked: consent needs a graphical login with zenity, kdialog or xmessage',
      );
    }
    const stop = new AbortController();
    const outcomes = askable.map(async ({ user, argv }) => {
      const result = await this.asUser(user, argv, { timeoutMs: timeoutMs + 5_000, signal: stop.signal });
      return { user, outcome: dialogAnswer(argv[0], result) };
    });
    const timer = setTimeout(() => stop.abort(), timeoutMs);
    try {
      return await decideAsk(outcomes, 'no consent dialog could be shown to the logged-on users');
    } finally {
      clearTimeout(timer);
      stop.abort();
    }
  }

  private async logindLogins(): Promise<Login[] | null> {
    const list = await this.run('loginctl', ['list-sessions', '--no-legend', '--no-pager']);
    if (list.code !== 0) return null;
    const logins: Login[] = [];
    for (const id of parseLoginctlSessionIds(list.stdout)) {
      const show = await this.run('loginctl', ['show-session', id, '-p', 'Name', '-p', 'TTY', '-p', 'Display', '-p', 'Type', '-p', 'State', '-p', 'Class']);
      const session = show.code === 0 ? parseLoginctlSession(show.stdout) : null;
      if (!session || session.class !== 'user' || !['active', 'online'].includes(session.state)) continue;
      const graphical = session.type === 'x11' || session.type === 'wayland';
      logins.push({
        name: session.name,
        session: session.display || session.tty || id,
        graphical,
        tty: TTY_NAME.test(session.tty) ? session.tty : null,
        display: X_DISPLAY.test(session.display) ? session.display : null,
        wayland: session.type === 'wayland',
      });
    }
    return logins;
  }

  private async utmpLogins(): Promise<Login[]> {
    let data: Buffer;
    try {
      data = await readFile(this.utmpPath);
    } catch {
      return [];
    }
    return parseUtmp(data)
      .filter((entry) => processAlive(entry.pid))
      .map((entry) => {
        const display = X_DISPLAY.test(entry.line) ? entry.line : X_DISPLAY.test(entry.host) ? entry.host : null;
        return { name: entry.user, session: display ?? entry.line, graphical: display !== null, tty: TTY_NAME.test(entry.line) ? entry.line : null, display, wayland: false };
      });
  }

  private async account(name: string): Promise<{ uid: number; home: string } | null> {
    const result = await this.run('getent', ['passwd', name]);
    const fields = result.code === 0 ? result.stdout.trim().split('\n')[0]?.split(':') : undefined;
    if (!fields || fields.length < 7 || !/^\d+$/.test(fields[2])) return null;
    return { uid: Number(fields[2]), home: fields[5] };
  }

  /** What `wall` does: the notice written straight to the user's terminal device. */
  private async writeToTty(user: LinuxLogin, text: ConsentText): Promise<boolean> {
    if (!user.tty || !TTY_NAME.test(user.tty)) return false;
    const banner = `\r\n\x07*** ${line(text.title)} ***\r\n${line(text.message)}\r\n`;
    try {
      const handle = await open(`/dev/${user.tty}`, constants.O_WRONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
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

  private async notifyGraphical(user: LinuxLogin, text: ConsentText): Promise<boolean> {
    const notifySend = await this.tool('notify-send');
    if (notifySend && (await exists(`/run/user/${user.uid}/bus`))) {
      const sent = await this.asUser(user, [notifySend, '--app-name=Steward', '--urgency=critical', line(text.title), line(text.message)], { timeoutMs: 10_000 });
      if (sent.code === 0) return true;
    }
    const xmessage = user.display ? await this.tool('xmessage') : null;
    if (!xmessage) return false;
    // xmessage stays open until dismissed (or 10 minutes pass); delivered once it has not failed for a second.
    const shown = this.asUser(user, [xmessage, '-center', '-title', line(text.title), '-buttons', 'OK:0', '-timeout', '600', line(text.message)], { timeoutMs: 610_000 });
    const early = await Promise.race([shown, new Promise<null>((resolve) => setTimeout(() => resolve(null), DELIVERY_CHECK_MS))]);
    return early === null || early.code === 0;
  }

  private async dialogCommand(user: LinuxLogin, text: ConsentText, timeoutMs: number): Promise<string[] | null> {
    const title = line(text.title);
    const message = line(text.message);
    const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
    const zenity = await this.tool('zenity');
    if (zenity) return [zenity, '--question', '--title', title, '--text', message, '--ok-label', 'Allow', '--cancel-label', 'Deny', '--default-cancel', '--timeout', seconds, '--no-markup'];
    const kdialog = await this.tool('kdialog');
    if (kdialog) return [kdialog, '--title', title, '--yes-label', 'Allow', '--no-label', 'Deny', '--yesno', message];
    const xmessage = user.display ? await this.tool('xmessage') : null;
    if (xmessage) return [xmessage, '-center', '-title', title, '-buttons', `Allow:${ALLOW_CODE},Deny:${DENY_CODE}`, '-default', 'Deny', '-timeout', seconds, message];
    return null;
  }

  /** Runs a program as the logged-on user, inside their graphical session, with an environment built from scratch. */
  private async asUser(user: LinuxLogin, argv: string[], opts: { timeoutMs: number; signal?: AbortSignal }): Promise<CommandResult> {
    const runtimeDir = `/run/user/${user.uid}`;
    const env: Record<string, string> = {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      HOME: user.home,
      USER: user.name,
      LOGNAME: user.name,
      LANG: process.env.LANG ?? 'C.UTF-8',
      XDG_RUNTIME_DIR: runtimeDir,
      DBUS_SESSION_BUS_ADDRESS: `unix:path=${runtimeDir}/bus`,
    };
    if (user.display) env.DISPLAY = user.display;
    if (user.wayland) env.WAYLAND_DISPLAY = 'wayland-0';
    const runuser = await this.tool('runuser', SYSTEM_TOOL_PATH);
    if (!runuser) return { code: null, stdout: '', stderr: 'runuser (util-linux) is missing' };
    return this.run(runuser, ['-u', user.name, '--', ...argv], { env, timeoutMs: opts.timeoutMs, signal: opts.signal });
  }

  private async tool(name: string, dirs = this.toolPath): Promise<string | null> {
    for (const dir of dirs) {
      const candidate = path.join(dir, name);
      if (await exists(candidate, constants.X_OK)) return candidate;
    }
    return null;
  }
}

/** Exit codes: zenity 0 Allow / 1 Deny or closed / 5 timeout; kdialog 0 / 1; xmessage 101 / 102 / 0 on timeout. */
function dialogAnswer(program: string, result: CommandResult): DialogOutcome {
  const tool = path.basename(program);
  if (result.code === null) return result.stderr.includes('aborted') || result.stderr.includes('timed out') ? 'timeout' : 'failed';
  if (tool === 'xmessage') return result.code === ALLOW_CODE ? 'allowed' : result.code === DENY_CODE ? 'denied' : result.code === 0 ? 'timeout' : 'failed';
  if (tool === 'zenity' && result.code === 5) return 'timeout';
  return result.code === 0 ? 'allowed' : result.code === 1 ? 'denied' : 'failed';
}



function processAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function exists(file: string, mode = constants.F_OK): Promise<boolean> {
  try {
    await access(file, mode);
    return true;
  } catch {
    return false;
  }
}

/** One line of text for a terminal or a window title: no control characters, no line breaks. */
const line = (text: string) => displayable(text, { keepLineBreaks: false });
