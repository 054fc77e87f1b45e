import { readFileSync } from 'node:fs';
import type { CommandResult, CommandRunner, RunCommandOptions } from '../../agent/platform/run-command.ts';
import { loadTranscript } from './transcript-runner.ts';

/**
 * TranscriptRunner's idea for programs driven through stdin (PowerShell's `-Command -`, dscl's interactive mode):
 * argv is the same for every call there, so an answer is keyed by the exact argv AND the exact first line of stdin
 * (the PowerShell script; the first dscl command). Calls it does not know land in `unexpected` and are answered like
 * a missing program. The same key scripted more than once is answered in order (the last answer repeats), for
 * flows that ask the same question before and after a change.
 */
export interface StdinScripted {
  argv: string[];
  /** Exact first line of stdin; null when the call is matched on argv alone (and must get no stdin at all). */
  stdinLine: string | null;
  result: CommandResult;
}

export interface RecordedCall {
  argv: string[];
  input: string | undefined;
  opts: RunCommandOptions | undefined;
}

const firstLine = (input: string | undefined) => (input === undefined || input === '' ? null : input.split('\n')[0]);
const keyOf = (argv: string[], line: string | null) => `${JSON.stringify(argv)}\n${line ?? '<no stdin>'}`;

export class StdinTranscriptRunner {
  readonly calls: RecordedCall[] = [];
  readonly unexpected: { argv: string[]; stdinLine: string | null }[] = [];
  private readonly answers = new Map<string, CommandResult[]>();
  private readonly used = new Set<string>();

  constructor(scripted: StdinScripted[]) {
    for (const s of scripted) {
      const key = keyOf(s.argv, s.stdinLine);
      this.answers.set(key, [...(this.answers.get(key) ?? []), s.result]);
    }
  }

  readonly run: CommandRunner = async (file, args, opts) => {
    const argv = [file, ...args];
    this.calls.push({ argv, input: opts?.input, opts });
    const key = keyOf(argv, firstLine(opts?.input));
    const queue = this.answers.get(key);
    if (queue && queue.length > 0) {
      this.used.add(key);
      return queue.length > 1 ? (queue.shift() as CommandResult) : queue[0];
    }
    this.unexpected.push({ argv, stdinLine: firstLine(opts?.input) });
    return { code: null, stdout: '', stderr: `ENOENT unexpected command ${JSON.stringify(argv)}` };
  };

  /** Scripted keys never asked for (each scripted answer is expected to matter). */
  uncalled(): string[] {
    return [...this.answers.keys()].filter((k) => !this.used.has(k));
  }

  /** Every argv this runner saw, for "no argv carries the password" checks. */
  allArgv(): string[] {
    return this.calls.flatMap((c) => c.argv);
  }
}

export const answer = (argv: string[], stdinLine: string | null, stdout: string, code: number | null = 0, stderr = ''): StdinScripted => ({
  argv,
  stdinLine,
  result: { code, stdout, stderr },
});

/**
 * A transcript file (see transcript-runner.ts) with one more optional header, `# stdin-line: <text>`: the exact
 * first line of stdin, verbatim (one header line; never joined). `{{name}}` placeholders in it are filled from
 * `vars`, so a transcript can show where a test's password goes without holding a real one.
 */
export function loadStdinTranscript(file: string, vars: Record<string, string> = {}): StdinScripted & { source: string } {
  const base = loadTranscript(file);
  const header = readFileSync(file, 'utf8').split('\n---\n')[0];
  const lines = header.split('\n').filter((l) => l.startsWith('# stdin-line: '));
  if (lines.length > 1) throw new Error(`${file}: more than one "# stdin-line:" header`);
  let stdinLine: string | null = lines.length ? lines[0].slice('# stdin-line: '.length) : null;
  if (stdinLine !== null) {
    stdinLine = stdinLine.replace(/\{\{(\w+)\}\}/g, (whole, name: string) => {
      if (!(name in vars)) throw new Error(`${file}: no value for ${whole}`);
      return vars[name];
    });
  }
  if (!base.source) throw new Error(`${file}: no "# source:" header`);
  return { argv: base.argv, stdinLine, result: base.result, source: base.source };
}
