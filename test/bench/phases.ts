import os from 'node:os';
import { cpuMeter, forceGc, procSample, sleep, startTsChild, tcpCounters, until, freePort, type Child, type CpuUse } from './proc.ts';
import { fmt, type Report } from './report.ts';
import { baseUrl, pgOnlineCount, readDbTrace, restOnlineCount, settledRss, startSteward, type ServerSpec } from './server-process.ts';
import { formatProblems, WorkerPool } from './workers.ts';

/** State and measuring helpers shared by the phases of agents.ts. */
export interface BenchOptions {
  n: number;
  workers: number;
  concurrency: number;
  steadyMs: number;
  stopGraceMs: number;
}

export const log = (text: string) => process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${text}\n`);

export class Bench {
  readonly servers: Child[] = [];
  pool: WorkerPool | null = null;

  constructor(
    readonly o: BenchOptions,
    readonly report: Report,
  ) {}

  async newPool(): Promise<WorkerPool> {
    await this.pool?.stop();
    this.pool = new WorkerPool(this.o.workers, this.o.n);
    await this.pool.ready(60_000);
    return this.pool;
  }

  /** Welcomes seen at each poll of the last watch(): [ms since `since`, count]. */
  timeline: [number, number][] = [];

  /** How many had their welcome `marks` seconds after `since` (from the last watch()). */
  timelineRow(label: string, since: number, marks = [10, 20, 30, 45, 60, 90, 120]): void {
    const at = (s: number) => [...this.timeline].reverse().find(([t]) => t <= s * 1000 + (since - this.timelineStart))?.[1] ?? 0;
    this.report.add(`${label}: welcomed by +${marks.join('/')} s`, marks.map(at).join(' / '));
  }

  private timelineStart = 0;

  /** Waits until the workers report `target` welcomes in the current epoch, printing progress every 5 s. */
  async watch(label: string, limitMs: number): Promise<void> {
    const p = this.pool!;
    let lastPrint = Date.now();
    this.timeline = [];
    this.timelineStart = Date.now();
    try {
      await until(label, limitMs, () => {
        if (p.failure) throw new Error(p.failure);
        const t = p.totals();
        this.timeline.push([Date.now() - this.timelineStart, t.epochWelcomed]);
        if (Date.now() - lastPrint >= 5000) {
          lastPrint = Date.now();
          log(`  ${label}: ${t.epochWelcomed}/${this.o.n} welcomed, ${t.authed} connected, ${t.attempts} attempts; ${formatProblems(t.problems)}`);
        }
        return t.epochWelcomed >= this.o.n;
      });
    } catch (error) {
      this.report.add(`${label}: reached before the limit`, `${p.totals().epochWelcomed}/${this.o.n}`);
      throw error;
    } finally {
      const problems = p.totals().problems;
      if (Object.keys(problems).length) this.report.note(`${label}: problems seen by the agents: ${formatProblems(problems)}`);
    }
  }

  /** Server process → [role, PGlite trace file] (with --trace-db). */
  private readonly traces = new Map<Child, [string, string]>();

  async server(spec: ServerSpec, what: string): Promise<Child> {
    const { child, readyMs, traceFile } = await startSteward(spec, 120_000);
    this.servers.push(child);
    if (traceFile) this.traces.set(child, [what, traceFile]);
    log(`server (${what}) pid ${child.pid} ready in ${fmt.s(readyMs)}`);
    return child;
  }

  async stopServer(child: Child, signal: NodeJS.Signals = 'SIGTERM'): Promise<{ ms: number; killed: boolean }> {
    const result = await child.stop(signal === 'SIGKILL' ? 0 : this.o.stopGraceMs, signal);
    const trace = this.traces.get(child);
    if (trace) this.report.note(`server "${trace[0]}" (pid ${child.pid}): ${readDbTrace(trace[1]).join('\n')}`);
    if (result.killed && signal !== 'SIGKILL') {
      this.report.note(`server pid ${child.pid} did not exit within ${this.o.stopGraceMs / 1000} s of ${signal} and was killed (SIGKILL)`);
    }
    return result;
  }

  /** Raw RSS once it has settled, then RSS after a forced full GC (live memory). */
  async memory(child: Child): Promise<{ raw: number; gc: number }> {
    const raw = await settledRss(() => procSample(child.pid).rssKb, 15_000);
    await forceGc(child);
    return { raw, gc: procSample(child.pid).rssKb };
  }

  cpu(server: Child): () => CpuUse {
    return cpuMeter(server.pid, this.pool!.workerPids());
  }

  /** Accept-queue overflows (SYN dropped or final ACK ignored), SYN cookies and TCP retransmission timeouts since now. */
  net(): () => void {
    const before = tcpCounters();
    return () => {
      const after = tcpCounters();
      const d = (k: string) => fmt.n((after[k] ?? 0) - (before[k] ?? 0));
      this.netRows.push(`${d('ListenOverflows')} / ${d('TCPReqQFullDoCookies')} / ${d('TCPTimeouts')}`);
    };
  }

  readonly netRows: string[] = [];

  netRow(phase: string, stop: () => void): void {
    stop();
    this.report.add(`TCP during ${phase}: listen overflows / SYN cookies / RTOs`, this.netRows.at(-1) ?? '');
  }

  cpuRow(phase: string, c: CpuUse): void {
    // "other" = everything on the machine but the server and the client workers: PostgreSQL, concurrent jobs, kernel.
    const other = c.machine * os.cpus().length - c.server - c.workers;
    this.report.add(`CPU during ${phase}: server / clients / other`, `${fmt.n(c.server, 0)} / ${fmt.n(c.workers, 0)} / ${fmt.n(Math.max(0, other), 0)} %`);
  }

  async dbCheck(spec: ServerSpec, apiToken: string, when: string): Promise<void> {
    const n = this.o.n;
    const rest = await restOnlineCount(spec, apiToken);
    this.report.add(`online machines, REST (${when})`, `${rest}`, { text: `= ${n}`, ok: rest === n });
    if (spec.databaseUrl) {
      const direct = await pgOnlineCount(spec.databaseUrl);
      this.report.add(`online machines, SQL count (${when})`, `${direct}`, { text: `= ${n}`, ok: direct === n });
    }
  }

  /**
   * Steady state: server and client CPU over `steadyMs` of heartbeats (which includes one registry tick), the
   * fewest agents connected meanwhile, and GET /healthz latency every 200 ms (shows event-loop stalls).
   */
  async steady(steward: Child, spec: ServerSpec): Promise<void> {
    const { n } = this.o;
    log(`steady state: measuring over ${this.o.steadyMs / 1000} s of heartbeats`);
    const cpu = this.cpu(steward);
    let minAuthed = n;
    const latencies: number[] = [];
    const end = Date.now() + this.o.steadyMs;
    while (Date.now() < end) {
      const t0 = performance.now();
      await fetch(`${baseUrl(spec)}/healthz`, { signal: AbortSignal.timeout(10_000) }).then((r) => r.text()).catch(() => '');
      latencies.push(performance.now() - t0);
      minAuthed = Math.min(minAuthed, this.pool!.totals().authed);
      await sleep(200);
    }
    const c = cpu();
    latencies.sort((a, b) => a - b);
    const s1 = procSample(steward.pid);
    this.report.add(`server CPU, steady (${this.o.steadyMs / 1000} s)`, `${fmt.n(c.server, 1)} % of one core`);
    this.report.add('client workers CPU, steady', `${fmt.n(c.workers, 1)} % of one core`);
    this.report.add('GET /healthz latency, steady: p50 / p99 / max', latencies.length ? `${[0.5, 0.99, 1].map((q) => fmt.n(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))], 0)).join(' / ')} ms` : 'n/a');
    this.report.add('connected agents, minimum during steady', `${minAuthed}`, { text: `= ${n}`, ok: minAuthed === n });
    this.report.add('server peak RSS so far (VmHWM)', fmt.mb(s1.hwmKb));
  }

  /** N plain ws connections to a bare ws server (baseline-server.ts); returns RSS per connection after GC (KB). */
  async baseline(heartbeatSeconds: number): Promise<number> {
    const { n, workers, concurrency } = this.o;
    const port = await freePort();
    const base = startTsChild('baseline', 'test/bench/baseline-server.ts', { ...process.env, PORT: String(port) }, ['--inspect=127.0.0.1:0']);
    this.servers.push(base);
    await until('baseline server start', 30_000, () => base.inspectorUrl !== null && base.tail.some((l) => l.includes('baseline listening')));
    const before = await this.memory(base);
    const pool = await this.newPool();
    const start = Date.now();
    for (let w = 0; w < workers; w++) {
      pool.send(w, { cmd: 'plain', count: pool.share(n, w), url: `ws://127.0.0.1:${port}/`, addresses: pool.addresses[w], concurrency, heartbeatSeconds });
    }
    await this.watch('baseline connect', 120_000);
    const ms = pool.totals().lastWelcomeAt - start;
    await sleep(5000);
    const after = await this.memory(base);
    const per = (after.raw - before.raw) / n;
    const perGc = (after.gc - before.gc) / n;
    this.report.add('baseline: bare ws connect rate', `${fmt.n(n / (ms / 1000), 0)} /s`);
    this.report.add('baseline: RSS before / with N (after forced GC)', `${fmt.mb(before.gc)} / ${fmt.mb(after.gc)}`);
    this.report.add('baseline: RSS per connection (raw / after GC)', `${fmt.n(per, 1)} / ${fmt.n(perGc, 1)} KB`);
    await pool.stop();
    this.pool = null;
    await base.stop(5000);
    return perGc;
  }
}
