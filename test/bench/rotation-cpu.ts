import fs from 'node:fs';
import os from 'node:os';
import { cpuMeter, procSample, CLK_TCK } from './proc.ts';
import { fmt, type Report } from './report.ts';

/**
 * CPU of one phase, split four ways: the server, the client workers (the simulated endpoints), the PostgreSQL
 * backends serving the bench's database (found by the database name in their process title), and everything else
 * (other jobs on the machine, the kernel). On PGlite the database runs inside the server process.
 */
function backendTicks(dbName: string | null): Map<number, number> {
  const ticks = new Map<number, number>();
  if (!dbName) return ticks;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const title = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (title.startsWith('postgres:') && title.includes(` ${dbName} `)) ticks.set(Number(entry), procSample(Number(entry)).cpuTicks);
    } catch {
      /* gone meanwhile */
    }
  }
  return ticks;
}

export function phaseCpu(serverPid: number, workerPids: number[], dbName: string | null): (report: Report, phase: string) => void {
  const meter = cpuMeter(serverPid, workerPids);
  const before = backendTicks(dbName);
  const start = Date.now();
  return (report, phase) => {
    const c = meter();
    const seconds = (Date.now() - start) / 1000;
    let ticks = 0;
    // A backend that started during the phase counts from zero; one that ended during it is missed (rare: pooled).
    for (const [pid, t] of backendTicks(dbName)) ticks += t - (before.get(pid) ?? 0);
    const pg = (ticks / CLK_TCK / seconds) * 100;
    const other = Math.max(0, c.machine * os.cpus().length - c.server - c.workers - pg);
    report.add(
      `CPU during ${phase}: server / clients${dbName ? ' / PostgreSQL' : ''} / other (% of one core)`,
      [c.server, c.workers, ...(dbName ? [pg] : []), other].map((v) => fmt.n(v, 0)).join(' / '),
    );
  };
}
