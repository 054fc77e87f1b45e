import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConsentUnavailable, type InteractiveUser } from '../../../agent/consent/consent-prompter.ts';
import { ASK_STYLE, NOTIFY_STYLE, POWERSHELL_ARGS, WIN32, WINDOWS_CONSENT_SCRIPT, WindowsConsent, requestLine } from '../../../agent/consent/windows-consent.ts';
import type { CommandRunner } from '../../../agent/platform/run-command.ts';
import { StdinTranscriptRunner, loadStdinTranscript, type StdinScripted } from '../../helpers/consent-transcripts.ts';

// Contract tests: each transcript pins the exact argv and stdin (script + request line) and answers with output
// shaped after Microsoft Learn's WTS pages (see each file's "# source:" lines and ../../fixtures/consent/windows).
const dir = path.resolve(import.meta.dirname, '../../fixtures/consent/windows');
const transcript = (name: string, extra: Partial<StdinScripted> = {}): StdinScripted => ({ ...loadStdinTranscript(path.join(dir, name)), ...extra });
const withOutput = (name: string, code: number | null, stdout: string, stderr = ''): StdinScripted => ({ ...transcript(name), result: { code, stdout, stderr } });

const TEXT = { title: 'Remote session request', message: 'Dana Lee from Contoso IT wants to start a remote session on this computer.' };
const JSMITH: InteractiveUser = { name: 'CONTOSO\\jsmith', session: '1', graphical: true };
const SUPPORT: InteractiveUser = { name: 'CONTOSOPC\\Remote Support', session: '2', graphical: true };

let runner: StdinTranscriptRunner | undefined;
function consent(...scripted: StdinScripted[]) {
  runner = new StdinTranscriptRunner(scripted);
  return new WindowsConsent(runner.run);
}
beforeEach(() => {
  runner = undefined;
});
afterEach(() => {
  expect(runner?.unexpected ?? []).toEqual([]);
});

describe('the script and its constants', () => {
  it('sends the reviewed script: the fixture copy is byte-identical and it is a single line', () => {
    expect(readFileSync(path.join(dir, 'consent-script.ps1'), 'utf8')).toBe(`${WINDOWS_CONSENT_SCRIPT}\n`);
    expect(WINDOWS_CONSENT_SCRIPT).not.toMatch(/[\r\n]/);
    expect(POWERSHELL_ARGS).toEqual(['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command', '-']);
  });

  it('uses the numbers Microsoft Learn documents', () => {
    expect(WIN32).toMatchObject({ IDYES: 6, IDNO: 7, IDTIMEOUT: 32000, IDASYNC: 32001, WTSActive: 0, WTSUserName: 5, WTSDomainName: 7 });
    expect(NOTIFY_STYLE).toBe(0x00000040); // MB_OK | MB_ICONINFORMATION
    expect(ASK_STYLE).toBe(0x00000004 | 0x00000020 | 0x00000100 | 0x00040000 | 0x00010000); // YESNO ICONQUESTION DEFBUTTON2 TOPMOST SETFOREGROUND
    expect(ASK_STYLE).toBe(327972);
  });

  it('balances its braces and parentheses outside string literals (no PowerShell here to parse it)', () => {
    const code = WINDOWS_CONSENT_SCRIPT.replace(/'(?:[^']|'')*'/g, "''").replace(/"[^"]*"/g, '""');
    const count = (c: string) => code.split(c).length - 1;
    expect(count('{')).toBe(count('}'));
    expect(count('(')).toBe(count(')'));
    expect(code).toMatch(/^\$ErrorActionPreference = ''; .*try \{.*\} catch \{ \[Console\]::Error\.WriteLine\(\$_\.Exception\.Message\); exit 1 \}$/);
  });
});

const mcs = spawnSync('mcs', ['--version'], { encoding: 'utf8' });
if (mcs.status !== 0) console.warn('SKIPPED: compiling the wtsapi32 P/Invoke needs the Mono C# compiler (apt-get install mono-mcs)');
describe.skipIf(mcs.status !== 0)('the P/Invoke type definition', () => {
  it('compiles as C# 5, the language Add-Type compiles in Windows PowerShell 5.1', () => {
    const csharp = /Add-Type -TypeDefinition '([^']*)'/.exec(WINDOWS_CONSENT_SCRIPT)?.[1];
    expect(csharp).toContain('WTSSendMessageW');
    const work = mkdtempSync(path.join(os.tmpdir(), 'wts-'));
    try {
      writeFileSync(path.join(work, 'wts.cs'), csharp as string);
      const built = spawnSync('mcs', ['-langversion:5', '-target:library', '-warnaserror', `-out:${path.join(work, 'wts.dll')}`, path.join(work, 'wts.cs')], {
        encoding: 'utf8',
      });
      expect(built.stdout + built.stderr).not.toMatch(/error/);
      expect(built.status).toBe(0);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});

describe('interactive users (WTSEnumerateSessions)', () => {
  it('lists active sessions that have a user, as DOMAIN\\user with the session id; disconnected, idle and listener sessions are left out', async () => {
    expect(await consent(transcript('sessions.txt')).interactiveUsers()).toEqual([JSMITH, SUPPORT]);
    expect(runner?.calls[0].argv).toEqual(['powershell.exe', ...POWERSHELL_ARGS]);
    expect(runner?.uncalled()).toEqual([]);
  });

  it('answers nobody when only the services session, the sign-in screen and the listener exist', async () => {
    expect(await consent(transcript('sessions-nobody.txt')).interactiveUsers()).toEqual([]);
  });

  it('throws when PowerShell fails, rather than answering "nobody is logged on"', async () => {
    const failing = withOutput('sessions.txt', 1, '', 'Add-Type : Cannot add type. Compilation errors occurred.\r\n');
    await expect(consent(failing).interactiveUsers()).rejects.toThrow(/powershell exited 1: Add-Type : Cannot add type/);
  });

  it('rejects a row that does not have the documented shape', async () => {
    const odd = withOutput('sessions.txt', 0, '{"id":"1","state":0,"station":"Console","user":"jsmith","domain":"CONTOSO"}\r\n');
    await expect(consent(odd).interactiveUsers()).rejects.toThrow(/unexpected WTS session row/);
  });
});

describe('notify (WTSSendMessage, MB_OK, bWait = FALSE)', () => {
  it('puts a box up in each session in one PowerShell run and reports both reached', async () => {
    const reached = await consent(transcript('notify.txt')).notify([JSMITH, SUPPORT], TEXT);
    expect(reached).toEqual([JSMITH, SUPPORT]);
    expect(runner?.calls).toHaveLength(1);
  });

  it('leaves out a session whose box failed and users outside a Windows session, without calling for them', async () => {
    const partial = withOutput('notify.txt', 0, '{"session":1,"ok":true,"response":32001,"error":0}\r\n{"session":2,"ok":false,"response":0,"error":7022}\r\n');
    const text: InteractiveUser = { name: 'jsmith', session: 'pts/0', graphical: false };
    expect(await consent(partial).notify([JSMITH, SUPPORT, text], TEXT)).toEqual([JSMITH]);
  });

  it('reaches nobody when PowerShell fails', async () => {
    expect(await consent(withOutput('notify.txt', 1, '', 'Access is denied.\r\n')).notify([JSMITH, SUPPORT], TEXT)).toEqual([]);
  });
});

describe('ask (WTSSendMessage, Yes/No with No as default, bWait = TRUE)', () => {
  it('Yes is consent, attributed to the user who clicked it', async () => {
    expect(await consent(transcript('ask-1-yes.txt')).ask([JSMITH], TEXT, 60_000)).toEqual({ answer: 'allowed', by: 'CONTOSO\\jsmith' });
    // PowerShell may take its time to start and compile: the process gets longer than the dialog's own timeout.
    expect(runner?.calls[0].timeoutMs).toBeGreaterThan(60_000);
  });

  it('No is a refusal', async () => {
    expect(await consent(transcript('ask-1-no.txt')).ask([JSMITH], TEXT, 60_000)).toEqual({ answer: 'denied', by: 'CONTOSO\\jsmith' });
  });

  it('IDTIMEOUT is a timeout, by nobody', async () => {
    expect(await consent(transcript('ask-1-timeout.txt')).ask([JSMITH], TEXT, 60_000)).toEqual({ answer: 'timeout', by: null });
  });

  it('any other answer the box reports counts as a refusal, never as consent', async () => {
    const odd = withOutput('ask-1-yes.txt', 0, '{"session":1,"ok":true,"response":1,"error":0}\r\n');
    expect(await consent(odd).ask([JSMITH], TEXT, 60_000)).toEqual({ answer: 'denied', by: 'CONTOSO\\jsmith' });
  });

  it('the first answer wins and the other sessions\' PowerShell processes are killed', async () => {
    const started = Date.now();
    const result = await consent(transcript('ask-1-no.txt', { delayMs: 20 }), transcript('ask-2-yes.txt', { delayMs: 5_000 })).ask([JSMITH, SUPPORT], TEXT, 60_000);
    expect(result).toEqual({ answer: 'denied', by: 'CONTOSO\\jsmith' });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(runner?.calls.map((c) => c.aborted)).toEqual([false, true]);
  });

  it('a session whose box could not be shown does not end the question: the other session still answers', async () => {
    const result = await consent(transcript('ask-1-yes.txt', { delayMs: 30 }), transcript('ask-2-failed.txt')).ask([JSMITH, SUPPORT], TEXT, 60_000);
    expect(result).toEqual({ answer: 'allowed', by: 'CONTOSO\\jsmith' });
  });

  it('one timed out and one could not be asked: a timeout', async () => {
    const result = await consent(transcript('ask-1-timeout.txt'), transcript('ask-2-failed.txt')).ask([JSMITH, SUPPORT], TEXT, 60_000);
    expect(result).toEqual({ answer: 'timeout', by: null });
  });

  it('throws ConsentUnavailable when no box could be shown anywhere (WTSSendMessage or PowerShell failed)', async () => {
    await expect(consent(transcript('ask-2-failed.txt')).ask([SUPPORT], TEXT, 60_000)).rejects.toBeInstanceOf(ConsentUnavailable);
    const broken = withOutput('ask-1-yes.txt', 1, '', 'Add-Type : Cannot add type.\r\n');
    await expect(consent(broken).ask([JSMITH], TEXT, 60_000)).rejects.toBeInstanceOf(ConsentUnavailable);
    const garbled = withOutput('ask-1-yes.txt', 0, '{"session":1,"ok":"yes"}\r\n');
    await expect(consent(garbled).ask([JSMITH], TEXT, 60_000)).rejects.toBeInstanceOf(ConsentUnavailable);
  });

  it('throws ConsentUnavailable without running anything when nobody is in a Windows session', async () => {
    await expect(consent().ask([], TEXT, 60_000)).rejects.toThrow(/nobody is logged on/);
    await expect(consent().ask([{ name: 'jsmith', session: 'ssh', graphical: false }], TEXT, 60_000)).rejects.toBeInstanceOf(ConsentUnavailable);
    expect(runner?.calls).toEqual([]);
  });

  it('rounds the timeout up to whole seconds for WTSSendMessage', async () => {
    const request = requestLine({ action: 'send', sessions: [1], title: TEXT.title, message: TEXT.message, style: ASK_STYLE, timeout: 2, wait: true });
    const scripted = withOutput('ask-1-yes.txt', 0, '{"session":1,"ok":true,"response":32000,"error":0}\r\n');
    expect(await consent({ ...scripted, input: `${WINDOWS_CONSENT_SCRIPT}\n${request}\n` }).ask([JSMITH], TEXT, 1_500)).toEqual({ answer: 'timeout', by: null });
  });
});

describe('the title and message are data, never code', () => {
  const PAYLOADS = [
    { title: "'; Remove-Item -Recurse -Force C:\\ ; '", message: '$(calc) `whoami` @(Stop-Computer) "; exit 0; "' },
    { title: 'Jürgen Müller — Contoso', message: 'line one\nline two\r\n\u2028{"action":"sessions"}\n' },
  ];

  it.each(PAYLOADS)('leaves the script untouched and sends the text as one ASCII JSON line: %j', async (text) => {
    const inputs: string[] = [];
    const argvs: string[][] = [];
    const capture: CommandRunner = async (file, args, opts) => {
      argvs.push([file, ...args]);
      inputs.push(opts?.input ?? '');
      return { code: 0, stdout: '{"session":1,"ok":true,"response":7,"error":0}\r\n', stderr: '' };
    };
    expect(await new WindowsConsent(capture).ask([JSMITH], text, 60_000)).toEqual({ answer: 'denied', by: 'CONTOSO\\jsmith' });
    for (const arg of argvs[0]) {
      expect(arg).not.toContain(text.title);
      expect(arg).not.toContain('calc');
    }
    const [script, data, rest, ...more] = inputs[0].split('\n');
    expect(script).toBe(WINDOWS_CONSENT_SCRIPT);
    expect([rest, more]).toEqual(['', []]);
    expect(data).toMatch(/^[\x20-\x7e]+$/);
    expect(JSON.parse(data)).toEqual({ action: 'send', sessions: [1], title: text.title, message: text.message, style: ASK_STYLE, timeout: 60, wait: true });
  });
});
