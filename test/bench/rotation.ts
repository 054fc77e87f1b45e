import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AGENT_GATEWAY_PATH } from '../../protocol/version.ts';
import { Bench, log } from './phases.ts';
import { codeUnderTest, cpuMeter, fdLimit, freePort, killAllChildren, PhaseTimeout, ROOT, sleep, until } from './proc.ts';
import { fmt, printServerMessages, Report } from './report.ts';
import { phaseCpu } from './rotation-cpu.ts';
import { consistency, databaseFloor, jobStates, openAsIs, pgBackendStates, roundFigures } from './rotation-db.ts';
import { Fleet } from './rotation-fleet.ts';
import { reportBaseline, reportRound, reportSetupRequest } from './rotation-report.ts';
import { Api, spread } from './rotation-rest.ts';
import { createBenchDatabase, setupTenant, type ServerSpec } from './server-process.ts';

/**
 * `npm run bench:rotation -- --agents N [--db pglite|postgres]`: N simulated agents (real handshake, forked client
 * workers, each answering commands with the agent's real CredentialJobs over an in-memory account store) against a
 * real server child process; time to set up N Remote Support accounts, then to rotate all N, with p50/p99 per machine;
 * baseline: the same rotation's database work alone on the same database. See test/bench/README.md.
 */
const { values: opt } = parseArgs({
  options: {
    agents: { type: 'string' },
    db: { type: 'string', default: 'pglite' },
    workers: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '64' },
    queue: { type: 'string', default: 'site' },
    'rest-concurrency': { type: 'string', default: '16' },
    'tick-seconds': { type: 'string', default: '1' },
    'pg-url': { type: 'string', default: process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
    'enroll-timeout': { type: 'string', default: '600' },
    'connect-timeout': { type: 'string', default: '300' },
    'setup-timeout': { type: 'string', default: '900' },
    'rotation-timeout': { type: 'string', default: '900' },
    'baseline-timeout': { type: 'string', default: '900' },
    'cpu-prof': { type: 'boolean', default: false },
    'skip-baseline': { type: 'boolean', default: false },
    'diagnose-audit': { type: 'boolean', default: false },
    'trace-db': { type: 'boolean', default: false },
  },
});
const N = Number(opt.agents);
const W = Number(opt.workers);
const CONC = Number(opt.concurrency);
const REST_CONC = Number(opt['rest-concurrency']);
const DB = opt.db as 'pglite' | 'postgres';
const QUEUE = opt.queue as 'site' | 'api';
const sec = (name: keyof typeof opt) => Number(opt[name]) * 1000;
if (!Number.isInteger(N) || N < 1 || N > 100_000 || !['pglite', 'postgres'].includes(DB) || !(W >= 1 && W <= 8) || !(CONC >= 1) || !(REST_CONC >= 1 && REST_CONC <= 256) || !['site', 'api'].includes(QUEUE)) {
  process.stderr.write('usage: npm run bench:rotation -- --agents N (1..100000) [--db pglite|postgres] [--queue site|api] [--rest-concurrency 16] [--workers 1..8] [--cpu-prof] [--skip-baseline]\n');
  process.exit(2);
}
const reproduce = `npm run bench:rotation -- ${process.argv.slice(2).join(' ')}`;
const report = new Report();
// Sections, merged in this order when printed (the database figures of each phase are read only at the end).
const setupRows = new Report();
const rotationRows = new Report();
const tailRows = new Report();
const bench = new Bench({ n: N, workers: W, concurrency: CONC, steadyMs: 0, stopGraceMs: 60_000 }, report);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-bench-rot-'));
const profDir = opt['cpu-prof'] ? fs.mkdtempSync(path.join(os.tmpdir(), 'steward-bench-prof-')) : null;
let pgDrop: (() => Promise<void>) | null = null;
let monitor: Awaited<ReturnType<typeof openAsIs>> | null = null;
let exitCode = 0;
/** Server-relative seconds of the rotation phase, for slicing a --cpu-prof profile. */
let profileWindow: [number, number] | null = null;
const extraOutput: string[] = [];

let cleaning: Promise<void> | null = null;
const cleanup = () =>
  (cleaning ??= (async () => {
    await bench.pool?.stop().catch(() => {});
    await Promise.all(bench.servers.map((s) => s.stop(10_000).catch(() => undefined)));
    killAllChildren();
    await monitor?.close().catch(() => {});
    await pgDrop?.().catch((e: unknown) => log(`could not drop the bench database: ${String(e)}`));
    fs.rmSync(tmp, { recursive: true, force: true });
  })());
process.on('exit', () => {
  killAllChildren();
  fs.rmSync(tmp, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void cleanup().finally(() => process.exit(130)));

async function run(): Promise<void> {
  const limit = fdLimit();
  const idle = cpuMeter(process.pid, []);
  await sleep(2000);
  const busyBefore = idle().machine;
  const code = codeUnderTest();
  report.add('code under test (git HEAD, changed files in server/ protocol/ agent/)', `${code.commit}, ${code.changedFiles}`);
  report.add('machine busy before start (other jobs), loadavg', `${fmt.n(busyBefore, 0)} %, ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  if (busyBefore > 15) report.note(`the machine was ${fmt.n(busyBefore, 0)} % busy before the run: other jobs compete for the 2 cores; times are pessimistic`);
  if (opt['cpu-prof'] || opt['trace-db']) report.note('--cpu-prof / --trace-db is on: it slows the server; take times from a run without it');
  if (limit.hard < N + 256) throw new Error(`RLIMIT_NOFILE hard limit ${limit.hard} is too low for ${N} agents`);
  log(`Steward rotation benchmark: ${N} agents, db ${DB}, ${W} client workers, queue via ${QUEUE}, ${os.cpus().length} cores`);

  const port = await freePort();
  let databaseUrl: string | null = null;
  let dbName: string | null = null;
  if (DB === 'postgres') {
    const created = await createBenchDatabase(opt['pg-url'] as string);
    pgDrop = created.drop;
    databaseUrl = created.url;
    dbName = created.name;
    log(`created database ${created.name}`);
  }
  // startSteward hands the bench's environment to the server: the credential worker ticks every second.
  process.env.STEWARD_CREDENTIAL_TICK_SECONDS = opt['tick-seconds'];
  // --trace-db (PGlite): pglite-trace.mjs times every statement in the server; printed as a note when it stops.
  const spec: ServerSpec = { port, dataDir: path.join(tmp, 'data'), databaseUrl, heartbeatSeconds: 30, cpuProfDir: profDir, dbTracePrefix: opt['trace-db'] && DB === 'pglite' ? path.join(tmp, 'dbtrace') : null };
  const gateway = `ws://127.0.0.1:${port}${AGENT_GATEWAY_PATH}`;
  const spawnedAt = Date.now();
  const steward = await bench.server(spec, 'rotation');
  const { apiToken, enrollmentToken } = await setupTenant(spec, N);
  const api = new Api(spec, apiToken);
  if (databaseUrl) monitor = await openAsIs({ databaseUrl, dataDir: tmp });

  // 1. Enrollment (as bench:agents), then every agent connects with its simulated endpoint and reports inventory.
  let pool = await bench.newPool();
  for (let w = 0; w < W; w++) {
    pool.send(w, { cmd: 'enroll', count: pool.share(N, w), url: gateway, token: enrollmentToken, fingerprint: enrollmentToken.split('.')[1], addresses: pool.addresses[w], concurrency: CONC });
  }
  await bench.watch('enroll', sec('enroll-timeout'));
  await until('enrollment results', 30_000, () => pool.enrolledAll() !== null);
  const enrolled = pool.enrolledAll()!;
  if (enrolled.identities.length < N) throw new Error(`only ${enrolled.identities.length} of ${N} agents enrolled`);
  pool = await bench.newPool();
  const fleet = new Fleet(pool);
  let offset = 0;
  for (let w = 0; w < W; w++) {
    const identities = enrolled.identities.slice(offset, (offset += pool.share(N, w)));
    pool.send(w, { cmd: 'connect', identities, url: gateway, serverKey: enrolled.serverKey, addresses: pool.addresses[w], concurrency: CONC, endpoint: { kind: 'desktop', platform: 'linux' } });
  }
  const connectStart = Date.now();
  await bench.watch('connect', sec('connect-timeout'));
  let machines = await api.machines();
  await until('inventory (desktop, linux) stored for all N', 180_000, async () => {
    machines = await api.machines();
    return machines.filter((m) => m.kind === 'desktop' && m.os === 'linux' && m.online).length === N;
  }, 2000);
  report.add('agents enrolled, connected and inventoried (desktop, linux)', `${N} in ${fmt.s(Date.now() - connectStart)} after enrollment`);
  const siteId = machines[0].siteId;
  await fleet.report();

  const progress = async (phase: string, reason: string) => {
    const states = monitor ? ` jobs ${JSON.stringify(await jobStates(monitor.db, reason))}` : '';
    log(`  ${phase}: ${fleet.applied()}/${N} applied on endpoints; commands ok/failed ${fleet.commands()};${states}`);
  };
  /** Waits for `done`, printing progress every 5 s; on PostgreSQL also samples what the server's backends do. */
  const waitFor = async (phase: string, reason: string, limitMs: number, done: () => Promise<boolean>, into: Report) => {
    let lastPrint = Date.now();
    const waits = new Map<string, number>();
    let samples = 0;
    try {
      await until(phase, limitMs, async () => {
        if (pool.failure) throw new Error(pool.failure);
        if (Date.now() - lastPrint >= 5000) (lastPrint = Date.now()), await progress(phase, reason);
        if (monitor) {
          samples++;
          for (const k of await pgBackendStates(monitor.db)) waits.set(k, (waits.get(k) ?? 0) + 1);
        }
        return done();
      }, 250);
    } finally {
      if (samples) {
        const top = [...waits].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k, v]) => `${k} ${fmt.n(v / samples, 1)}`);
        into.add(`${phase}: server's PostgreSQL backends, mean count by state (${samples} samples)`, top.join(', ') || 'none busy');
      }
    }
  };

  // 2. Setup: the policy PUT plans every machine (one transaction) and queues N setup jobs; the worker runs them.
  let cpu = phaseCpu(steward.pid, pool.workerPids(), dbName);
  const setupStart = Date.now();
  await api.enableDesktopCredentials(siteId);
  const putMs = Date.now() - setupStart;
  log(`setup started (PUT took ${fmt.s(putMs)}); waiting for every account`);
  await waitFor('setup', 'setup', sec('setup-timeout'), async () => (await api.setupState(siteId)) === 'complete', setupRows);
  const setupSeen = Date.now() - setupStart;
  cpu(setupRows, 'setup');
  const setupAgents = await fleet.report();
  const s0 = performance.now();
  const status = await api.credentialStatus(siteId);
  reportSetupRequest(setupRows, { putMs, setupSeen, statusMs: performance.now() - s0, status, n: N });

  // 3. Rotation: one on-demand job per machine (one bulk request for the site, or one request per machine), until
  // every endpoint applied.
  cpu = phaseCpu(steward.pid, pool.workerPids(), dbName);
  const rotationStart = Date.now();
  const profileFrom = (rotationStart - spawnedAt) / 1000;
  // The requests are posted while the worker already runs the first jobs: waiting (and sampling) starts at once.
  let queueing: Promise<void> = Promise.resolve();
  let queued = false;
  if (QUEUE === 'site') {
    const bulk = await api.rotateSite(siteId);
    rotationRows.add('rotation: one POST /api/v1/sites/:id/credentials/rotate', `${bulk.queued} queued in ${fmt.s(Date.now() - rotationStart)}`);
    queued = true;
  } else {
    const ids = machines.map((m) => m.id);
    queueing = api.rotateAll(ids, REST_CONC, rotationStart + sec('rotation-timeout')).then((posted) => {
      queued = true;
      rotationRows.add(`rotation: ${N} × POST …/credentials/remote_support/rotate (${REST_CONC} in flight)`, `${fmt.s(Date.now() - rotationStart)}, p50 / p99 / max ${spread(posted.latencies)}`);
      if (posted.failures) rotationRows.note(`rotate requests refused: ${posted.failures}; first: ${posted.firstFailures.join(' | ')}`);
    });
  }
  let rotationError: unknown = null;
  try {
    await waitFor('rotation', 'on_demand', sec('rotation-timeout'), async () => {
      if (!queued || fleet.applied() < N) return false;
      return monitor ? ((s) => !s.queued && !s.prepared)(await jobStates(monitor.db, 'on_demand')) : true;
    }, rotationRows);
  } catch (error) {
    rotationError = error;
  }
  await queueing;
  const rotationSeen = Date.now() - rotationStart;
  // PGlite: the endpoints' last apply is answered before the server's last commit; give it that moment.
  if (!monitor) await sleep(2000);
  profileWindow = [profileFrom, (Date.now() - spawnedAt) / 1000];
  cpu(rotationRows, 'rotation');
  const rotationAgents = await fleet.report();
  await pool.stop();
  bench.pool = null;
  await monitor?.close();
  monitor = null;
  await bench.stopServer(steward);
  if (rotationError) rotationRows.note(`rotation did not finish: ${(rotationError as Error).message}`);

  // 4. Figures from the database (the server has stopped: PGlite admits one opener), then the baseline on it.
  const database = await openAsIs({ databaseUrl, dataDir: spec.dataDir });
  try {
    const setup = await roundFigures(database.db, 'setup');
    reportRound(setupRows, 'setup', { n: N, start: setupStart, seenMs: setupSeen, db: setup, agents: setupAgents, expectedSets: N });
    const rotation = await roundFigures(database.db, 'on_demand');
    reportRound(rotationRows, 'rotation', { n: N, start: rotationStart, seenMs: rotationSeen, db: rotation, agents: rotationAgents, expectedSets: 2 * N });
    const c = await consistency(database.db);
    tailRows.add('accounts created / with exactly one current version / rotated at least once', `${c.created} / ${c.oneCurrent} / ${c.rotated}`, { text: `= ${N}`, ok: c.created === N && c.oneCurrent === N && c.rotated === N });
    tailRows.add('escrowed versions by state', Object.entries(c.versions).map(([k, v]) => `${k} ${v}`).join(', '));
    if (!opt['skip-baseline']) {
      log('baseline: the rotation\'s database work alone, on the same database');
      const floor = await databaseFloor(database.db, { audit: true, limitMs: sec('baseline-timeout') });
      reportBaseline(tailRows, floor, rotation);
      if (floor.done < floor.jobs) exitCode = 1;
      if (opt['diagnose-audit']) {
        const bare = await databaseFloor(database.db, { audit: false, limitMs: sec('baseline-timeout') });
        tailRows.add('diagnostic: the same baseline without the audit record (no chain lock)', `${fmt.s(bare.runMs)} / ${fmt.n(bare.done / (bare.runMs / 1000), 0)} /s (${bare.done}/${bare.jobs})`);
      }
    }
  } finally {
    await database.close();
  }
  if (rotationError) throw rotationError;
}

const overall = setTimeout(() => {
  log('overall deadline reached');
  void cleanup().finally(() => process.exit(1));
}, sec('enroll-timeout') + sec('connect-timeout') + sec('setup-timeout') + sec('rotation-timeout') + 2 * sec('baseline-timeout') + 1_200_000);
overall.unref();

try {
  await run();
} catch (error) {
  exitCode = 1;
  report.note(`${error instanceof PhaseTimeout ? 'TIMEOUT' : 'FAILED'}: ${(error as Error).message}`);
  const lines = bench.servers.at(-1)?.tail.filter((l) => l.startsWith('{') || /error/i.test(l)).slice(-10) ?? [];
  if (lines.length && !(error instanceof PhaseTimeout)) report.note(`last server log lines:\n${lines.join('\n')}`);
}
await cleanup();
const stewards = bench.servers.filter((s) => s.name === 'steward-server');
const window = profileWindow as [number, number] | null; // set inside run()
if (profDir && window) {
  const file = fs.readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  const [from, to] = window.map((s) => s.toFixed(0));
  if (file) {
    const summary = execFileSync(process.execPath, ['--import', 'tsx', 'test/bench/prof-summary.ts', path.join(profDir, file), '--from', from, '--to', to, '--top', '20'], { cwd: ROOT, encoding: 'utf8' });
    extraOutput.push(`  server CPU profile during the rotation (${path.join(profDir, file)} --from ${from} --to ${to}):`, ...summary.split('\n').map((l) => `    ${l}`));
  }
}
for (const section of [setupRows, rotationRows, tailRows]) report.rows.push(...section.rows), report.notes.push(...section.notes);
report.print(`Steward rotation benchmark — N=${N}, db=${DB}, queue=${QUEUE}, ${W} client workers, ${os.cpus().length} cores`, reproduce);
printServerMessages(stewards);
if (extraOutput.length) process.stdout.write(`${extraOutput.join('\n')}\n`);
process.exit(exitCode);
