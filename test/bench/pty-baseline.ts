import { pathToFileURL } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import { OUTPUT_HIGH_WATER, OUTPUT_LOW_WATER } from '../../agent/sessions/terminal-session.ts';
import { loadNodePty } from '../../agent/platform/native-modules.ts';
import { shellForThisPlatform } from '../../agent/platform/shell.ts';
import { encodeStreamFrame, StreamTag } from '../../protocol/session-stream.ts';

/**
 * The relay benchmark's baseline: the same pty the agent spawns (node-pty loaded the agent's way, the same shell,
 * arguments, environment, terminal name and size, the same 1 MiB pause/resume marks) piped straight to a local
 * WebSocket, with no server, no relay, no second hop. Each connection to ws://127.0.0.1:<port>/?cols=&rows= gets
 * its own shell. Runs in the bench process (startPtyBaseline) or, as `tsx pty-baseline.ts`, in a child process that
 * prints its URL — the latter puts the pty in its own process like the agent's.
 */
export interface PtyBaseline {
  url: string;
  close(): Promise<void>;
}

export async function startPtyBaseline(): Promise<PtyBaseline> {
  const pty = loadNodePty();
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const shells = new Set<{ kill(): void }>();
  wss.on('connection', (ws: WebSocket, request) => {
    const query = new URL(request.url ?? '/', 'http://x').searchParams;
    const launch = shellForThisPlatform();
    const term = pty.spawn(launch.file, launch.args, {
      name: 'xterm-256color',
      cols: Number(query.get('cols') ?? 80),
      rows: Number(query.get('rows') ?? 24),
      cwd: launch.cwd,
      env: launch.env,
      encoding: null,
    });
    shells.add(term);
    let inFlight = 0;
    let paused = false;
    term.onData((data) => {
      const frame = encodeStreamFrame(StreamTag.terminal, data as unknown as Buffer);
      inFlight += frame.length;
      ws.send(frame, () => {
        inFlight -= frame.length;
        if (paused && inFlight <= OUTPUT_LOW_WATER) {
          paused = false;
          term.resume();
        }
      });
      if (!paused && inFlight > OUTPUT_HIGH_WATER) {
        paused = true;
        term.pause();
      }
    });
    term.onExit(() => ws.close(1000, 'shell exited'));
    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary && data[0] === StreamTag.terminal) term.write(data.subarray(1) as unknown as string);
    });
    ws.on('close', () => {
      shells.delete(term);
      try {
        term.kill();
      } catch {
        // already gone
      }
    });
  });
  const { port } = wss.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}/`,
    close: () =>
      new Promise((resolve) => {
        for (const term of shells) term.kill();
        for (const client of wss.clients) client.terminate();
        wss.close(() => resolve());
      }),
  };
}

/**
 * The ceiling under both: the same pty and shell running `cat <file>`, read by node-pty with no WebSocket at all;
 * MB/s from the first byte to the last (onlcr and all, like the other two).
 */
export function ptyAlone(file: string): Promise<{ bytes: number; ms: number }> {
  const launch = shellForThisPlatform();
  const term = loadNodePty().spawn(launch.file, ['-c', `exec cat ${file}`], { name: 'xterm-256color', cols: 80, rows: 24, cwd: launch.cwd, env: launch.env, encoding: null });
  let bytes = 0;
  let first = 0;
  let last = 0;
  term.onData((data) => {
    last = performance.now();
    if (!first) first = last;
    bytes += (data as unknown as Buffer).length;
  });
  return new Promise((resolve) => term.onExit(() => resolve({ bytes, ms: last - first })));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const baseline = await startPtyBaseline();
  process.stdout.write(`${JSON.stringify({ url: baseline.url })}\n`);
  process.on('SIGTERM', () => void baseline.close().finally(() => process.exit(0)));
}
