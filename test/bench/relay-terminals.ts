import type { SessionRelay } from '../../server/sessions/session-relay.ts';
import { sleep } from './proc.ts';
import type { RelayWorld } from './relay-world.ts';
import { TermClient } from './term-client.ts';

/**
 * The two ways the relay benchmark gets a shell it can drive: through Steward (POST a session, attach a console)
 * or straight from the baseline's local pty WebSocket. Every figure drives both the same way.
 */
export interface Terminal {
  client: TermClient;
  /** The server's relay for this session (relay side only), for its flow-control counters. */
  relay: SessionRelay | null;
  /** Ends the shell and waits until the stream is closed. */
  end(): Promise<void>;
}

export interface Side {
  label: string;
  open(): Promise<Terminal>;
}

export function relaySide(world: RelayWorld, opts: { recording: boolean } = { recording: true }): Side {
  return {
    label: opts.recording ? 'relay' : 'relay, recording off (diagnostic)',
    async open() {
      const id = await world.openSession();
      const client = await world.attach(id);
      const relay = world.server.running.ctx.sessions.get(id) ?? null;
      // Diagnostic only: drops the recorder's output events in this in-process server, to split the relay's own cost
      // from the recording's. The product has no such switch (every session is recorded).
      if (!opts.recording && relay) relay.recorder.output = () => undefined;
      return {
        client,
        relay,
        async end() {
          await world.endSession(id);
          await Promise.race([client.closed, sleep(5000)]);
          client.close();
          // The rest of the recording is stored in this process: let it finish before the next figure is timed.
          if (relay) await drained(relay);
        },
      };
    },
  };
}

export function baselineSide(url: string, label = 'baseline'): Side {
  return {
    label,
    async open() {
      const client = await TermClient.open(`${url}?cols=80&rows=24`);
      return {
        client,
        relay: null,
        async end() {
          client.close();
          await Promise.race([client.closed, sleep(5000)]);
        },
      };
    },
  };
}

/** The recorder's chunk (CHUNK_BYTES in server/recordings/session-recorder.ts): less than this waits for its timer. */
const RECORDER_CHUNK = 256 * 1024;

/**
 * Waits until the session's recording has stored what it was given — all of it once the session has ended, else all
 * but the last partial chunk (which the recorder keeps until its 2 s timer); how long that took, ms.
 */
export async function drained(relay: SessionRelay, limitMs = 120_000): Promise<number> {
  const left = () => (relay.ended ? relay.recorder.backlog : Math.max(0, relay.recorder.backlog - RECORDER_CHUNK));
  const t0 = performance.now();
  while (left() > 0 && performance.now() - t0 < limitMs) await sleep(5);
  return left() > 0 ? Infinity : performance.now() - t0;
}

/** Waits until output has been quiet for `ms`. */
export async function quiet(client: TermClient, ms = 150, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  for (let last = -1; client.bytes !== last && Date.now() < deadline; ) {
    last = client.bytes;
    await sleep(ms);
  }
}

let probes = 0;

/**
 * Waits until the shell runs commands: its login scripts may swallow what is typed before the first prompt, so the
 * probe is retyped until its output comes back. The printf output differs from the typed text (no space), so the
 * shell's echo of the command line never matches.
 */
export async function ready(client: TermClient, limitMs = 20_000): Promise<void> {
  await client.firstByte(limitMs);
  const deadline = Date.now() + limitMs;
  for (;;) {
    const n = ++probes;
    client.type(`printf '%s-%s\\n' READY ${n}\r`);
    try {
      await client.until(`READY-${n}`, 1000);
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
  }
  await quiet(client);
}

/** `cat file` in the shell; bytes received until the marker printed after it, and the time since the command. */
export async function pushFile(client: TermClient, file: string, limitMs: number): Promise<{ bytes: number; ms: number }> {
  const n = ++probes;
  const before = client.bytes;
  const t0 = performance.now();
  client.type(`cat ${file}; printf '%s-%s\\n' DONE ${n}\r`);
  const t1 = await client.until(`DONE-${n}`, limitMs);
  const bytes = client.bytes - before;
  await quiet(client, 100);
  return { bytes, ms: t1 - t0 };
}

/** Puts the terminal in raw mode with `cat` as the only echo: one byte in, the same byte out, nothing else. */
export async function rawCat(client: TermClient): Promise<void> {
  client.type(`stty raw -echo; printf '%s-%s' ECHO READY; exec cat\r`);
  await client.until('ECHO-READY', 10_000);
  await quiet(client, 100);
}

/** Round trips of single keystrokes through a terminal in rawCat mode, in ms. */
export async function keystrokes(client: TermClient, n: number, gapMs: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const echoed = client.nextOutput();
    const t0 = performance.now();
    client.type('k');
    samples.push((await echoed) - t0);
    if (gapMs > 0) await sleep(gapMs);
  }
  return samples;
}
