import fs from 'node:fs';
import type { RunningServer } from '../../server/app.ts';
import { quantile } from './compare-table.ts';
import { sleep } from './proc.ts';
import { ready, type Side, type Terminal } from './relay-terminals.ts';

/** The relay benchmark's load figures: memory under a slow viewer, two floods at once, the control channel meanwhile. */

export const FLOOD = 'yes steward-benchmark-line\r';

export interface MemorySample {
  at: number;
  rss: number;
  heapUsed: number;
  arrayBuffers: number;
  /** The agent process's VmRSS in bytes (null on the baseline, which has no agent). */
  agentRss: number | null;
  /** Bytes the viewer has read so far. */
  read: number;
  /** The relay's account for this viewer, and the recording not yet stored (relay side only). */
  viewerInFlight: number | null;
  recorderBacklog: number | null;
}

export function vmRss(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? NaN) * 1024;
}

/**
 * A shell flooding `yes` at one viewer for `seconds`, sampled every second. A slow viewer reads `slowBytes` every
 * 100 ms (the socket is paused between reads, so everything else waits in the server, the agent or TCP); a fast one
 * reads as it comes.
 */
export async function floodMemory(side: Side, opts: { slow: boolean; seconds: number; agentPid: number | null; slowBytes: number }): Promise<MemorySample[]> {
  const term = await side.open();
  try {
    await ready(term.client);
    const socket = term.client.socket;
    let budget = Infinity;
    let ticker: NodeJS.Timeout | null = null;
    if (opts.slow) {
      budget = 0;
      socket.pause();
      socket.on('message', (data: Buffer) => {
        budget -= data.length;
        if (budget <= 0) socket.pause();
      });
      ticker = setInterval(() => {
        budget = opts.slowBytes;
        socket.resume();
      }, 100);
    }
    const start = term.client.bytes;
    term.client.type(FLOOD);
    const samples: MemorySample[] = [];
    const t0 = performance.now();
    for (let s = 1; s <= opts.seconds; s++) {
      await sleep(t0 + s * 1000 - performance.now());
      const mem = process.memoryUsage();
      const viewer = term.relay?.viewersList()[0];
      samples.push({
        at: s,
        rss: mem.rss,
        heapUsed: mem.heapUsed,
        arrayBuffers: mem.arrayBuffers,
        agentRss: opts.agentPid ? vmRss(opts.agentPid) : null,
        read: term.client.bytes - start,
        viewerInFlight: viewer ? viewer.inFlight : null,
        recorderBacklog: term.relay ? term.relay.recorder.backlog : null,
      });
    }
    if (ticker) clearInterval(ticker);
    socket.resume();
    return samples;
  } finally {
    await term.end();
  }
}

export interface FloodShare {
  /** MB/s each viewer received over the measured window. */
  rates: number[];
  /** Round trips of each probe while flooding, ms. */
  probes: Record<string, number[]>;
}

/**
 * `count` shells flooding at once, each to its own fast viewer, for `seconds` (after 1 s of warm-up); meanwhile
 * each probe runs back to back with `gapMs` pauses, all probes concurrently.
 */
export async function floodShare(side: Side, opts: { count: number; seconds: number; probes: Record<string, () => Promise<unknown>>; gapMs: number }): Promise<FloodShare> {
  const terms: Terminal[] = [];
  try {
    for (let i = 0; i < opts.count; i++) terms.push(await side.open());
    await Promise.all(terms.map((t) => ready(t.client)));
    for (const t of terms) t.client.type(FLOOD);
    await sleep(1000);
    const from = terms.map((t) => t.client.bytes);
    const t0 = performance.now();
    const stopAt = t0 + opts.seconds * 1000;
    const names = Object.keys(opts.probes);
    const results = await Promise.all([...names.map((name) => probeUntil(opts.probes[name], stopAt, opts.gapMs)), sleep(stopAt - performance.now())]);
    const ms = performance.now() - t0;
    const probes = Object.fromEntries(names.map((name, i) => [name, results[i] as number[]]));
    return { rates: terms.map((t, i) => (t.client.bytes - from[i]) / 1e6 / (ms / 1000)), probes };
  } finally {
    await Promise.all(terms.map((t) => t.end()));
  }
}

/** Runs `probe` back to back (with `gapMs` between) until `stopAt` (performance.now()); round trips in ms. */
export async function probeUntil(probe: () => Promise<unknown>, stopAt: number, gapMs: number): Promise<number[]> {
  const samples: number[] = [];
  while (performance.now() < stopAt) {
    const t0 = performance.now();
    await probe();
    samples.push(performance.now() - t0);
    await sleep(gapMs);
  }
  return samples;
}

/** The control channel probe: `agent.ping` through the agent's command WebSocket, as the server sends any command. */
export function agentPing(server: RunningServer, machineId: string): () => Promise<unknown> {
  let n = 0;
  return () => server.ctx.agents.request(machineId, 'agent.ping', { echo: `bench-${++n}` }, 10_000);
}

/** The server's own responsiveness: an unauthenticated GET /healthz on a fresh keep-alive fetch. */
export function healthz(url: string): () => Promise<unknown> {
  return async () => {
    const res = await fetch(`${url}/healthz`);
    await res.arrayBuffer();
  };
}

export function summary(samples: number[]): { p50: number; p99: number; n: number } {
  return { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99), n: samples.length };
}
