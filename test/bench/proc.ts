import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

/** Shared process plumbing for the benchmark: child processes, /proc readings, ports, deadlines. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** What a benchmark measured: the git commit, and how many files under server/ protocol/ agent/ (and package.json) differ from it. */
export function codeUnderTest(): { commit: string; changedFiles: number } {
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
    } catch {
      return '?';
    }
  };
  const changedFiles = git(['status', '--porcelain', '--', 'server', 'protocol', 'agent', 'package.json']).split('\n').filter(Boolean).length;
  return { commit: git(['rev-parse', '--short', 'HEAD']), changedFiles };
}
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

/** TCP counters of this network namespace (/proc/net/netstat TcpExt): accept-queue overflows, SYN cookies, RTOs. */
export function tcpCounters(): Record<string, number> {
  const lines = fs.readFileSync('/proc/net/netstat', 'utf8').split('\n');
  const i = lines.findIndex((l) => l.startsWith('TcpExt:'));
  const names = lines[i].split(/\s+/).slice(1);
  const values = lines[i + 1].split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((n, k) => [n, values[k]]));
}

/** Whole-machine busy and total jiffies from /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  const [, ...v] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - v[3] - v[4], total };
}

export interface CpuUse {
  server: number;
  workers: number;
  /** Whole machine busy, in % of all cores (includes PostgreSQL backends and everything else). */
  machine: number;
}

/** CPU % of one core since the meter was made: the server, the client workers summed, and the machine. */
export function cpuMeter(server: number, workers: number[]): () => CpuUse {
  const s0 = procSample(server);
  const w0 = workers.map(procSample);
  const m0 = machineTicks();
  return () => {
    const m1 = machineTicks();
    return {
      server: cpuPercent(s0, procSample(server)),
      workers: workers.reduce((a, pid, i) => a + cpuPercent(w0[i], procSample(pid)), 0),
      machine: ((m1.busy - m0.busy) / Math.max(1, m1.total - m0.total)) * 100,
    };
  };
}

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
  /** `[level] msg: err` → count, for the JSON log lines the child wrote. */
  readonly messages = new Map<string, number>();
  /** The first few error-level log lines, in full (truncated). */
  readonly errors: string[] = [];
  /** Set when the child was started with --inspect (used only to force a GC before memory readings). */
  inspectorUrl: string | null = null;

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
    const inspector = /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/\S+)/.exec(line);
    if (inspector) return void (this.inspectorUrl = inspector[1]);
    if (/^(Debugger attached|Debugger ending|For help, see|Waiting for the debugger)/.test(line)) return;
    this.tail.push(line.slice(0, 400));
    if (this.tail.length > 40) this.tail.shift();
    if (!line.startsWith('{')) return;
    try {
      const parsed = JSON.parse(line) as { msg?: string; level?: number; err?: { message?: string } | string };
      const err = typeof parsed.err === 'string' ? parsed.err : parsed.err?.message;
      const key = `[${parsed.level ?? '?'}] ${parsed.msg ?? ''}${err ? `: ${String(err).slice(0, 80)}` : ''}`;
      this.messages.set(key, (this.messages.get(key) ?? 0) + 1);
      if ((parsed.level ?? 0) >= 50 && this.errors.length < 3) this.errors.push(line.length > 1500 ? `${line.slice(0, 500)} … ${line.slice(-1000)}` : line);
    } catch {
      /* not a log record */
    }
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

  /** `signal` (SIGTERM), then SIGKILL after `graceMs`. Returns ms until exit. */
  async stop(graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<{ ms: number; killed: boolean }> {
    const start = Date.now();
    if (this.exitCode !== undefined) return { ms: 0, killed: false };
    this.kill(signal);
    const done = await Promise.race([this.exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!done) {
      this.kill('SIGKILL');
      await this.exited;
    }
    return { ms: Date.now() - start, killed: !done };
  }
}

/** Full GC in the child through its inspector (HeapProfiler.collectGarbage), so RSS readings show live memory. */
export async function forceGc(child: Child): Promise<void> {
  if (!child.inspectorUrl) throw new Error(`${child.name} has no inspector URL`);
  const ws = new WebSocket(child.inspectorUrl, { perMessageDeflate: false });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('inspector GC timed out')), 30_000);
      ws.once('error', reject);
      ws.once('open', () => {
        ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
        ws.send(JSON.stringify({ id: 2, method: 'HeapProfiler.collectGarbage' }));
      });
      ws.on('message', (data) => {
        if ((JSON.parse(data.toString()) as { id?: number }).id === 2) clearTimeout(timer), resolve();
      });
    });
  } finally {
    ws.close();
  }
  await sleep(500);
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
