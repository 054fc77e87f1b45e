import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { OUTPUT_HIGH_WATER, OUTPUT_LOW_WATER } from '../../agent/sessions/terminal-session.ts';
import { fromBase64 } from '../../protocol/identity.ts';
import { CREDIT, dataFrame, proveAgent, WINDOW, type AgentCommand, type AgentReply, type ControlMessage } from './transport-wire.ts';

/**
 * The agent side of the transport benchmark, forked by transport.ts (its own process and event loop, as a real
 * agent's). Floods N channels over one of the two designs (transport-wire.ts), answers control pings at once, and
 * times the setup of one more channel.
 */
let sockets: WebSocket[] = [];
let running = false;

const reply = (message: AgentReply) => process.send!(message);

async function dial(port: number, path: string, secret: Uint8Array, serverPublic: Uint8Array): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { perMessageDeflate: false });
  // Listening before 'open': the challenge can arrive in the same read as the upgrade response.
  const proven = proveAgent(ws, secret, serverPublic);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  await proven;
  return ws;
}

/** Answers the server's pings on the control socket (the multiplexed one, or the dedicated control socket). */
function answerPings(ws: WebSocket, onText: (msg: ControlMessage) => void = () => undefined): void {
  ws.on('message', (data: Buffer, isBinary) => {
    if (isBinary) return;
    const msg = JSON.parse(data.toString('utf8')) as ControlMessage;
    if (msg.t === 'ping') ws.send(JSON.stringify({ t: 'pong', n: msg.n } satisfies ControlMessage));
    else onText(msg);
  });
}

async function flood(c: Extract<AgentCommand, { cmd: 'flood' }>): Promise<void> {
  const secret = Buffer.from(c.agentSecret, 'base64');
  const serverPublic = Buffer.from(c.serverPublic, 'base64');
  const payload = randomBytes(c.chunk);
  running = true;
  if (c.design === 'mux') {
    const ws = await dial(c.port, '/mux', secret, serverPublic);
    sockets = [ws];
    const credit = new Array<number>(c.channels).fill(WINDOW);
    const sources = Array.from({ length: c.channels }, (_, ch) => {
      const frame = dataFrame(ch, payload);
      return new Source(() => credit[ch] >= c.chunk, () => {
        credit[ch] -= c.chunk;
        ws.send(frame);
      });
    });
    answerPings(ws);
    ws.on('message', (data: Buffer, isBinary) => {
      if (!isBinary || data[0] !== CREDIT) return;
      const ch = data.readUInt16BE(1);
      credit[ch] += data.readUInt32BE(3);
      sources[ch].wake();
    });
    for (const source of sources) source.wake();
  } else {
    const control = await dial(c.port, '/control', secret, serverPublic);
    answerPings(control);
    const data = await Promise.all(Array.from({ length: c.channels }, (_, ch) => dial(c.port, `/data/${ch}`, secret, serverPublic)));
    sockets = [control, ...data];
    const frame = dataFrame(null, payload);
    for (const ws of data) {
      // The agent's own flow control for a session link (terminal-session.ts): pause over the high-water mark of
      // bytes handed to send() and not yet written, resume at the low one.
      let inFlight = 0;
      let paused = false;
      const source: Source = new Source(() => !paused, () => {
        inFlight += frame.length;
        ws.send(frame, () => {
          inFlight -= frame.length;
          if (paused && inFlight <= OUTPUT_LOW_WATER) {
            paused = false;
            source.wake();
          }
        });
        if (inFlight > OUTPUT_HIGH_WATER) paused = true;
      });
      source.wake();
    }
  }
  reply({ ok: 'flooding' });
}

/**
 * A session's output as a pty gives it: one chunk per turn of the event loop (a read event), for as long as `may`
 * says so; woken again by the flow control. (Writing in a loop from send callbacks instead would chain
 * process.nextTick callbacks while the kernel takes the writes, and starve every other socket of this process.)
 */
class Source {
  private scheduled = false;

  constructor(
    private readonly may: () => boolean,
    private readonly produce: () => void,
  ) {}

  wake(): void {
    if (this.scheduled || !running) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!running || !this.may()) return;
      this.produce();
      this.wake();
    });
  }
}

/** One more channel, `samples` times: a dedicated socket (connect, upgrade, proof) or a mux open/opened exchange. */
async function setupCost(c: Extract<AgentCommand, { cmd: 'setup-cost' }>): Promise<void> {
  const secret = Buffer.from(c.agentSecret, 'base64');
  const serverPublic = fromBase64(c.serverPublic, 32)!;
  const ms: number[] = [];
  if (c.design === 'dedicated') {
    for (let i = 0; i < c.samples; i++) {
      const t0 = performance.now();
      const ws = await dial(c.port, `/data/${1000 + i}`, secret, serverPublic);
      ms.push(performance.now() - t0);
      ws.close();
    }
  } else {
    const ws = await dial(c.port, '/mux', secret, serverPublic);
    let opened: (() => void) | null = null;
    answerPings(ws, (msg) => msg.t === 'opened' && opened?.());
    for (let i = 0; i < c.samples; i++) {
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        opened = resolve;
        ws.send(JSON.stringify({ t: 'open', channel: 1000 + i } satisfies ControlMessage));
      });
      ms.push(performance.now() - t0);
    }
    ws.close();
  }
  reply({ ok: 'setup-cost', ms });
}

process.on('message', (command: AgentCommand) => {
  const run = async () => {
    if (command.cmd === 'flood') await flood(command);
    else if (command.cmd === 'setup-cost') await setupCost(command);
    else {
      running = false;
      for (const ws of sockets) ws.terminate();
      sockets = [];
      reply({ ok: 'stopped' });
    }
  };
  run().catch((error: unknown) => reply({ error: (error as Error).message }));
});
process.on('disconnect', () => process.exit(0));
reply({ ok: 'ready' });
