/**
 * Session relay benchmark: every figure through Steward beside a baseline measured in the same run — the same pty
 * (the agent's node-pty, shell, environment and 1 MiB pause marks) piped straight to a local WebSocket.
 *
 *   npm run bench:relay -- [--db pglite|postgres] [--shell /bin/sh|login|PATH] [--mb 100] [--rounds 4] [--keys 2000] [--sessions 20]
 *                          [--memory-seconds 16] [--fair-seconds 6] [--no-diagnostic]
 *
 * The server runs in this process on 127.0.0.1 (test/helpers/server.ts); the agent is a real enrolled agent process.
 * See test/bench/README.md ("Session relay benchmark") for what each figure means.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { shellForThisPlatform } from '../../agent/platform/shell.ts';
import { CompareTable, f, log, median } from './compare-table.ts';
import { codeUnderTest, cpuMeter, procSample } from './proc.ts';
import { startPtyBaseline, ptyAlone, type PtyBaseline } from './pty-baseline.ts';
import { agentPing, floodMemory, floodShare, healthz, probeUntil, summary, type MemorySample } from './relay-load.ts';
import { baselineSide, drained, keystrokes, pushFile, rawCat, ready, relaySide, type Side, type Terminal } from './relay-terminals.ts';
import { startRelayWorld, timeAgentOpens, type RelayWorld } from './relay-world.ts';
import { TermClient } from './term-client.ts';

const { values: opt } = parseArgs({
  options: {
    db: { type: 'string', default: 'pglite' },
    shell: { type: 'string', default: '/bin/sh' },
    'pg-url': { type: 'string', default: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' },
    mb: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '4' },
    keys: { type: 'string', default: '2000' },
    'key-gap-ms': { type: 'string', default: '0' },
    sessions: { type: 'string', default: '20' },
    'memory-seconds': { type: 'string', default: '16' },
    'fair-seconds': { type: 'string', default: '6' },
    'no-diagnostic': { type: 'boolean', default: false },
  },
});
const DB = opt.db as 'pglite' | 'postgres';
const MB = Number(opt.mb);
const ROUNDS = Number(opt.rounds);
const KEYS = Number(opt.keys);
const SESSIONS = Number(opt.sessions);
const MEMORY_S = Number(opt['memory-seconds']);
const FAIR_S = Number(opt['fair-seconds']);
if (!['pglite', 'postgres'].includes(DB) || !(MB > 0) || !(ROUNDS >= 1) || !(KEYS >= 10) || !(SESSIONS >= 2) || !(MEMORY_S >= 4) || !(FAIR_S >= 2)) {
  process.stderr.write('usage: npm run bench:relay -- [--db pglite|postgres] [--shell /bin/sh|login|PATH] [--mb 100] [--rounds 4] [--keys 2000] [--sessions 20] [--memory-seconds 16] [--fair-seconds 6]\n');
  process.exit(2);
}
const reproduce = `npm run bench:relay -- ${process.argv.slice(2).join(' ')}`.trim();
const table = new CompareTable();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-bench-relay-data-'));
let world: RelayWorld | null = null;
let baseline: PtyBaseline | null = null;

async function main(): Promise<void> {
  const code = codeUnderTest();
  table.note(`code under test: git ${code.commit} with ${code.changedFiles} changed files in server/ protocol/ agent/; db ${DB}; ${os.cpus().length} cores; loadavg at start ${loadavg()}`);
  // One shell for both sides (STEWARD_AGENT_SHELL, read by agent/platform/shell.ts in the agent and in the baseline):
  // /bin/sh by default, like the tests — the host account's interactive profile would dominate the start figure.
  process.env.STEWARD_AGENT_SHELL = opt.shell === 'login' ? '' : opt.shell!;
  const launch = shellForThisPlatform();
  table.note(`shell on both sides: ${launch.file} ${launch.args.join(' ')} (--shell ${opt.shell}), TERM xterm-256color, 80×24`);
  const files = makeData();
  log(`starting the server (in process, ${DB}) and an agent process`);
  world = await startRelayWorld({ db: DB, pgUrl: opt['pg-url']!, agentEnv: { STEWARD_AGENT_SHELL: process.env.STEWARD_AGENT_SHELL } });
  baseline = await startPtyBaseline();
  const machine = cpuMeter(process.pid, [world.agent.child.pid!]);
  const relay = relaySide(world);
  const base = baselineSide(baseline.url);
  const figures: [string, () => Promise<void>][] = [
    ['output throughput', () => throughput(world!, relay, base, files)],
    ['keystroke echo', () => echo(relay, base)],
    ['session start', () => sessionStart(world!, baseline!)],
    ['memory under a slow viewer', () => memory(world!, relay, base)],
    ['fairness and control channel', () => fairness(world!, relay, base)],
  ];
  for (const [name, run] of figures) {
    log(name);
    try {
      await run();
    } catch (error) {
      table.add({ figure: `${name}: FAILED`, value: (error as Error).message.slice(0, 160) });
    }
  }
  const cpu = machine();
  table.note(`during the run: this process (server + consoles + baseline) ${f.n(cpu.server)} % of a core, agent ${f.n(cpu.workers)} %, whole machine busy ${f.n(cpu.machine)} % of ${os.cpus().length} cores (other jobs included); loadavg at end ${loadavg()}`);
}

/**
 * Output is generated once, before anything is timed, with the issue's commands, in `--rounds` equal files; the shell
 * then runs `cat` of one file per round, the sides taking turns, so a burst of load from other jobs hits them alike.
 */
function makeData(): { name: string; file: string; command: string }[] {
  const bytes = Math.round((MB * 1e6) / ROUNDS);
  const data = [
    { name: '`yes` lines', file: path.join(tmp, 'yes.txt'), command: `head -c ${bytes} < <(yes steward-benchmark-line)` },
    { name: 'random base64', file: path.join(tmp, 'base64.txt'), command: `head -c ${Math.round(bytes * 0.75)} /dev/urandom | base64 -w 76` },
  ];
  for (const d of data) execFileSync('bash', ['-c', `${d.command} > ${d.file}`]);
  return data;
}

async function throughput(w: RelayWorld, relay: Side, base: Side, files: ReturnType<typeof makeData>): Promise<void> {
  const sides = [relay, base, ...(opt['no-diagnostic'] ? [] : [relaySide(w, { recording: false })])];
  const terms: Terminal[] = [];
  try {
    for (const side of sides) terms.push(await side.open());
    await Promise.all(terms.map((t) => ready(t.client)));
    for (const data of files) {
      table.section(`output throughput, ${MB} MB of ${data.name} per side in ${ROUNDS} rounds taking turns (\`${data.command}\` → \`cat\`); MB/s = 10^6 bytes received by the console per s, relay rounds timed until the recording is stored too`);
      const sum = () => sides.map(() => ({ bytes: 0, ms: 0, cpu: 0, agentCpu: 0 }));
      const total = sum();
      const ceiling = { bytes: 0, ms: 0 };
      for (let r = 0; r < ROUNDS; r++) {
        const alone = await ptyAlone(data.file);
        ceiling.bytes += alone.bytes;
        ceiling.ms += alone.ms;
        for (const [i, term] of terms.entries()) {
          const self0 = procSample(process.pid);
          const agent0 = procSample(w.agent.child.pid!);
          const run = await pushFile(term.client, data.file, Math.max(120_000, (MB / ROUNDS) * 3000));
          // The round ends when the recording is stored too: its backlog (≤ 8 MiB) would otherwise be compressed and
          // written in this process during the next side's round.
          const drainMs = term.relay ? await drained(term.relay) : 0;
          total[i].bytes += run.bytes;
          total[i].ms += run.ms + drainMs;
          total[i].cpu += (procSample(process.pid).cpuTicks - self0.cpuTicks) / 100;
          total[i].agentCpu += (procSample(w.agent.child.pid!).cpuTicks - agent0.cpuTicks) / 100;
        }
        log(`  ${data.name}, round ${r + 1}/${ROUNDS}: ${sides.map((s, i) => `${s.label} ${f.mbs(total[i].bytes / 1e3 / total[i].ms)}`).join(', ')}, pty alone ${f.mbs(ceiling.bytes / 1e3 / ceiling.ms)} (so far)`);
      }
      const mbs = total.map((t) => t.bytes / 1e3 / t.ms);
      const ratio = mbs[0] / mbs[1];
      const per100 = (v: number) => f.n((v * 100) / MB, 2);
      table.add({ figure: 'relay (as shipped: recorded)', value: f.mbs(mbs[0]), baseline: f.mbs(mbs[1]), ratio: f.ratio(ratio), target: '≥ 120 MB/s and ≥ 0.80×', ok: mbs[0] >= 120 && ratio >= 0.8 });
      if (sides[2]) table.add({ figure: 'relay, recording off in-process (diagnostic)', value: f.mbs(mbs[2]), baseline: f.mbs(mbs[1]), ratio: f.ratio(mbs[2] / mbs[1]) });
      table.add({ figure: 'pty alone: node-pty onData, no WebSocket (ceiling)', value: f.mbs(ceiling.bytes / 1e3 / ceiling.ms) });
      table.add({ figure: 'CPU s per 100 MB, relay: this process (server + console) · agent', value: `${per100(total[0].cpu)} · ${per100(total[0].agentCpu)}`, baseline: per100(total[1].cpu) });
      if (sides[2]) table.add({ figure: 'CPU s per 100 MB, recording off: this process · agent', value: `${per100(total[2].cpu)} · ${per100(total[2].agentCpu)}` });
    }
  } finally {
    await Promise.all(terms.map((t) => t.end()));
  }
}

async function echo(relay: Side, base: Side): Promise<void> {
  const gap = Number(opt['key-gap-ms']);
  table.section(`keystroke echo: one byte in, its echo out, ${KEYS} keystrokes each (\`stty raw -echo; exec cat\`), alternating blocks of 250`);
  const terms = [await relay.open(), await base.open()];
  try {
    for (const t of terms) {
      await ready(t.client);
      await rawCat(t.client);
      await keystrokes(t.client, 50, gap); // warm-up
    }
    const samples: number[][] = [[], []];
    while (samples[0].length < KEYS) {
      const block = Math.min(250, KEYS - samples[0].length);
      for (const [i, t] of terms.entries()) samples[i].push(...(await keystrokes(t.client, block, gap)));
    }
    const [r, b] = samples.map(summary);
    table.add({ figure: 'echo round trip p50', value: f.ms(r.p50), baseline: f.ms(b.p50), ratio: f.ratio(r.p50 / b.p50), target: '≤ 1 ms', ok: r.p50 <= 1 });
    table.add({ figure: 'echo round trip p99', value: f.ms(r.p99), baseline: f.ms(b.p99), ratio: f.ratio(r.p99 / b.p99), target: '≤ 3 ms', ok: r.p99 <= 3 });
  } finally {
    await Promise.all(terms.map((t) => t.end()));
  }
}

async function sessionStart(w: RelayWorld, pty: PtyBaseline): Promise<void> {
  table.section(`session start, ${SESSIONS} sessions one after another after one warm-up (relay: POST → first shell byte on a console attached after the 201; baseline: WebSocket connect → first shell byte)`);
  const { samples: opens, restore } = timeAgentOpens(w);
  const post: number[] = [];
  const attach: number[] = [];
  const first: number[] = [];
  const total: number[] = [];
  const base: number[] = [];
  for (let i = 0; i <= SESSIONS; i++) {
    const t0 = performance.now();
    const id = await w.openSession();
    const t1 = performance.now();
    const client = await w.attach(id);
    const t2 = performance.now();
    const t3 = await client.firstByte(20_000);
    // Ended only once the shell is up: a login profile killed mid-start can leave a lock behind (pyenv's rehash).
    await ready(client);
    await w.endSession(id);
    await client.closed;
    const b0 = performance.now();
    const bc = await TermClient.open(`${pty.url}?cols=80&rows=24`);
    const b1 = await bc.firstByte(20_000);
    await ready(bc);
    bc.close();
    await bc.closed;
    if (i === 0) {
      opens.splice(0);
      continue;
    }
    post.push(t1 - t0);
    attach.push(t2 - t1);
    first.push(Math.max(0, t3 - t2)); // the prompt can come in the same read as the upgrade answer
    total.push(t3 - t0);
    base.push(b1 - b0);
  }
  restore();
  const t = summary(total);
  const b = summary(base);
  const pair = (v: number[]) => `${f.ms(median(v))} · ${f.ms(summary(v).p99)}`;
  const serverPart = post.map((p, i) => p - (opens[i] ?? NaN));
  table.add({ figure: 'POST → first shell byte, p50', value: f.ms(t.p50), baseline: f.ms(b.p50), ratio: f.ratio(t.p50 / b.p50), target: '≤ 50 ms', ok: t.p50 <= 50 });
  table.add({ figure: 'POST → first shell byte, p99', value: f.ms(t.p99), baseline: f.ms(b.p99), ratio: f.ratio(t.p99 / b.p99) });
  table.add({ figure: '  POST → 201 (link attached), p50 · p99', value: pair(post) });
  table.add({ figure: '    agent session.open round trip, p50 · p99', value: pair(opens) });
  table.add({ figure: '    rest of the POST (server, database), p50 · p99', value: pair(serverPart) });
  table.add({ figure: '  201 → console open, p50 · p99', value: pair(attach) });
  table.add({ figure: '  console open → first byte, p50 · p99', value: pair(first) });
  table.add({ figure: '  relay ready to show output (POST → console open), p50', value: f.ms(median(post.map((p, i) => p + attach[i]))) });
}

async function memory(w: RelayWorld, relay: Side, base: Side): Promise<void> {
  const slowBytes = 64 * 1024;
  table.section(`memory, a shell flooding \`yes\`: slow viewer reads ≤ ${slowBytes / 1024} KiB every 100 ms (relay ${MEMORY_S} s, others ${Math.ceil(MEMORY_S / 2)} s), sampled every s; this process holds the server`);
  const agentPid = w.agent.child.pid!;
  const slow = await floodMemory(relay, { slow: true, seconds: MEMORY_S, agentPid, slowBytes });
  const fast = await floodMemory(relay, { slow: false, seconds: Math.ceil(MEMORY_S / 2), agentPid, slowBytes });
  const baseSlow = await floodMemory(base, { slow: true, seconds: Math.ceil(MEMORY_S / 2), agentPid: null, slowBytes });
  const span = (s: MemorySample[], pick: (m: MemorySample) => number) => {
    const v = s.map(pick);
    return { text: `${f.mib(v[0])} → ${f.mib(v.at(-1)!)} (max ${f.mib(Math.max(...v))})`, growth: v.at(-1)! - v[Math.floor(v.length / 2)] };
  };
  const flat = 16 * 1048576;
  for (const [label, series] of [['slow viewer', slow], ['fast viewer', fast]] as const) {
    const rss = span(series, (m) => m.rss);
    table.add({ figure: `server process RSS, ${label}: first → last (max)`, value: rss.text, baseline: label === 'slow viewer' ? span(baseSlow, (m) => m.rss).text : undefined, target: 'flat: 2nd-half growth ≤ 16 MiB', ok: rss.growth <= flat });
    table.add({ figure: `server heapUsed, ${label}`, value: span(series, (m) => m.heapUsed).text });
    table.add({ figure: `server arrayBuffers (Buffers), ${label}`, value: span(series, (m) => m.arrayBuffers).text });
    const agent = span(series, (m) => m.agentRss ?? NaN);
    table.add({ figure: `agent RSS, ${label}`, value: agent.text, target: 'flat: 2nd-half growth ≤ 16 MiB', ok: agent.growth <= flat });
    table.add({ figure: `relay in-flight to the viewer (max) · recording backlog (max), ${label}`, value: `${f.mib(Math.max(...series.map((m) => m.viewerInFlight ?? 0)))} · ${f.mib(Math.max(...series.map((m) => m.recorderBacklog ?? 0)))}` });
    const seconds = series.length;
    table.add({ figure: `viewer read rate, ${label}`, value: f.mbs(series.at(-1)!.read / 1e6 / seconds), baseline: label === 'slow viewer' ? f.mbs(baseSlow.at(-1)!.read / 1e6 / baseSlow.length) : undefined });
  }
}

async function fairness(w: RelayWorld, relay: Side, base: Side): Promise<void> {
  table.section(`two sessions flooding \`yes\` at once for ${FAIR_S} s, each with a fast viewer; control probes back to back (20 ms apart) meanwhile; probes' baseline = the same probes with nothing running`);
  const probes = { ping: agentPing(w.server.running, w.machineId), healthz: healthz(w.server.url) };
  const idleStop = performance.now() + 3000;
  const [idlePing, idleHealth] = await Promise.all([probeUntil(probes.ping, idleStop, 20), probeUntil(probes.healthz, idleStop, 20)]);
  const flood = await floodShare(relay, { count: 2, seconds: FAIR_S, probes, gapMs: 20 });
  const bare = await floodShare(base, { count: 2, seconds: FAIR_S, probes: {}, gapMs: 20 });
  const off = opt['no-diagnostic'] ? null : await floodShare(relaySide(w, { recording: false }), { count: 2, seconds: FAIR_S, probes, gapMs: 20 });
  const share = (rates: number[]) => Math.min(...rates) / Math.max(...rates);
  const rates = (r: number[]) => r.map(f.mbs).join(' · ');
  table.add({ figure: 'session A · session B', value: rates(flood.rates), baseline: rates(bare.rates) });
  table.add({ figure: 'share: slower / faster session', value: f.ratio(share(flood.rates)), baseline: f.ratio(share(bare.rates)), target: '≥ 0.80× (bench criterion)', ok: share(flood.rates) >= 0.8 });
  if (off) table.add({ figure: 'session A · session B, recording off (diagnostic)', value: rates(off.rates), baseline: rates(bare.rates) });
  const rows = [
    ['agent.ping (agent command socket)', idlePing, flood.probes.ping, off?.probes.ping],
    ['GET /healthz (server event loop)', idleHealth, flood.probes.healthz, off?.probes.healthz],
  ] as const;
  for (const [name, idle, busy, diagnostic] of rows) {
    const i = summary(idle);
    const b = summary(busy);
    table.add({ figure: `${name} p50, flooding`, value: f.ms(b.p50), baseline: f.ms(i.p50), ratio: f.ratio(b.p50 / i.p50) });
    table.add({ figure: `${name} p99, flooding (n=${b.n})`, value: f.ms(b.p99), baseline: f.ms(i.p99), ratio: f.ratio(b.p99 / i.p99), target: '≤ 50 ms (bench criterion)', ok: b.p99 <= 50 });
    if (diagnostic) {
      const d = summary(diagnostic);
      table.add({ figure: `  p50 · p99, recording off (diagnostic)`, value: `${f.ms(d.p50)} · ${f.ms(d.p99)}`, baseline: `${f.ms(i.p50)} · ${f.ms(i.p99)}` });
    }
  }
}

const loadavg = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

let cleaning: Promise<void> | null = null;
const cleanup = () =>
  (cleaning ??= (async () => {
    await baseline?.close().catch(() => undefined);
    await world?.close().catch(() => undefined);
    fs.rmSync(tmp, { recursive: true, force: true });
  })());
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void cleanup().finally(() => process.exit(130)));

main().then(
  async () => {
    table.print('Steward session relay benchmark', reproduce);
    await cleanup();
    process.exit(0);
  },
  async (error: unknown) => {
    console.error(error);
    table.print('Steward session relay benchmark (incomplete)', reproduce);
    await cleanup();
    process.exit(1);
  },
);
