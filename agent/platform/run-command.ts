import { spawn } from 'node:child_process';

/**
 * Runs one program without a shell and collects its output. Per-OS code calls every external tool through this
 * (or an injected fake with the same type), so contract tests can replay recorded transcripts and so nothing ever
 * goes through shell parsing. Secrets belong in `input` (stdin), never in `args`: argv is visible to every local
 * user through the process table.
 */
export interface RunCommandOptions {
  /** Written to the child's stdin, which is then closed. */
  input?: string;
  /** The child is killed (SIGKILL) after this long; default 15 s. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Aborting kills the child (SIGKILL); it then resolves like a timeout, with code null. */
  signal?: AbortSignal;
}

export interface CommandResult {
  /** Exit code; null when the program is missing, was killed, or timed out. */
  code: number | null;
  stdout: string;
  stderr: string;
}

export type CommandRunner = (file: string, args: string[], opts?: RunCommandOptions) => Promise<CommandResult>;

const DEFAULT_TIMEOUT_MS = 15_000;
/** A runaway tool must not take the agent's memory with it; inventories are far smaller than this. */
const MAX_OUTPUT_CHARS = 64 * 1024 * 1024;

export const runCommand: CommandRunner = (file, args, opts = {}) =>
  new Promise((resolve) => {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let stdout = '';
    let stderr = '';
    let note = '';
    let settled = false;
    const finish = (code: number | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', abort);
      resolve({ code, stdout, stderr: note ? `${stderr}${stderr && !stderr.endsWith('\n') ? '\n' : ''}${note}` : stderr });
    };

    const child = spawn(file, args, {
      shell: false,
      windowsHide: true,
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => {
      note = `timed out after ${timeoutMs} ms: ${file}`;
      child.kill('SIGKILL');
    }, timeoutMs);
    const abort = () => {
      note = `aborted: ${file}`;
      child.kill('SIGKILL');
    };
    if (opts.signal?.aborted) abort();
    else opts.signal?.addEventListener('abort', abort, { once: true });

    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
      if (stdout.length > MAX_OUTPUT_CHARS) {
        note = `output over ${MAX_OUTPUT_CHARS} characters: ${file}`;
        child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < MAX_OUTPUT_CHARS) stderr += chunk;
    });

    child.on('error', (err: NodeJS.ErrnoException) => {
      // ENOENT (and EACCES) surface here, not as a throw: the caller decides what a missing tool means.
      note = `${err.code ?? 'ERROR'} ${file}: ${err.message}`;
      finish(null);
    });
    child.on('close', (code) => finish(note ? null : code));

    // A child that exits without reading stdin makes the write fail with EPIPE; that is its business, not ours.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
