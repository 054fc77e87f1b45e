import { fork } from 'node:child_process';
import path from 'node:path';
import { Child, registerChild, ROOT, until } from './proc.ts';
import type { Stats } from './sim-agent.ts';
import type { WorkerCommand } from './sim-client-worker.ts';

/** The client side: W forked worker processes, each with its own loopback source addresses. */
export interface Totals extends Stats {
  rssKb: number;
}

export class WorkerPool {
  readonly children: Child[] = [];
  private readonly latest: ({ stats: Stats; rssKb: number } | null)[] = [];
  private readonly enrolled: ({ identities: [string, string][]; serverKey: string } | null)[] = [];
  readonly addresses: string[][];
  /** Set when a worker died unexpectedly; watch() stops on it. */
  failure: string | null = null;
  private stopping = false;
  /** Extra listeners for worker messages (the rotation benchmark's endpoint progress and reports). */
  private readonly listeners: ((w: number, message: { type: string; [key: string]: unknown }) => void)[] = [];

  constructor(
    readonly size: number,
    totalAgents: number,
  ) {
    // One source address per ≤ 2,500 sockets (ephemeral range here is ~28k ports per address), at least one per worker.
    const count = Math.max(size, Math.ceil(totalAgents / 2500));
    const all = Array.from({ length: count }, (_, i) => `127.0.${Math.floor((i + 2) / 256)}.${(i + 2) % 256}`);
    this.addresses = Array.from({ length: size }, (_, w) => all.filter((_, i) => i % size === w));
    for (let w = 0; w < size; w++) {
      const proc = fork(path.join(ROOT, 'test/bench/sim-client-worker.ts'), [], {
        cwd: ROOT,
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      });
      const child = new Child(`client-worker-${w}`, proc);
      registerChild(child);
      void child.exited.then((code) => {
        if (!this.stopping) this.failure ??= `client worker ${w} exited with ${code}:\n${child.tail.slice(-15).join('\n')}`;
      });
      this.children.push(child);
      this.latest.push(null);
      this.enrolled.push(null);
      proc.on('message', (m: { type: string; stats?: Stats; rssKb?: number; identities?: [string, string][]; serverKey?: string }) => {
        if (m.type === 'progress') this.latest[w] = { stats: m.stats as Stats, rssKb: m.rssKb as number };
        if (m.type === 'enrolled') this.enrolled[w] = { identities: m.identities ?? [], serverKey: m.serverKey ?? '' };
        for (const listener of this.listeners) listener(w, m);
      });
    }
  }

  listen(listener: (w: number, message: { type: string; [key: string]: unknown }) => void): void {
    this.listeners.push(listener);
  }

  async ready(limitMs: number): Promise<void> {
    await until('client workers start', limitMs, () => this.latest.every((l) => l !== null));
  }

  send(w: number, command: WorkerCommand): void {
    this.children[w].proc.send(command);
  }

  broadcast(command: WorkerCommand): void {
    for (let w = 0; w < this.size; w++) this.send(w, command);
  }

  /** Splits `total` over the workers: worker w gets share(w). */
  share(total: number, w: number): number {
    return Math.floor(total / this.size) + (w < total % this.size ? 1 : 0);
  }

  totals(): Totals {
    const t: Totals = { welcomes: 0, authed: 0, epoch: 0, epochWelcomed: 0, lastWelcomeAt: 0, attempts: 0, problems: {}, rssKb: 0 };
    for (const l of this.latest) {
      if (!l) continue;
      t.welcomes += l.stats.welcomes;
      t.authed += l.stats.authed;
      t.epochWelcomed += l.stats.epochWelcomed;
      t.attempts += l.stats.attempts;
      t.lastWelcomeAt = Math.max(t.lastWelcomeAt, l.stats.lastWelcomeAt);
      t.rssKb += l.rssKb;
      for (const [k, v] of Object.entries(l.stats.problems)) t.problems[k] = (t.problems[k] ?? 0) + v;
    }
    return t;
  }

  /** Sets a new epoch in every worker and waits until each has acknowledged it in a progress report. */
  async newEpoch(epoch: number): Promise<void> {
    this.broadcast({ cmd: 'epoch', epoch });
    await until('workers acknowledge epoch', 5000, () => this.latest.every((l) => l?.stats.epoch === epoch), 20);
  }

  enrolledAll(): { identities: [string, string][]; serverKey: string } | null {
    if (this.enrolled.some((e) => e === null)) return null;
    const identities = this.enrolled.flatMap((e) => e!.identities);
    return { identities, serverKey: this.enrolled.find((e) => e!.serverKey)?.serverKey ?? '' };
  }

  workerPids(): number[] {
    return this.children.map((c) => c.pid);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (let w = 0; w < this.size; w++) {
      if (this.children[w].exitCode === undefined) this.send(w, { cmd: 'stop' });
    }
    await Promise.all(this.children.map((c) => Promise.race([c.exited, new Promise((r) => setTimeout(r, 5000))])));
    for (const c of this.children) c.kill('SIGKILL');
  }
}

export const formatProblems = (p: Record<string, number>) =>
  Object.entries(p)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([k, v]) => `${k} ×${v}`)
    .join('; ') || 'none';
