import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { CommandResult, CommandRunner } from '../../agent/platform/run-command.ts';
import { readTranscriptFile } from './transcript-runner.ts';

/**
 * Like TranscriptRunner, but a call must match the exact argv AND the exact stdin: the consent prompters keep argv
 * constant and send the script and the text on stdin, so matching argv alone would prove nothing. A scripted answer
 * may take `delayMs` to arrive (a user thinking before clicking); aborting the call's signal ends it early the way
 * the real runner does (code null), and the call is marked `aborted`.
 */
export interface StdinScripted {
  argv: string[];
  input: string;
  result: CommandResult;
  delayMs?: number;
}

export interface RecordedCall {
  argv: string[];
  input: string;
  timeoutMs?: number;
  aborted: boolean;
}

const key = (argv: string[], input: string) => JSON.stringify([argv, input]);

export class StdinTranscriptRunner {
  readonly calls: RecordedCall[] = [];
  readonly unexpected: RecordedCall[] = [];
  private readonly answers = new Map<string, StdinScripted>();

  constructor(scripted: StdinScripted[]) {
    for (const s of scripted) this.answers.set(key(s.argv, s.input), s);
  }

  readonly run: CommandRunner = async (file, args, opts = {}) => {
    const call: RecordedCall = { argv: [file, ...args], input: opts.input ?? '', timeoutMs: opts.timeoutMs, aborted: false };
    this.calls.push(call);
    const answer = this.answers.get(key(call.argv, call.input));
    if (!answer) {
      this.unexpected.push(call);
      return { code: null, stdout: '', stderr: `ENOENT unexpected command ${JSON.stringify(call.argv)}` };
    }
    const { delayMs } = answer;
    if (!delayMs) return answer.result;
    return new Promise<CommandResult>((resolve) => {
      const settle = (result: CommandResult) => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', abort);
        resolve(result);
      };
      const abort = () => {
        call.aborted = true;
        settle({ code: null, stdout: '', stderr: `aborted: ${file}` });
      };
      const timer = setTimeout(() => settle(answer.result), delayMs);
      if (opts.signal?.aborted) abort();
      else opts.signal?.addEventListener('abort', abort, { once: true });
    });
  };

  /** Scripted calls never made (a test that scripts a call expects it to matter). */
  uncalled(): string[][] {
    const made = new Set(this.calls.map((c) => key(c.argv, c.input)));
    return [...this.answers.entries()].filter(([k]) => !made.has(k)).map(([, s]) => s.argv);
  }
}

/**
 * Transcript files: "# key: value" header lines, a line "---", then stdout verbatim.
 * - `# argv:` JSON array, the exact command line;
 * - `# stdin:` JSON array of lines, each followed by "\n"; an entry "@name" stands for the file `name` beside the
 *   transcript (its content without the final newline), so a long script is stored once;
 * - `# exit:` exit code (default 0; `null` for killed / missing), `# stderr:` one line of stderr (raw);
 * - `# newline: crlf` turns the body's line ends into CRLF (Windows console output);
 * - `# source:` (repeatable) where the command and the output's shape are documented.
 */
export function loadStdinTranscript(file: string): StdinScripted & { source: string } {
  const { header, body } = readTranscriptFile(file);
  const argv = JSON.parse(header.get('argv') ?? 'null') as string[] | null;
  if (!argv) throw new Error(`${file}: header has no argv`);
  const lines = JSON.parse(header.get('stdin') ?? '[]') as string[];
  const input = lines
    .map((line) => (line.startsWith('@') ? readFileSync(path.join(path.dirname(file), line.slice(1)), 'utf8').replace(/\n$/, '') : line))
    .map((line) => `${line}\n`)
    .join('');
  const exit = header.get('exit');
  const code = exit === 'null' ? null : Number(exit ?? '0');
  let stdout = body;
  if (header.get('newline') === 'crlf') stdout = stdout.replace(/\r?\n/g, '\r\n');
  const stderr = header.has('stderr') ? `${header.get('stderr')}\n` : '';
  return { argv, input, source: header.get('source') ?? '', result: { code, stdout, stderr } };
}
