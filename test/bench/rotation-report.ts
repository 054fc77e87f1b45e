import { fmt, type Report } from './report.ts';
import type { RoundFigures } from './rotation-db.ts';
import type { EndpointReport } from './rotation-endpoint.ts';
import { spread } from './rotation-rest.ts';

/** The rows of the rotation benchmark's report: setup, one rotation round, the baseline. */
export function reportSetupRequest(
  report: Report,
  r: { putMs: number; setupSeen: number; statusMs: number; status: { desktop: { status: string | null }; machines: { status: string }[] }; n: number },
): void {
  report.add('setup: PUT credential-policy (plans every machine, queues the jobs, one transaction)', fmt.s(r.putMs));
  report.add('setup: PUT → setup state "complete" (polled every 250 ms)', fmt.s(r.setupSeen));
  const created = r.status.machines.filter((m) => m.status === 'created').length;
  report.add('setup: GET credential-status (site desktop status, created machines)', `${r.status.desktop.status}, ${created}`, { text: `created, ${r.n}`, ok: r.status.desktop.status === 'created' && created === r.n });
  report.add(`GET credential-status latency (${r.n} machines)`, `${fmt.n(r.statusMs, 0)} ms`);
}

const ms = (v: number) => `${fmt.n(v, 0)} ms`;

export function reportRound(
  report: Report,
  label: 'setup' | 'rotation',
  r: { n: number; start: number; seenMs: number; db: RoundFigures; agents: EndpointReport; expectedSets: number },
): void {
  const { n, db, agents } = r;
  const done = db.states.done ?? 0;
  const others = Object.entries(db.states).filter(([k]) => k !== 'done').map(([k, v]) => `${k} ${v}`).join(', ');
  report.add(`${label}: jobs done${others ? ` (others: ${others})` : ''}`, `${done}`, { text: `= ${n}`, ok: done === n });
  const spanMs = db.lastDone - db.firstCreated;
  const totalMs = db.lastDone - r.start;
  const what = label === 'setup' ? 'accounts created' : 'endpoints rotated';
  report.add(`${label}: ${label === 'setup' ? 'PUT' : 'first request'} → last job done (DB clock)`, fmt.s(totalMs), label === 'rotation' && n >= 10_000 ? { text: '≤ 60 s', ok: totalMs <= 60_000 && done === n } : undefined);
  report.add(`${label}: first job created → last job done (DB clock)`, fmt.s(spanMs));
  report.add(`${label}: ${what} per second`, `${fmt.n(done / (totalMs / 1000), 0)} /s`, label === 'rotation' ? { text: '≥ 167 /s (10,000 in 60 s)', ok: done === n && done / (totalMs / 1000) >= 10_000 / 60 } : undefined);
  report.add(`${label}: per machine, job created → password applied: p50 / p99 / max`, spread(db.latencies));
  report.add(`${label}: jobs claimed more than once (retries)`, `${db.retried}`);
  report.add(`${label}: per machine at the agent, inspect in → apply answered: p50 / p99 / max`, spread(agents.service));
  report.add(`${label}:   of which inspect → prepare / prepare → apply (p50)`, `${spread(agents.inspectToPrepare).split(' / ')[0]} ms / ${spread(agents.prepareToApply).split(' / ')[0]} ms`);
  const handling = Object.entries(agents.commands)
    .map(([k, [ok, bad]]) => `${k.replace('credentials.', '')} ${ok + bad}× ${ms((agents.handlingMs[k] ?? 0) / Math.max(1, ok + bad))}`)
    .join(', ');
  report.add(`${label}: commands answered by the endpoints, mean agent-side time`, handling || 'none');
  report.add(`${label}: endpoints with the managed admin account / password sets in total`, `${agents.managedAccounts} / ${agents.passwordSets}`, { text: `${n} / ${r.expectedSets}`, ok: agents.managedAccounts === n && agents.passwordSets === r.expectedSets });
  report.add(`${label}: the bench saw every endpoint applied after (polled)`, fmt.s(r.seenMs));
  const errors = Object.entries(agents.errors).sort((a, b) => b[1] - a[1]).slice(0, 5);
  if (errors.length) report.note(`${label}: commands the endpoints refused or failed: ${errors.map(([k, v]) => `${k} ×${v}`).join('; ')}`);
}

export function reportBaseline(report: Report, floor: { jobs: number; queueMs: number; runMs: number; done: number }, rotation: RoundFigures): void {
  report.add('baseline: database work of a rotation alone — jobs done', `${floor.done}/${floor.jobs}`, { text: `= ${floor.jobs}`, ok: floor.done === floor.jobs });
  report.add('baseline: claim → last job done (200 at a time) / per second', `${fmt.s(floor.runMs)} / ${fmt.n(floor.done / (floor.runMs / 1000), 0)} /s`);
  report.add('baseline: queueing the jobs (queueJobs, not in the time above)', fmt.s(floor.queueMs));
  const spanMs = rotation.lastDone - rotation.firstCreated;
  if (spanMs > 0 && floor.runMs > 0) report.add('rotation (first job created → last done) / baseline', `${fmt.n(spanMs / floor.runMs, 1)} ×`);
}
