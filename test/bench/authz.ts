/**
 * Access-model benchmark: what the authorizer and the per-request actor load cost.
 *
 *   npm run bench:authz -- [--db pglite|postgres] [--seconds 5] [--concurrency 16]
 *
 * 1. In process: `authorize()` decisions per second for a technician holding many grants (pure function).
 * 2. A real server (child process) over a populated database — 50 clients, 100 sites, 2,000 machines; a Super
 *    Admin, a technician (client access to 1 client, site access all on 5 sites, limited on 1), a Remote Workforce
 *    user with 50 assignments, a client user — and, per endpoint and user, requests/s and p50/p99 latency at a fixed
 *    concurrency, against the same server's unauthenticated `GET /healthz` as baseline. The ratio is the cost of
 *    authentication + loading the actor's grants + authorization (+ the endpoint's own query).
 */
import { parseArgs } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { authorize } from '../../server/access/authorizer.ts';
import { hashPassword } from '../../server/auth/password.ts';
import { openDatabase } from '../../server/db/open.ts';
import { assignments, clientAccess, clients, machines, siteAccess, siteAccessMachines, sites, users } from '../../server/db/schema.ts';
import { syncBuiltInRoles } from '../../server/roles/role-sync.ts';
import { buildActor } from './authz-actor.ts';
import { freePort, killAllChildren } from './proc.ts';
import { fmt, Report } from './report.ts';
import { baseUrl, createBenchDatabase, startSteward, type ServerSpec } from './server-process.ts';

const { values: opt } = parseArgs({
  options: {
    db: { type: 'string', default: 'pglite' },
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '16' },
    'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
  },
});
const SECONDS = Number(opt.seconds);
const CONCURRENCY = Number(opt.concurrency);
const PASSWORD = 'bench password long enough';

async function populate(databaseUrl: string | null, dataDir: string) {
  const database = await openDatabase({ databaseUrl, dataDir });
  const db = database.db;
  await syncBuiltInRoles(db);
  const passwordHash = await hashPassword(PASSWORD);
  const clientRows = await db.insert(clients).values(Array.from({ length: 50 }, (_, i) => ({ name: `Client ${i}` }))).returning();
  const siteRows = await db.insert(sites).values(clientRows.flatMap((c) => [0, 1].map((j) => ({ clientId: c.id, name: `Site ${j}` })))).returning();
  const machineRows = await db
    .insert(machines)
    .values(siteRows.flatMap((s, si) => Array.from({ length: 20 }, (_, j) => ({ siteId: s.id, hostname: `host-${si}-${j}`, kind: j % 5 ? 'desktop' : 'server', agentPublicKey: new Uint8Array(Buffer.from(`${si}-${j}`.padEnd(32, '.'))) }))))
    .returning();
  const mk = (email: string, role: string, clientId: string | null = null) => ({ email, name: email, role, passwordHash, allowRemoteControl: true, kind: clientId ? 'client_user' : 'technician', clientId });
  const [admin, tech, rw, cu] = await db
    .insert(users)
    .values([mk('admin@bench.test', 'super_admin'), mk('tech@bench.test', 'technician'), mk('rw@bench.test', 'remote_workforce'), mk('cu@bench.test', 'client_end_user', clientRows[0].id)])
    .returning();
  await db.insert(clientAccess).values({ userId: tech.id, clientId: clientRows[1].id });
  await db.insert(siteAccess).values(siteRows.slice(10, 15).map((s) => ({ userId: tech.id, siteId: s.id, resourceAccess: 'all' })));
  const [limited] = await db.insert(siteAccess).values({ userId: tech.id, siteId: siteRows[20].id, resourceAccess: 'limited' }).returning();
  await db.insert(siteAccessMachines).values(machineRows.filter((m) => m.siteId === siteRows[20].id).slice(0, 5).map((m) => ({ siteAccessId: limited.id, machineId: m.id })));
  await db.insert(assignments).values(machineRows.slice(500, 550).map((m) => ({ userId: rw.id, machineId: m.id, rights: ['terminal'] })));
  await db.insert(siteAccess).values({ userId: cu.id, siteId: siteRows[0].id, resourceAccess: 'all' });
  await database.close();
  return { users: { admin, tech, rw, cu }, someMachine: machineRows[210], machineCount: machineRows.length };
}

interface Load {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function load(url: string, token: string | null): Promise<Load> {
  const latencies: number[] = [];
  let errors = 0;
  const deadline = Date.now() + SECONDS * 1000;
  const headers = token ? { authorization: `Bearer ${token}` } : undefined;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < deadline) {
        const t0 = performance.now();
        const res = await fetch(url, { headers });
        await res.arrayBuffer();
        if (res.status !== 200) errors++;
        latencies.push(performance.now() - t0);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { rps: latencies.length / SECONDS, p50: latencies[Math.floor(latencies.length * 0.5)], p99: latencies[Math.floor(latencies.length * 0.99)], errors };
}

function pureDecisions(report: Report) {
  const actor = buildActor(1000);
  const resources = actor.resources;
  let allowed = 0;
  const n = 2_000_000;
  const t0 = performance.now();
  const now = new Date();
  for (let i = 0; i < n; i++) if (authorize(actor.actor, 'sessions.join', resources[i % resources.length], now).allowed) allowed++;
  const ms = performance.now() - t0;
  report.add('authorize(), technician with 1,000 grants, decisions/s', fmt.n(n / (ms / 1000)));
  report.add('  of which allowed', `${fmt.n((allowed / n) * 100, 1)} %`);
}

async function run() {
  const report = new Report();
  pureDecisions(report);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-bench-authz-'));
  const pg = opt.db === 'postgres' ? await createBenchDatabase(opt['pg-url']!) : null;
  try {
    const spec: ServerSpec = { port: await freePort(), dataDir: path.join(tmp, 'data'), databaseUrl: pg?.url ?? null, heartbeatSeconds: 30, cpuProfDir: null };
    const data = await populate(spec.databaseUrl, spec.dataDir);
    const { child } = await startSteward(spec, 60_000);
    const url = baseUrl(spec);
    const tokens: Record<string, string> = {};
    for (const [who, u] of Object.entries(data.users)) {
      const res = await fetch(`${url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: u.email, password: PASSWORD }) });
      tokens[who] = ((await res.json()) as { token: string }).token;
    }
    const base = await load(`${url}/healthz`, null);
    report.add(`baseline GET /healthz (no auth), req/s · p50 · p99`, `${fmt.n(base.rps)} · ${fmt.n(base.p50, 1)} ms · ${fmt.n(base.p99, 1)} ms`);
    const cases: [string, string, string][] = [
      ['GET /api/v1/me', 'tech', '/api/v1/me'],
      ['GET /api/v1/machines/:id (allowed)', 'admin', `/api/v1/machines/${data.someMachine.id}`],
      ['GET /api/v1/machines/:id (allowed)', 'tech', `/api/v1/machines/${data.someMachine.id}`],
      [`GET /api/v1/machines (all ${data.machineCount})`, 'admin', '/api/v1/machines'],
      ['GET /api/v1/machines (technician: ~125)', 'tech', '/api/v1/machines'],
      ['GET /api/v1/machines (remote workforce: 50)', 'rw', '/api/v1/machines'],
      ['GET /api/v1/me/machines (remote workforce)', 'rw', '/api/v1/me/machines'],
    ];
    for (const [name, who, p] of cases) {
      const r = await load(url + p, tokens[who]);
      report.add(`${name} as ${who}, req/s · p50 · p99`, `${fmt.n(r.rps)} · ${fmt.n(r.p50, 1)} ms · ${fmt.n(r.p99, 1)} ms${r.errors ? ` (${r.errors} non-200)` : ''}`);
      report.add(`  ratio to baseline (req/s)`, `${fmt.n(base.rps / r.rps, 1)} × slower`);
    }
    child.kill('SIGTERM');
    report.note(`server child on ${opt.db}; load from this process: ${CONCURRENCY} concurrent keep-alive fetches for ${SECONDS} s per row; 2 cores shared by both.`);
    report.print('Steward access-model benchmark', `npm run bench:authz -- --db ${opt.db} --seconds ${SECONDS} --concurrency ${CONCURRENCY}`);
  } finally {
    killAllChildren();
    await pg?.drop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

run().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    killAllChildren();
    process.exit(1);
  },
);
