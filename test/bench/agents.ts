import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AGENT_GATEWAY_PATH } from '../../protocol/version.ts';
import { Bench, log } from './phases.ts';
import { codeUnderTest, cpuMeter, fdLimit, freePort, killAllChildren, PhaseTimeout, procSample, sleep, until } from './proc.ts';
import { fmt, printServerMessages, Report } from './report.ts';
import { createBenchDatabase, settledRss, setupTenant, type ServerSpec } from './server-process.ts';

/**
 * `npm run bench:agents -- --agents N [--db pglite|postgres]`: N simulated agents against one Steward server on
 * loopback — enrollment rate, connect rate, server RSS per agent, steady heartbeat CPU, presence in the database,
 * reconnect time after a restart — and the same N connections against a bare `ws` server as a baseline.
 * See test/bench/README.md.
 */
const { values: opt } = parseArgs({
  options: {
    agents: { type: 'string' },
    db: { type: 'string', default: 'pglite' },
    workers: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '64' },
    'steady-seconds': { type: 'string', default: '30' },
    'heartbeat-seconds': { type: 'string', default: '30' },
    'enroll-timeout': { type: 'string', default: '600' },
    'connect-timeout': { type: 'string', default: '180' },
    'reconnect-timeout': { type: 'string', default: '120' },
    'restart-signal': { type: 'string', default: 'SIGTERM' },
    'stop-grace': { type: 'string', default: '60' },
    'pg-url': { type: 'string', default: process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
    'cpu-prof': { type: 'boolean', default: false },
    'skip-baseline': { type: 'boolean', default: false },
    'server-backlog': { type: 'string' },
    'trace-db': { type: 'boolean', default: false },
  },
});
const N = Number(opt.agents);
const W = Number(opt.workers);
const CONC = Number(opt.concurrency);
const DB = opt.db as 'pglite' | 'postgres';
const SIGNAL = opt['restart-signal'] === 'SIGKILL' ? 'SIGKILL' : 'SIGTERM';
const sec = (name: keyof typeof opt) => Number(opt[name]) * 1000;
if (!Number.isInteger(N) || N < 1 || N > 100_000 || !['pglite', 'postgres'].includes(DB) || !(W >= 1 && W <= 8) || !(CONC >= 1)) {
  process.stderr.write('usage: npm run bench:agents -- --agents N (1..100000) [--db pglite|postgres] [--workers 1..8] [--concurrency C] [--restart-signal SIGTERM|SIGKILL] [--cpu-prof]\n');
  process.exit(2);
}
const reproduce = `npm run bench:agents -- ${process.argv.slice(2).join(' ')}`;
const report = new Report();
const bench = new Bench({ n: N, workers: W, concurrency: CONC, steadyMs: sec('steady-seconds'), stopGraceMs: sec('stop-grace') }, report);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-bench-'));
const profDir = opt['cpu-prof'] ? fs.mkdtempSync(path.join(os.tmpdir(), 'steward-bench-prof-')) : null;
let pgDrop: (() => Promise<void>) | null = null;
let exitCode = 0;

let cleaning: Promise<void> | null = null;
const cleanup = () =>
  (cleaning ??= (async () => {
    await bench.pool?.stop().catch(() => {});
    await Promise.all(bench.servers.map((s) => s.stop(10_000).catch(() => undefined)));
    killAllChildren();
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
  log(`Steward agent benchmark: ${N} agents, db ${DB}, ${W} client workers, ${os.cpus().length} cores, RLIMIT_NOFILE ${limit.soft}/${limit.hard}`);
  report.add('machine busy before start (other jobs), loadavg', `${fmt.n(busyBefore, 0)} %, ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  if (busyBefore > 15) report.note(`the machine was ${fmt.n(busyBefore, 0)} % busy before the run: other jobs compete for the 2 cores; rates and CPU figures are pessimistic`);
  if (N < 5000) report.note('below ~5,000 agents the per-agent RSS figures are dominated by GC/PGlite noise of ±10–30 MB; use them from 5,000 up');
  if (opt['cpu-prof']) report.note('--cpu-prof is on: the profiler inflates the CPU figures; measure CPU without it');
  if (limit.hard < N + 256) {
    report.note(`the fd hard limit (${limit.hard}) is below N + 256: one server cannot hold ${N} sockets. Raise it first (raising ulimit -Hn needs CAP_SYS_RESOURCE).`);
    throw new Error(`RLIMIT_NOFILE hard limit ${limit.hard} is too low for ${N} agents`);
  }
  const port = await freePort();
  let databaseUrl: string | null = null;
  if (DB === 'postgres') {
    const created = await createBenchDatabase(opt['pg-url'] as string);
    pgDrop = created.drop;
    databaseUrl = created.url;
    log(`created database ${created.name}`);
  }
  const spec: ServerSpec = { port, dataDir: path.join(tmp, 'data'), databaseUrl, heartbeatSeconds: Number(opt['heartbeat-seconds']), cpuProfDir: profDir, backlog: opt['server-backlog'] ? Number(opt['server-backlog']) : null, dbTracePrefix: opt['trace-db'] && DB === 'pglite' ? path.join(tmp, 'dbtrace') : null };
  if (spec.backlog) report.note(`EXPERIMENT: the server's listen backlog was forced to ${spec.backlog} (test/bench/listen-backlog.mjs); Steward itself uses Node's default 511`);
  const gateway = `ws://127.0.0.1:${port}${AGENT_GATEWAY_PATH}`;

  // 1. Setup over REST. 2. Enrollment through the real handshake (mode 'enroll'), each agent with a fresh Ed25519 key.
  let steward = await bench.server(spec, 'enrollment');
  const { apiToken, enrollmentToken } = await setupTenant(spec, N);
  let pool = await bench.newPool();
  const enrollStart = Date.now();
  let cpu = bench.cpu(steward);
  let net = bench.net();
  const fingerprint = enrollmentToken.split('.')[1];
  for (let w = 0; w < W; w++) {
    pool.send(w, { cmd: 'enroll', count: pool.share(N, w), url: gateway, token: enrollmentToken, fingerprint, addresses: pool.addresses[w], concurrency: CONC });
  }
  await bench.watch('enroll', sec('enroll-timeout'));
  await until('enrollment results', 30_000, () => pool.enrolledAll() !== null);
  const enrollMs = pool.totals().lastWelcomeAt - enrollStart;
  const enrolled = pool.enrolledAll()!;
  report.add('enrolled via the real handshake', `${enrolled.identities.length}/${N}`);
  report.add('enrollment rate', `${fmt.n(N / (enrollMs / 1000), 0)} /s (${fmt.s(enrollMs)})`);
  bench.cpuRow('enrollment', cpu());
  bench.netRow('enrollment', net);
  if (enrolled.identities.length < N) throw new Error(`only ${enrolled.identities.length} of ${N} agents enrolled`);
  await pool.stop();
  await sleep(2000);
  await bench.stopServer(steward);

  // 3. A fresh server process: RSS before, connect all N, RSS after, steady state, presence in the database.
  steward = await bench.server(spec, 'connect');
  const before = await bench.memory(steward);
  pool = await bench.newPool();
  const connectStart = Date.now();
  cpu = bench.cpu(steward);
  net = bench.net();
  let offset = 0;
  for (let w = 0; w < W; w++) {
    const identities = enrolled.identities.slice(offset, (offset += pool.share(N, w)));
    pool.send(w, { cmd: 'connect', identities, url: gateway, serverKey: enrolled.serverKey, addresses: pool.addresses[w], concurrency: CONC });
  }
  await bench.watch('connect', sec('connect-timeout'));
  const connectMs = pool.totals().lastWelcomeAt - connectStart;
  report.add('connect: all N welcomed after', fmt.s(connectMs));
  report.add('connect rate', `${fmt.n(N / (connectMs / 1000), 0)} /s`);
  bench.cpuRow('connect', cpu());
  bench.netRow('connect', net);
  log(`all ${N} connected in ${fmt.s(connectMs)}; waiting for the server to settle`);
  await sleep(5000);
  const rssConnected = await settledRss(() => procSample(steward.pid).rssKb, 20_000);
  await bench.steady(steward, spec);
  const after = await bench.memory(steward);
  const perAgent = (after.raw - before.raw) / N;
  const perAgentGc = (after.gc - before.gc) / N;
  report.add('server RSS before connect (raw / after forced GC)', `${fmt.mb(before.raw)} / ${fmt.mb(before.gc)}`);
  report.add('server RSS just after all connected (raw)', fmt.mb(rssConnected));
  report.add('server RSS after steady (raw / after forced GC)', `${fmt.mb(after.raw)} / ${fmt.mb(after.gc)}`);
  report.add('server RSS per agent, just after connect', `${fmt.n((rssConnected - before.raw) / N, 1)} KB`);
  report.add('server RSS per agent, after steady (raw)', `${fmt.n(perAgent, 1)} KB`, { text: '≤ 40 KB', ok: perAgent <= 40 });
  report.add('server RSS per agent, after forced GC', `${fmt.n(perAgentGc, 1)} KB`);
  report.add('client workers RSS total', fmt.mb(pool.totals().rssKb));
  await bench.dbCheck(spec, apiToken, 'after connect');

  // 4. Restart: signal, wait for exit, start again on the same port and data; agents reconnect with Backoff.
  try {
    await pool.newEpoch(1);
    const restartStart = Date.now();
    net = bench.net();
    log(`restarting the server (${SIGNAL})`);
    const down = await bench.stopServer(steward, SIGNAL);
    report.add(`restart: server exit after ${SIGNAL}`, `${fmt.s(down.ms)}${down.killed && SIGNAL !== 'SIGKILL' ? ' (then killed)' : ''}`);
    steward = await bench.server(spec, 'after restart');
    const readyAt = Date.now();
    report.add('restart: new server ready after', fmt.s(readyAt - restartStart));
    cpu = bench.cpu(steward);
    try {
      await bench.watch('reconnect', sec('reconnect-timeout') - (Date.now() - restartStart));
    } finally {
      report.add('restart: connection attempts during reconnect', fmt.n(pool.totals().attempts));
      bench.cpuRow('reconnect', cpu());
      bench.netRow('reconnect', net);
      bench.timelineRow('restart', restartStart);
    }
    const t = pool.totals();
    const reconnectMs = t.lastWelcomeAt - restartStart;
    report.add(`restart: all N welcomed again after ${SIGNAL}`, fmt.s(reconnectMs), { text: '≤ 60 s', ok: reconnectMs <= 60_000 });
    report.add('restart: ... after the new server was ready', fmt.s(t.lastWelcomeAt - readyAt));
    await sleep(3000);
    report.add('server RSS after reconnect storm', fmt.mb(procSample(steward.pid).rssKb));
    await bench.dbCheck(spec, apiToken, 'after restart');
  } catch (error) {
    // The baseline does not depend on this phase: record the failure and go on.
    if (!(error instanceof PhaseTimeout)) throw error;
    exitCode = 1;
    report.note(`TIMEOUT: ${error.message}`);
  }
  await pool.stop();
  bench.pool = null;
  await bench.stopServer(steward);

  // 5. Baseline: N plain ws connections to a bare ws server.
  if (!opt['skip-baseline']) {
    const perGc = await bench.baseline(spec.heartbeatSeconds);
    const meaningful = N >= 10_000 && perAgentGc > 0.5 && perGc > 0.5;
    report.add('Steward / baseline, RSS per connection after GC', meaningful ? `${fmt.n(perAgentGc / perGc, 1)} ×` : 'n/a (below 10,000 agents the difference is within RSS noise)');
  }
}

const overall = setTimeout(() => {
  log('overall deadline reached');
  void cleanup().finally(() => process.exit(1));
}, sec('enroll-timeout') + sec('connect-timeout') + sec('reconnect-timeout') + sec('steady-seconds') + 900_000);
overall.unref();

try {
  await run();
} catch (error) {
  exitCode = 1;
  report.note(`${error instanceof PhaseTimeout ? 'TIMEOUT' : 'FAILED'}: ${(error as Error).message}`);
  const last = bench.servers.at(-1);
  const lines = last?.tail.filter((l) => l.startsWith('{') || /error/i.test(l)).slice(-10) ?? [];
  if (lines.length && !(error instanceof PhaseTimeout)) report.note(`last server log lines:\n${lines.join('\n')}`);
}
await cleanup();
const stewards = bench.servers.filter((s) => s.name === 'steward-server');
report.print(`Steward agents benchmark — N=${N}, db=${DB}, ${W} client workers, ${os.cpus().length} cores`, reproduce);
printServerMessages(stewards);
if (profDir) process.stdout.write(`  CPU profiles (server pids in start order: ${stewards.map((s) => s.pid).join(', ')}): ${profDir}\n`);
process.exit(exitCode);
