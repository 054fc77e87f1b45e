import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pty, { type IPty } from 'node-pty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { displayable } from '../../agent/consent/consent-text.ts';
import { LinuxConsent } from '../../agent/consent/linux-consent.ts';
import { parseLoginctlSession, parseLoginctlSessionIds } from '../../agent/consent/loginctl.ts';
import { runCommand } from '../../agent/platform/run-command.ts';
import { waitFor } from '../helpers/api.ts';
import { HAVE_DESKTOP_TOOLS, startVirtualDisplay, writeUtmp, type VirtualDisplay } from '../helpers/desktop.ts';

/** The Linux consent prompter against real login records, a real tty and a real X server (see desktop.ts). */
if (!HAVE_DESKTOP_TOOLS) console.warn('SKIPPED: Linux consent prompter tests: Xvfb/xdotool/xmessage/utmpdump missing (apt-get install xvfb xdotool x11-utils)');

const run = promisify(execFile);

describe.skipIf(!HAVE_DESKTOP_TOOLS)('Linux consent prompter', () => {
  let dir: string;
  let utmp: string;
  let x: VirtualDisplay;
  let terminal: IPty;
  let screen = '';
  const ttyOf = (t: IPty) => (t as unknown as { _pty: string })._pty.replace('/dev/', '');

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'steward-consent-unit-'));
    utmp = path.join(dir, 'utmp');
    x = await startVirtualDisplay();
    terminal = pty.spawn('/bin/sh', [], { env: { PATH: '/usr/bin:/bin' } });
    terminal.onData((d) => (screen += d));
  });
  afterAll(async () => {
    terminal?.kill();
    await x?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('lists live logins from utmp and drops records whose process is gone', async () => {
    const gone = 2 ** 22 + 12345; // above pid_max's default: no such process
    await writeUtmp(utmp, [
      { user: 'root', line: ttyOf(terminal), pid: process.pid },
      { user: 'nobody', line: x.display, host: x.display, pid: process.pid },
      { user: 'root', line: 'pts/99', pid: gone },
      { user: 'no-such-account-here', line: 'pts/98', pid: process.pid },
    ]);
    const users = await new LinuxConsent(runCommand, { utmpPath: utmp }).interactiveUsers();
    expect(users.map((u) => [u.name, u.session, u.graphical])).toEqual([
      ['root', ttyOf(terminal), false],
      ['nobody', x.display, true],
    ]);
  });

  it('writes the notice to a text login\'s tty with every control character stripped', async () => {
    await writeUtmp(utmp, [{ user: 'root', line: ttyOf(terminal), pid: process.pid }]);
    const consent = new LinuxConsent(runCommand, { utmpPath: utmp });
    screen = '';
    const hostile = 'Mallory\x1b]0;pwned\x07\x1b[2J\r\nroot# fake prompt';
    const reached = await consent.notify(await consent.interactiveUsers(), { title: 'Remote support session', message: `${hostile} is starting a session` });
    expect(reached.map((u) => u.name)).toEqual(['root']);
    await waitFor(async () => screen.includes('is starting a session'), 5000, 'the notice on the tty');
    expect(screen).toContain('Mallory ]0;pwned  [2J root# fake prompt is starting a session');
    expect(screen).not.toContain('\x1b]0;pwned');
    expect(screen).not.toContain('\x1b[2J');
  });

  it('shows a graphical login its notice in a window on their display', async () => {
    await writeUtmp(utmp, [{ user: 'nobody', line: x.display, host: x.display, pid: process.pid }]);
    const consent = new LinuxConsent(runCommand, { utmpPath: utmp });
    const reached = await consent.notify(await consent.interactiveUsers(), { title: 'Steward notice test', message: 'hello' });
    expect(reached.map((u) => u.name)).toEqual(['nobody']);
    const found = await run('timeout', ['10', 'xdotool', 'search', '--sync', '--name', 'Steward notice test'], { env: { ...process.env, DISPLAY: x.display } });
    expect(found.stdout.trim()).toMatch(/^\d+/);
    await run('xdotool', ['search', '--name', 'Steward notice test', 'windowkill'], { env: { ...process.env, DISPLAY: x.display } });
  });

  it('answers timeout when nobody clicks, and closes the dialog', async () => {
    await writeUtmp(utmp, [{ user: 'nobody', line: x.display, host: x.display, pid: process.pid }]);
    const consent = new LinuxConsent(runCommand, { utmpPath: utmp });
    const started = Date.now();
    const answer = await consent.ask(await consent.interactiveUsers(), { title: 'Steward timeout test', message: 'allow?' }, 1500);
    expect(answer).toEqual({ answer: 'timeout', by: null });
    expect(Date.now() - started).toBeLessThan(8000);
    await expect(run('xdotool', ['search', '--name', 'Steward timeout test'], { env: { ...process.env, DISPLAY: x.display } })).rejects.toThrow();
  });

  it('cannot ask without a graphical login', async () => {
    await writeUtmp(utmp, [{ user: 'root', line: ttyOf(terminal), pid: process.pid }]);
    const consent = new LinuxConsent(runCommand, { utmpPath: utmp });
    await expect(consent.ask(await consent.interactiveUsers(), { title: 't', message: 'm' }, 1000)).rejects.toThrow(/graphical login/);
  });
});

describe('loginctl output', () => {
  it('reads session ids and a session\'s properties (loginctl(1), org.freedesktop.login1(5))', () => {
    expect(parseLoginctlSessionIds('      2 1000 alice seat0 tty2\n     c1  120 gdm   seat0 tty1\n')).toEqual(['2', 'c1']);
    expect(parseLoginctlSession('Name=alice\nTTY=tty2\nDisplay=:0\nType=x11\nState=active\nClass=user\n')).toEqual({
      name: 'alice',
      tty: 'tty2',
      display: ':0',
      type: 'x11',
      state: 'active',
      class: 'user',
    });
    expect(parseLoginctlSession('TTY=\n')).toBeNull();
  });

  it('strips control characters from anything shown to an end user', () => {
    expect(displayable('a\x1b[31mb\u009bc\u2028d\r\ne', { keepLineBreaks: false })).toBe('a [31mb c d e');
    expect(displayable('a\r\nb')).toBe('a\nb');
  });
});
