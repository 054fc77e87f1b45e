import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { eq, sql } from 'drizzle-orm';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import pino from 'pino';
import postgres from 'postgres';
import { AuditLog } from '../../server/audit/audit-log.ts';
import { policyFromRow, type CredentialPolicy } from '../../server/credentials/credential-policy-store.ts';
import * as store from '../../server/credentials/credential-store.ts';
import { RotationLedger } from '../../server/credentials/rotation-ledger.ts';
import type { Db } from '../../server/db/open.ts';
import * as schema from '../../server/db/schema.ts';
import { credentialAccounts } from '../../server/db/schema.ts';

/**
 * The database side of the rotation benchmark, read once the server has stopped (PGlite admits one opener): what each
 * round achieved per machine, whether every account ended with exactly one current version, and the baseline — the
 * rotation's database work alone, run with the server's own store functions on the same database.
 */
/**
 * The database the bench's server wrote, opened as it is — no migrations: the working tree may have moved on while the
 * server ran. PostgreSQL: a pool of 10 like the server's, named `steward-bench` (so pg_stat_activity tells it apart);
 * PGlite: the server's data directory, only once the server has exited.
 */
export async function openAsIs(o: { databaseUrl: string | null; dataDir: string }): Promise<{ db: Db; close(): Promise<void> }> {
  if (o.databaseUrl) {
    const client = postgres(o.databaseUrl, { max: 10, onnotice: () => {}, connection: { application_name: 'steward-bench' } });
    return { db: drizzlePostgres(client, { schema }) as unknown as Db, close: () => client.end({ timeout: 5 }) };
  }
  const client = await PGlite.create(path.join(o.dataDir, 'pglite'));
  return { db: drizzlePglite(client, { schema }) as unknown as Db, close: () => client.close() };
}

const rows = <T>(result: unknown) => (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as T[];

export interface RoundFigures {
  states: Record<string, number>;
  /** DB clock, ms since the epoch: first job created, last job finished (done). */
  firstCreated: number;
  lastDone: number;
  /** Per machine, job created → its version applied on the endpoint and promoted (ms), sorted. */
  latencies: number[];
  /** Jobs that needed more than one claim (a retry after a failure or timeout). */
  retried: number;
}

export async function roundFigures(db: Db, reason: 'setup' | 'on_demand'): Promise<RoundFigures> {
  const states = rows<{ state: string; n: number }>(await db.execute(sql`select state, count(*)::int as n from credential_jobs where reason = ${reason} group by state`));
  const [span] = rows<{ first: number | null; last: number | null; retried: number }>(
    await db.execute(sql`select (extract(epoch from min(created_at)) * 1000)::float8 as first,
        (extract(epoch from max(finished_at) filter (where state = 'done')) * 1000)::float8 as last,
        (count(*) filter (where attempts > 1))::int as retried
      from credential_jobs where reason = ${reason}`),
  );
  const latencies = rows<{ ms: number }>(
    await db.execute(sql`select (extract(epoch from (v.applied_at - j.created_at)) * 1000)::float8 as ms
      from credential_jobs j join credential_versions v on v.job_id = j.id and v.applied_at is not null
      where j.reason = ${reason} and j.state = 'done'`),
  )
    .map((r) => Number(r.ms))
    .sort((a, b) => a - b);
  return { states: Object.fromEntries(states.map((s) => [s.state, Number(s.n)])), firstCreated: Number(span?.first ?? 0), lastDone: Number(span?.last ?? 0), latencies, retried: Number(span?.retried ?? 0) };
}

/** Accounts created, accounts with exactly one current version, versions by state. */
export async function consistency(db: Db): Promise<{ created: number; oneCurrent: number; rotated: number; versions: Record<string, number> }> {
  const [a] = rows<{ created: number; rotated: number }>(
    await db.execute(sql`select (count(*) filter (where status = 'created'))::int as created, (count(*) filter (where last_rotated_at is not null))::int as rotated from credential_accounts`),
  );
  const [c] = rows<{ n: number }>(await db.execute(sql`select count(*)::int as n from (select account_id from credential_versions where state = 'current' group by account_id having count(*) = 1) x`));
  const versions = rows<{ state: string; n: number }>(await db.execute(sql`select state, count(*)::int as n from credential_versions group by state`));
  return { created: Number(a.created), oneCurrent: Number(c.n), rotated: Number(a.rotated), versions: Object.fromEntries(versions.map((v) => [v.state, Number(v.n)])) };
}

/** Open jobs by state (PostgreSQL only while the server runs). */
export async function jobStates(db: Db, reason: string): Promise<Record<string, number>> {
  const list = rows<{ state: string; n: number }>(await db.execute(sql`select state, count(*)::int as n from credential_jobs where reason = ${reason} group by state`));
  return Object.fromEntries(list.map((s) => [s.state, Number(s.n)]));
}

/**
 * What the server's PostgreSQL backends are doing right now (PostgreSQL only): one key per busy backend of the
 * server (application_name steward-server), `running` or the wait event (`Lock/advisory` = the audit chain's append lock,
 * `Client/ClientRead` = waiting for the server to send the next statement of an open transaction).
 */
export async function pgBackendStates(db: Db): Promise<string[]> {
  const list = rows<{ k: string }>(
    await db.execute(sql`select coalesce(wait_event_type || '/' || wait_event, 'running') as k from pg_stat_activity
      where datname = current_database() and application_name = 'steward-server' and state <> 'idle'`),
  );
  return list.map((r) => r.k);
}

/** As server/app.ts configures the RotationWorker, and rotation-worker.ts leases. */
const WORKER = { batch: 2000, concurrency: 200, leaseSeconds: 180 };
/** A sealed box of a 20-character password: 32 (ephemeral key) + 24 (nonce) + 16 (tag) + 20 bytes. */
const SEALED_BYTES = 92;

/**
 * Baseline: a rotation of every created account with the agent and the server's crypto taken out — only the
 * database work server/credentials/rotation-runner.ts does per job, through the same store functions and the same
 * RotationLedger (group commit), claimed like rotation-worker.ts claims (2,000 per claim, their contexts in one
 * query, 200 at a time). Jobs are queued first (not timed). Keep in step with rotation-runner.ts: this mirrors
 * runJob's happy path.
 */
export async function databaseFloor(db: Db, opts: { audit: boolean; limitMs: number }): Promise<{ jobs: number; queueMs: number; runMs: number; done: number }> {
  const deadline = Date.now() + opts.limitMs;
  const ledger = new RotationLedger(db, new AuditLog(db, pino({ level: 'silent' })));
  const accounts = await db.select({ id: credentialAccounts.id, machineId: credentialAccounts.machineId }).from(credentialAccounts).where(eq(credentialAccounts.status, 'created'));
  const machineIds = accounts.map((a) => a.machineId);
  const q0 = performance.now();
  const now = new Date();
  await store.queueJobs(db, accounts.map((a) => ({ accountId: a.id, machineId: a.machineId, reason: 'on_demand' as const, dueAt: now, deadlineAt: new Date(now.getTime() + 86400_000), requestedBy: null })));
  const queueMs = performance.now() - q0;
  const t0 = performance.now();
  let done = 0;
  for (;;) {
    const jobs = await store.claimDueJobs(db, machineIds, WORKER.batch, WORKER.leaseSeconds);
    const claimed = new Map(jobs.map((j) => [j.id, j]));
    const contexts = await store.jobContexts(db, jobs.map((j) => j.id));
    await lanes(contexts, WORKER.concurrency, deadline, async (context) => {
      const job = claimed.get(context.jobId);
      if (!job) throw new Error(`job ${context.jobId}: not claimed`);
      await floorJob(ledger, opts.audit, { job, account: context.account, policy: policyFromRow(context.policy) });
      done++;
    });
    if (jobs.length < WORKER.batch || Date.now() > deadline) break;
  }
  return { jobs: accounts.length, queueMs, runMs: performance.now() - t0, done };
}

/** `audit` false: the diagnostic variant without the audit chain's append (and so without its lock). */
async function floorJob(ledger: RotationLedger, audit: boolean, { job, account, policy }: { job: store.CredentialJob; account: store.CredentialAccount; policy: CredentialPolicy }): Promise<void> {
  // (credentials.inspect and credentials.prepare on the agent; the job is signed and the sealed copy opened here)
  const versionId = await ledger.storePending({ accountId: account.id, jobId: job.id, sealed: randomBytes(SEALED_BYTES) });
  // (credentials.apply on the agent)
  await ledger.end({
    jobId: job.id,
    state: 'done',
    error: null,
    promote: { accountId: account.id, versionId, historyDepth: policy.rotation.historyDepth },
    account: { id: account.id, status: 'created', reasons: [] },
    ...(audit
      ? {
          audit: {
            actorType: 'system',
            action: 'credential.rotate',
            outcome: 'success',
            targetType: 'machine',
            targetId: job.machineId,
            details: { account: account.username, purpose: account.purpose, scope: account.scope, reason: job.reason, jobId: job.id, versionId, created: false },
          },
        }
      : {}),
  });
}

/** Runs `work` over the items, at most `limit` at a time (rotation-worker.ts's runAll); none starts after `deadline`. */
async function lanes<T>(items: T[], limit: number, deadline: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && Date.now() < deadline) await work(items[next++]);
  }));
}

