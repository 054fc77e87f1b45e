import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Shared process plumbing for the benchmark: child processes, /proc readings, ports, deadlines. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLK_TCK = 100;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class PhaseTimeout extends Error {
  override name = 'PhaseTimeout';
}

/** Polls `check` every `everyMs` until it returns true; throws PhaseTimeout after `limitMs`. */
export async function until(what: string, limitMs: number, check: () => boolean | Promise<boolean>, everyMs = 100): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > limitMs) throw new PhaseTimeout(`${what}: not reached within ${Math.round(limitMs / 1000)} s`);
    await sleep(everyMs);
  }
}

export interface ProcSample {
  rssKb: number;
  hwmKb: number;
  /** utime + stime, in clock ticks. */
  cpuTicks: number;
  at: number;
}

export function procSample(pid: number): ProcSample {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // rest[0] is field 3 (state)
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM'), cpuTicks: Number(rest[11]) + Number(rest[12]), at: Date.now() };
}

/** CPU use between two samples, in % of one core. */
export const cpuPercent = (a: ProcSample, b: ProcSample) => ((b.cpuTicks - a.cpuTicks) / CLK_TCK / ((b.at - a.at) / 1000)) * 100;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Soft/hard RLIMIT_NOFILE of this process (children inherit it; Node raises its soft limit to the hard one). */
export function fdLimit(): { soft: number; hard: number } {
  const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files')) ?? '';
  const [soft, hard] = line.replace('Max open files', '').trim().split(/\s+/).map((v) => (v === 'unlimited' ? Infinity : Number(v)));
  return { soft, hard };
}

/** A child process we started; killed by its own pid only. Keeps a tail of its output and counts log messages. */
export class Child {
  readonly exited: Promise<number | null>;
  exitCode: number | null | undefined = undefined;
  readonly tail: string[] = [];
  /** pino `msg` (or raw line) → count, for warn/error lines the server wrote. */
  readonly messages = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve((this.exitCode = code ?? (signal ? -1 : null)))));
    let pending = '';
    const onData = (chunk: Buffer) => {
      const lines = (pending + chunk.toString('utf8')).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) this.line(line);
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
  }

  get pid(): number {
    return this.proc.pid as number;
  }

  private line(line: string): void {
    if (!line.trim()) return;
    this.tail.push(line.slice(0, 400));
    if (this.tail.length > 40) this.tail.shift();
    let key = line.slice(0, 120);
    try {
      const parsed = JSON.parse(line) as { msg?: string; level?: number; err?: { message?: string } | string };
      const err = typeof parsed.err === 'string' ? parsed.err : parsed.err?.message;
      key = `[${parsed.level ?? '?'}] ${parsed.msg ?? ''}${err ? `: ${String(err).slice(0, 80)}` : ''}`;
    } catch {
      /* not JSON */
    }
    this.messages.set(key, (this.messages.get(key) ?? 0) + 1);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.exitCode === undefined) {
      try {
        process.kill(this.pid, signal);
      } catch {
        /* already gone */
      }
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Returns ms until exit. */
  async stop(graceMs: number): Promise<{ ms: number; killed: boolean }> {
    const start = Date.now();
    if (this.exitCode !== undefined) return { ms: 0, killed: false };
    this.kill('SIGTERM');
    const done = await Promise.race([this.exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!done) {
      this.kill('SIGKILL');
      await this.exited;
    }
    return { ms: Date.now() - start, killed: !done };
  }
}

const children = new Set<Child>();

/** Starts `node [nodeArgs] --import tsx <script>` in the repository root. */
export function startTsChild(name: string, script: string, env: Record<string, string | undefined>, nodeArgs: string[] = []): Child {
  const proc = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script], {
    cwd: ROOT,
    env: env as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const child = new Child(name, proc);
  children.add(child);
  void child.exited.then(() => children.delete(child));
  return child;
}

export function registerChild(child: Child): void {
  children.add(child);
  void child.exited.then(() => children.delete(child));
}

/** Last resort on exit: SIGKILL every child still running (each by its own pid). */
export function killAllChildren(): void {
  for (const child of children) child.kill('SIGKILL');
}
