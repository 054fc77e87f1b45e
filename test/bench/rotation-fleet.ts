import type { EndpointReport } from './rotation-endpoint.ts';
import type { WorkerPool } from './workers.ts';

/** The bench's side of the simulated endpoints: progress from every worker, and phase reports merged. */
export class Fleet {
  private readonly progress: ({ applied: number; commands: Record<string, [number, number]> } | null)[];
  private readonly reports: (EndpointReport | null | undefined)[];

  constructor(private readonly pool: WorkerPool) {
    this.progress = Array.from({ length: pool.size }, () => null);
    this.reports = Array.from({ length: pool.size }, () => undefined);
    pool.listen((w, m) => {
      if (m.type === 'progress' && m.endpoint) this.progress[w] = m.endpoint as { applied: number; commands: Record<string, [number, number]> };
      if (m.type === 'endpoint-report') this.reports[w] = m.report as EndpointReport | null;
    });
  }

  /** Machines whose apply succeeded since the last report (as of the workers' last progress message, ≤ 250 ms old). */
  applied(): number {
    return this.progress.reduce((a, p) => a + (p?.applied ?? 0), 0);
  }

  /** `inspect 10/0 prepare 9/0 apply 8/1` (ok/failed since the last report). */
  commands(): string {
    const merged: Record<string, [number, number]> = {};
    for (const p of this.progress) for (const [k, [ok, bad]] of Object.entries(p?.commands ?? {})) ((merged[k] ??= [0, 0])[0] += ok), (merged[k][1] += bad);
    return Object.entries(merged).map(([k, [ok, bad]]) => `${k.replace('credentials.', '')} ${ok}/${bad}`).join(' ') || 'none';
  }

  /** Every worker's figures since the last report, merged; the workers start over. */
  async report(limitMs = 60_000): Promise<EndpointReport> {
    this.reports.fill(undefined);
    this.pool.broadcast({ cmd: 'endpoint-report' });
    const deadline = Date.now() + limitMs;
    while (this.reports.some((r) => r === undefined)) {
      if (Date.now() > deadline) throw new Error('client workers did not send their endpoint reports');
      await new Promise((r) => setTimeout(r, 50));
    }
    const merged: EndpointReport = { commands: {}, errors: {}, handlingMs: {}, service: [], inspectToPrepare: [], prepareToApply: [], managedAccounts: 0, passwordSets: 0, endpoints: 0 };
    for (const r of this.reports) {
      if (!r) continue;
      for (const [k, [ok, bad]] of Object.entries(r.commands)) ((merged.commands[k] ??= [0, 0])[0] += ok), (merged.commands[k][1] += bad);
      for (const [k, v] of Object.entries(r.errors)) merged.errors[k] = (merged.errors[k] ?? 0) + v;
      for (const [k, v] of Object.entries(r.handlingMs)) merged.handlingMs[k] = (merged.handlingMs[k] ?? 0) + v;
      merged.service.push(...r.service);
      merged.inspectToPrepare.push(...r.inspectToPrepare);
      merged.prepareToApply.push(...r.prepareToApply);
      merged.managedAccounts += r.managedAccounts;
      merged.passwordSets += r.passwordSets;
      merged.endpoints += r.endpoints;
    }
    // The progress counters start over with the report; until the next progress message they would read stale.
    this.progress.fill(null);
    return merged;
  }
}
