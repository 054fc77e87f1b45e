/**
 * Transport benchmark: "multiplex sessions over the agent's control socket, or a dedicated socket per session?"
 * Raw `ws` on loopback, no pty and no Steward server: the server side in this process, the agent side in a forked
 * process (transport-agent.ts); the wire of both designs is described in transport-wire.ts.
 *
 *   npm run bench:transport -- [--channels 1,4,16] [--seconds 4] [--chunk 16384] [--slow-link] [--rate 20mbit]
 *
 * Per design and N flooding channels: aggregate throughput, per-channel fairness, control-message round trip while
 * flooding (and idle), CPU; and the cost of opening one more channel. --slow-link repeats it in a new network
 * namespace whose loopback is shaped with `tc tbf` (this kernel has no netem, so no added delay), where a single
 * TCP stream's head-of-line blocking shows.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocketServer, type WebSocket } from 'ws';
import { generateKeyPair, toBase64 } from '../../protocol/identity.ts';
import { CompareTable, f, log, quantile } from './compare-table.ts';
import { cpuPercent, procSample, ROOT, sleep } from './proc.ts';
import { CREDIT_BATCH, creditFrame, DATA, proveServer, WINDOW, type AgentCommand, type AgentReply, type ControlMessage, type Design } from './transport-wire.ts';

const { values: opt } = parseArgs({
  options: {
    channels: { type: 'string', default: '1,4,16' },
    seconds: { type: 'string', default: '4' },
    chunk: { type: 'string', default: '16384' },
    'slow-link': { type: 'boolean', default: false },
    rate: { type: 'string', default: '20mbit' },
    'queue-ms': { type: 'string', default: '100' },
    'inside-netns': { type: 'boolean', default: false },
  },
});
const CHANNELS = opt.channels!.split(',').map(Number);
const SECONDS = Number(opt.seconds);
const CHUNK = Number(opt.chunk);
if (CHANNELS.some((n) => !(n >= 1 && n <= 256)) || !(SECONDS >= 1) || !(CHUNK >= 256 && CHUNK <= WINDOW) || !/^\d+(k|m)?bit$/.test(opt.rate!) || !(Number(opt['queue-ms']) > 0)) {
  process.stderr.write('usage: npm run bench:transport -- [--channels 1,4,16] [--seconds 4] [--chunk 16384] [--slow-link] [--rate 20mbit] [--queue-ms 100]\n');
  process.exit(2);
}
const reproduce = `npm run bench:transport -- ${process.argv.slice(2).filter((a) => a !== '--inside-netns').join(' ')}`.trim();

const serverKeys = generateKeyPair();
const agentKeys = generateKeyPair();
const keys = { agentSecret: toBase64(agentKeys.secretKey), serverPublic: toBase64(serverKeys.publicKey) };

/** What the server side counts in one run; sockets count into the run they were accepted in, never a later one. */
interface Run {
  bytes: number[];
  control: WebSocket | null;
  pong: ((n: number) => void) | null;
  sockets: Set<WebSocket>;
}
const newRun = (channels: number): Run => ({ bytes: new Array<number>(channels).fill(0), control: null, pong: null, sockets: new Set() });
let current = newRun(0);

/** Ends a run from the server side too: its sockets are reset, so nothing they still had queued uses the link later. */
async function endRun(run: Run, settleMs: number): Promise<void> {
  for (const ws of run.sockets) ws.terminate();
  await sleep(settleMs);
}

function accept(ws: WebSocket, url: string): void {
  const run = current;
  run.sockets.add(ws);
  ws.on('error', () => undefined);
  void proveServer(ws, serverKeys, agentKeys.publicKey).then(
    () => {
      if (url === '/mux' || url === '/control') {
        run.control = ws;
        const consumed: number[] = [];
        ws.on('message', (data: Buffer, isBinary) => {
          if (isBinary) {
            if (data[0] !== DATA) return;
            const ch = data.readUInt16BE(1);
            run.bytes[ch] = (run.bytes[ch] ?? 0) + data.length - 3;
            consumed[ch] = (consumed[ch] ?? 0) + data.length - 3;
            // A fast viewer: consumed at once, credit back in batches.
            if (consumed[ch] >= CREDIT_BATCH) {
              ws.send(creditFrame(ch, consumed[ch]));
              consumed[ch] = 0;
            }
            return;
          }
          const msg = JSON.parse(data.toString('utf8')) as ControlMessage;
          if (msg.t === 'pong') run.pong?.(msg.n);
          else if (msg.t === 'open') ws.send(JSON.stringify({ t: 'opened', channel: msg.channel } satisfies ControlMessage));
        });
      } else {
        const ch = Number(/^\/data\/(\d+)$/.exec(url)?.[1] ?? NaN);
        ws.on('message', (data: Buffer) => {
          if (ch < run.bytes.length) run.bytes[ch] += data.length - 1;
        });
      }
    },
    () => ws.terminate(),
  );
}

class Agent {
  private readonly child: ChildProcess;
  private waiting: ((reply: AgentReply) => void) | null = null;
  readonly ready: Promise<void>;

  constructor() {
    this.child = fork(path.join(ROOT, 'test/bench/transport-agent.ts'), [], { cwd: ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let started: () => void;
    this.ready = new Promise((resolve) => (started = resolve));
    this.child.on('message', (reply: AgentReply) => ('ok' in reply && reply.ok === 'ready' ? started() : this.waiting?.(reply)));
  }

  get pid(): number {
    return this.child.pid!;
  }

  async ask(command: AgentCommand, timeoutMs = 60_000): Promise<AgentReply> {
    const answer = new Promise<AgentReply>((resolve) => (this.waiting = resolve));
    this.child.send(command);
    const reply = await Promise.race([answer, sleep(timeoutMs).then((): AgentReply => ({ error: `no answer to ${command.cmd} within ${timeoutMs} ms` }))]);
    if ('error' in reply) throw new Error(reply.error);
    return reply;
  }

  stop(): void {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
  }
}

interface Result {
  aggregate: number;
  rates: number[];
  rtt: number[];
  serverCpu: number;
  agentCpu: number;
}

async function measure(agent: Agent, port: number, design: Design, channels: number, seconds: number, settleMs: number): Promise<Result> {
  const run = (current = newRun(channels));
  await agent.ask({ cmd: 'flood', design, channels, port, chunk: CHUNK, ...keys });
  await sleep(500);
  const from = [...run.bytes];
  const s0 = procSample(process.pid);
  const a0 = procSample(agent.pid);
  const t0 = performance.now();
  const rtt: number[] = [];
  for (let n = 0; performance.now() - t0 < seconds * 1000; n++) {
    const sent = performance.now();
    const back = new Promise<void>((resolve) => (run.pong = (m) => m === n && resolve()));
    run.control!.send(JSON.stringify({ t: 'ping', n } satisfies ControlMessage));
    await Promise.race([back, sleep(60_000)]);
    rtt.push(performance.now() - sent);
    await sleep(10);
  }
  const ms = performance.now() - t0;
  const rates = run.bytes.map((b, i) => (b - from[i]) / 1e6 / (ms / 1000));
  const result = { aggregate: rates.reduce((a, b) => a + b, 0), rates, rtt, serverCpu: cpuPercent(s0, procSample(process.pid)), agentCpu: cpuPercent(a0, procSample(agent.pid)) };
  await agent.ask({ cmd: 'stop' });
  await endRun(run, settleMs);
  return result;
}

async function suite(title: string, seconds: number, settleMs: number): Promise<void> {
  const http = createServer();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  http.on('upgrade', (request, socket, head) => wss.handleUpgrade(request, socket, head, (ws) => accept(ws, request.url ?? '')));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as { port: number }).port;
  const agent = new Agent();
  await agent.ready;
  const table = new CompareTable(['mux (one socket)', 'dedicated (code)', 'mux/dedicated']);
  try {
    for (const n of [0, ...CHANNELS]) {
      log(`${title}: N = ${n}`);
      const r = {} as Record<Design, Result>;
      for (const design of ['mux', 'dedicated'] as const) r[design] = await measure(agent, port, design, n, n === 0 ? Math.min(2, seconds) : seconds, settleMs);
      const row = (figure: string, pick: (x: Result) => number, fmt: (v: number) => string) =>
        table.add({ figure, value: fmt(pick(r.mux)), baseline: fmt(pick(r.dedicated)), ratio: f.ratio(pick(r.mux) / pick(r.dedicated)) });
      if (n === 0) {
        table.section('idle: control round trip with nothing flooding');
        row('control round trip p50', (x) => quantile(x.rtt, 0.5), f.ms);
        row('control round trip p99', (x) => quantile(x.rtt, 0.99), f.ms);
        continue;
      }
      table.section(`N = ${n} channel${n > 1 ? 's' : ''} flooding for ${seconds} s (${CHUNK} B writes${n ? `; mux window ${WINDOW / 1048576} MiB per channel` : ''})`);
      row('aggregate throughput', (x) => x.aggregate, f.mbs);
      row('per channel: slowest / fastest', (x) => Math.min(...x.rates) / Math.max(...x.rates), f.ratio);
      row('per channel: slowest', (x) => Math.min(...x.rates), f.mbs);
      row(`control round trip p50 while flooding`, (x) => quantile(x.rtt, 0.5), f.ms);
      row(`control round trip p99 while flooding`, (x) => quantile(x.rtt, 0.99), f.ms);
      row('control round trips in the window', (x) => x.rtt.length, (v) => f.n(v));
      row('CPU % of a core: server side', (x) => x.serverCpu, (v) => f.n(v));
      row('CPU % of a core: agent side', (x) => x.agentCpu, (v) => f.n(v));
    }
    table.section('setup: one more channel, 20 times while idle');
    const cost = {} as Record<Design, number[]>;
    for (const design of ['mux', 'dedicated'] as const) {
      const run = (current = newRun(0));
      const reply = await agent.ask({ cmd: 'setup-cost', design, samples: 20, port, ...keys });
      cost[design] = 'ms' in reply ? reply.ms : [];
      await endRun(run, settleMs);
    }
    table.add({ figure: 'open one more channel p50 (mux: open/opened message; dedicated: connect + upgrade + Ed25519 proof both ways)', value: f.ms(quantile(cost.mux, 0.5)), baseline: f.ms(quantile(cost.dedicated, 0.5)), ratio: f.ratio(quantile(cost.mux, 0.5) / quantile(cost.dedicated, 0.5)) });
    table.add({ figure: 'open one more channel p99', value: f.ms(quantile(cost.mux, 0.99)), baseline: f.ms(quantile(cost.dedicated, 0.99)) });
    table.note(`${os.cpus().length} cores, loadavg ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}; agent side in a forked process, server side in this one; MB = 10^6 payload bytes received by the server side`);
    table.print(title, reproduce);
  } finally {
    agent.stop();
    for (const ws of wss.clients) ws.terminate();
    http.close();
  }
}

async function main(): Promise<void> {
  if (opt['inside-netns']) {
    // A fresh network namespace of our own (unshare -n): only its loopback is shaped; the host's network is untouched.
    const ms = Number(opt['queue-ms']);
    execFileSync('ip', ['link', 'set', 'lo', 'mtu', '1500', 'up']);
    execFileSync('tc', ['qdisc', 'add', 'dev', 'lo', 'root', 'tbf', 'rate', opt.rate!, 'burst', '32kb', 'latency', `${ms}ms`]);
    await suite(`Transport designs over a shaped link (tbf ${opt.rate}, queue ≤ ${ms} ms, MTU 1500, both directions share it)`, Math.max(SECONDS, 8), 1000);
    return;
  }
  await suite('Transport designs on loopback', SECONDS, 200);
  if (opt['slow-link']) {
    const self = fileURLToPath(import.meta.url);
    const child = spawn('unshare', ['-n', process.execPath, '--import', 'tsx', self, ...process.argv.slice(2), '--inside-netns'], { cwd: ROOT, stdio: 'inherit' });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    if (code !== 0) throw new Error(`the shaped-link run exited with ${code} (needs CAP_SYS_ADMIN and CAP_NET_ADMIN for unshare -n and tc)`);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
