import WebSocket from 'ws';
import { encodeMessage } from '../../protocol/messages.ts';
import type { EndpointSpec } from './rotation-endpoint.ts';
import { newSecretKey, newStats, SimAgent } from './sim-agent.ts';

/**
 * One client process of the benchmark (forked by workers.ts). Commands arrive over IPC; progress goes back every
 * 250 ms. Every socket binds one of the given loopback source addresses, so no single source runs out of ports.
 * A `connect` with an `endpoint` gives every agent a simulated endpoint (rotation-endpoint.ts, loaded only then):
 * it reports inventory and answers commands with the agent's real dispatcher.
 */
export type WorkerCommand =
  | { cmd: 'enroll'; count: number; url: string; token: string; fingerprint: string; addresses: string[]; concurrency: number }
  | { cmd: 'connect'; identities: [string, string][]; url: string; serverKey: string; addresses: string[]; concurrency: number; endpoint?: EndpointSpec }
  | { cmd: 'plain'; count: number; url: string; addresses: string[]; concurrency: number; heartbeatSeconds: number }
  | { cmd: 'epoch'; epoch: number }
  | { cmd: 'endpoint-report' }
  | { cmd: 'stop' };

const stats = newStats();
const agents: { stop(): void }[] = [];
const send = (message: unknown) => process.send?.(message);
let endpoints: typeof import('./rotation-endpoint.ts') | null = null;

/** Starts `count` things, at most `limit` of whose first attempts are in flight at once. */
function ramp(count: number, limit: number, startOne: (i: number, settled: () => void) => void): void {
  let next = 0;
  let inFlight = 0;
  const pump = () => {
    while (inFlight < limit && next < count) {
      inFlight++;
      let done = false;
      startOne(next++, () => {
        if (done) return;
        done = true;
        inFlight--;
        setImmediate(pump);
      });
    }
  };
  pump();
}

function enroll(c: Extract<WorkerCommand, { cmd: 'enroll' }>): void {
  const enrolled: [string, string][] = [];
  let serverKey = '';
  let finished = 0;
  const done = () => {
    if (++finished === c.count) send({ type: 'enrolled', identities: enrolled, serverKey });
  };
  ramp(c.count, c.concurrency, (i, settled) => {
    const secretKey = newSecretKey();
    const agent = new SimAgent({
      url: c.url,
      localAddress: c.addresses[i % c.addresses.length],
      mode: 'enroll',
      secretKey,
      machineId: null,
      expected: { fingerprint: c.fingerprint },
      enrollmentToken: c.token,
      stats,
      onSettled: settled,
      onEnrolled: (machineId, key) => {
        enrolled.push([machineId, secretKey.toString('base64')]);
        serverKey = key.toString('base64');
        done();
      },
      // An agent whose enrollment attempts are exhausted counts as finished too (reported as a shortfall).
      onGaveUp: done,
    });
    agents.push(agent);
    agent.start();
  });
}

async function connect(c: Extract<WorkerCommand, { cmd: 'connect' }>): Promise<void> {
  const serverKey = Buffer.from(c.serverKey, 'base64');
  if (c.endpoint) endpoints ??= await import('./rotation-endpoint.ts');
  ramp(c.identities.length, c.concurrency, (i, settled) => {
    const [machineId, secret] = c.identities[i];
    const endpoint = c.endpoint && endpoints ? new endpoints.SimEndpoint(machineId, c.serverKey, c.endpoint) : null;
    const agent = new SimAgent({
      ...(endpoint ? { inventory: endpoint.inventory, onRequest: endpoint.answer } : {}),
      url: c.url,
      localAddress: c.addresses[i % c.addresses.length],
      mode: 'connect',
      secretKey: Buffer.from(secret, 'base64'),
      machineId,
      expected: { publicKey: serverKey },
      stats,
      onSettled: settled,
    });
    agents.push(agent);
    agent.start();
  });
}

/** Baseline: plain WebSocket connections, no handshake, one text frame per heartbeat interval. */
function plain(c: Extract<WorkerCommand, { cmd: 'plain' }>): void {
  ramp(c.count, c.concurrency, (i, settled) => {
    stats.attempts++;
    const ws = new WebSocket(c.url, { perMessageDeflate: false, localAddress: c.addresses[i % c.addresses.length] });
    let timer: NodeJS.Timeout | null = null;
    ws.on('open', () => {
      stats.welcomes++;
      stats.authed++;
      stats.epochWelcomed++;
      stats.lastWelcomeAt = Date.now();
      settled();
      timer = setInterval(() => ws.send(encodeMessage({ type: 'heartbeat', at: new Date().toISOString() })), c.heartbeatSeconds * 1000);
    });
    ws.on('error', (error: NodeJS.ErrnoException) => {
      stats.problems[error.code ?? 'error'] = (stats.problems[error.code ?? 'error'] ?? 0) + 1;
      settled();
    });
    ws.on('close', () => {
      if (timer) (clearInterval(timer), stats.authed--);
    });
    agents.push({ stop: () => (timer && clearInterval(timer), ws.terminate()) });
  });
}

const progress = setInterval(() => send({ type: 'progress', stats, rssKb: Math.round(process.memoryUsage.rss() / 1024), endpoint: endpoints?.endpointProgress() }), 250);

process.on('message', (message: WorkerCommand) => {
  switch (message.cmd) {
    case 'enroll':
      return enroll(message);
    case 'connect':
      return void connect(message);
    case 'plain':
      return plain(message);
    case 'epoch':
      stats.epoch = message.epoch;
      stats.epochWelcomed = 0;
      stats.problems = {};
      return;
    case 'endpoint-report':
      return send({ type: 'endpoint-report', report: endpoints?.takeReport() ?? null });
    case 'stop':
      for (const agent of agents.splice(0)) agent.stop();
      clearInterval(progress);
      send({ type: 'progress', stats, rssKb: Math.round(process.memoryUsage.rss() / 1024) });
      setTimeout(() => process.exit(0), 200);
  }
});
// The parent going away ends this worker too.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
