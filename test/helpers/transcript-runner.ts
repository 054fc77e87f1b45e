import { readFileSync } from 'node:fs';
import type { CommandResult, CommandRunner } from '../../agent/platform/run-command.ts';

/**
 * A CommandRunner that only answers the exact command lines it was given, so a test fails when the code under test
 * changes a program name or any argument. Calls it does not know are recorded in `unexpected` (and answered like
 * a missing program, which is what the real runner does) — every test checks that list is empty.
 */
export interface Scripted {
  argv: string[];
  result: CommandResult;
}

export class TranscriptRunner {
  readonly calls: string[][] = [];
  readonly unexpected: string[][] = [];
  private readonly answers = new Map<string, CommandResult>();

  constructor(scripted: Scripted[]) {
    for (const s of scripted) this.answers.set(JSON.stringify(s.argv), s.result);
  }

  readonly run: CommandRunner = async (file, args) => {
    const argv = [file, ...args];
    this.calls.push(argv);
    const answer = this.answers.get(JSON.stringify(argv));
    if (answer) return answer;
    this.unexpected.push(argv);
    return { code: null, stdout: '', stderr: `ENOENT unexpected command ${JSON.stringify(argv)}` };
  };

  /** Each scripted command was called at least once (a test that scripts a command expects it to matter). */
  uncalled(): string[][] {
    const called = new Set(this.calls.map((c) => JSON.stringify(c)));
    return [...this.answers.keys()].filter((k) => !called.has(k)).map((k) => JSON.parse(k) as string[]);
  }
}

export const ok = (argv: string[], stdout: string, stderr = ''): Scripted => ({ argv, result: { code: 0, stdout, stderr } });
export const exits = (argv: string[], code: number, stdout: string, stderr = ''): Scripted => ({
  argv,
  result: { code, stdout, stderr },
});
export const missing = (argv: string[]): Scripted => ({
  argv,
  result: { code: null, stdout: '', stderr: `ENOENT ${argv[0]}: spawn ${argv[0]} ENOENT` },
});

/**
 * Transcript files (test/fixtures/inventory/windows|macos) are a header of "# key: value" lines, a line "---",
 * then the program's stdout verbatim. `argv` is a JSON array: the exact command line the transcript answers.
 */
export function loadTranscript(file: string): Scripted & { source: string } {
  const { header, body } = readTranscriptFile(file);
  const argv = JSON.parse(header.get('argv') ?? 'null') as string[] | null;
  if (!argv) throw new Error(`${file}: header has no argv`);
  const code = header.get('exit') === 'null' ? null : Number(header.get('exit') ?? '0');
  return {
    argv,
    source: header.get('source') ?? '',
    result: { code, stdout: body, stderr: header.get('stderr') ?? '' },
  };
}

/** A transcript file's "# key: value" header (a repeated key's values joined by spaces) and the body after "---". */
export function readTranscriptFile(file: string): { header: Map<string, string>; body: string } {
  const text = readFileSync(file, 'utf8');
  const split = text.indexOf('\n---\n');
  if (split < 0) throw new Error(`${file}: no "---" line between header and output`);
  const header = new Map<string, string>();
  for (const line of text.slice(0, split).split('\n')) {
    const m = /^# ([\w-]+): (.*)$/.exec(line);
    if (m) header.set(m[1], (header.has(m[1]) ? `${header.get(m[1])} ` : '') + m[2]);
  }
  return { header, body: text.slice(split + 5) };
}
