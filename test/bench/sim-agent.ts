import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { CommandRefused } from '../../agent/commands/command-refused.ts';
import { Backoff } from '../../agent/connection/backoff.ts';
import { CloseCode, FATAL_CLOSE_CODES } from '../../protocol/close-codes.ts';
import {
  fromBase64,
  handshakeTranscript,
  keyFingerprint,
  newNonce,
  NONCE_BYTES,
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  signerFor,
  toBase64,
  verifySignature,
} from '../../protocol/identity.ts';
import type { Inventory } from '../../protocol/inventory.ts';
import { decodeServerMessage, encodeMessage, type Outbound, type AgentMessage, type CommandRequest } from '../../protocol/messages.ts';
import { MAX_FRAME_BYTES, STEWARD_VERSION } from '../../protocol/version.ts';

/**
 * A light simulated agent: the same handshake as agent/connection/handshake.ts (same protocol functions, same
 * order and checks), the same heartbeat and the same reconnect policy as agent/connection/agent-link.ts (Backoff,
 * slow retry after authentication failures) — but as a small state machine on one `ws` socket, without
 * per-session promises, so thousands fit in one process. Inventory reports and command answers are optional hooks
 * (the rotation benchmark plugs in the agent's real dispatcher); without them requests are refused as unknown.
 */
export interface Stats {
  welcomes: number;
  authed: number;
  epoch: number;
  epochWelcomed: number;
  lastWelcomeAt: number;
  attempts: number;
  /** close code / socket error code → count (handshake failures and disconnects). */
  problems: Record<string, number>;
}

export const newStats = (): Stats => ({ welcomes: 0, authed: 0, epoch: 0, epochWelcomed: 0, lastWelcomeAt: 0, attempts: 0, problems: {} });

const SLOW_RETRY = new Set<number>([CloseCode.authenticationFailed, CloseCode.machineUnknown, CloseCode.unsupportedVersion]);
const HANDSHAKE_TIMEOUT_MS = 15_000;

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * A 64-byte tweetnacl-format secret key (seed ‖ public key) from a random seed through Node's Ed25519 (~50× faster
 * than tweetnacl's key generation). Not generateKeyPairSync + JWK export: on Node 20.20 that combination can
 * self-deadlock (ExportJWKEdKey holds the key mutex while a GC finalises the KeyGenJob, which takes the same mutex).
 */
export function newSecretKey(): Buffer {
  const seed = randomBytes(32);
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return Buffer.concat([seed, spki.subarray(spki.length - 32)]);
}

export interface SimAgentOptions {
  url: string;
  localAddress: string;
  mode: 'enroll' | 'connect';
  secretKey: Buffer;
  machineId: string | null;
  /** enroll: the fingerprint pinned by the token; connect: the server key learnt at enrollment. */
  expected: { fingerprint: string } | { publicKey: Buffer };
  enrollmentToken?: string;
  stats: Stats;
  /** Called once per attempt when it settles (welcome, or failure), for the caller's concurrency limit. */
  onSettled?: () => void;
  /** enroll mode: called with the machine id and server key after the welcome; the socket is then closed. */
  onEnrolled?: (machineId: string, serverKey: Buffer) => void;
  /** enroll mode: called when the agent stops trying (fatal refusal or attempts exhausted). */
  onGaveUp?: () => void;
  maxEnrollAttempts?: number;
  /** connect mode: reported after each welcome when its hash differs from the server's, as agent-link.ts does. */
  inventory?: { hash: string; document: Inventory };
  /** connect mode: answers a command request (result, or a CommandRefused / error for a refusal). */
  onRequest?: (command: { name: string; params: unknown }) => Promise<unknown>;
}

export class SimAgent {
  private ws: WebSocket | null = null;
  private readonly backoff = new Backoff();
  private heartbeat: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;
  private welcomedEpoch = -1;
  private stopped = false;
  private enrollAttempts = 0;

  constructor(private readonly opts: SimAgentOptions) {}

  start(): void {
    this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.ws?.terminate();
  }

  private answer(request: CommandRequest, send: (m: Outbound<AgentMessage>) => unknown): void {
    const run =
      this.opts.onRequest ??
      (async () => {
        throw new CommandRefused('unknown_command', `this agent does not know the command '${request.command.name}'`);
      });
    run(request.command).then(
      (result) => send({ type: 'response', id: request.id, ok: true, result }),
      (error: Error) => send({ type: 'response', id: request.id, ok: false, error: { code: error instanceof CommandRefused ? error.code : 'failed', message: String(error.message).slice(0, 2000) } }),
    );
  }

  private problem(key: string): void {
    this.opts.stats.problems[key] = (this.opts.stats.problems[key] ?? 0) + 1;
  }

  private open(): void {
    const { opts } = this;
    const stats = opts.stats;
    stats.attempts++;
    const ws = new WebSocket(opts.url, { perMessageDeflate: false, maxPayload: MAX_FRAME_BYTES, handshakeTimeout: HANDSHAKE_TIMEOUT_MS, localAddress: opts.localAddress });
    this.ws = ws;
    const agentKey = opts.secretKey.subarray(32);
    let step = 0;
    let binding: { serverNonce: Uint8Array; agentNonce: Uint8Array; serverKey: Uint8Array; agentKey: Uint8Array } | null = null;
    let authed = false;
    let settled = false;
    let slow = false;
    let lastHeard = Date.now();
    const settle = () => {
      if (!settled) (settled = true), opts.onSettled?.();
    };
    const send = (m: Outbound<AgentMessage>) => ws.readyState === WebSocket.OPEN && ws.send(encodeMessage(m));
    const fail = (code: number, why: string) => {
      this.problem(`local ${code} ${why}`);
      slow ||= code === CloseCode.authenticationFailed;
      ws.close(code, why.slice(0, 120));
      setTimeout(() => ws.terminate(), 3000).unref();
    };
    const timer = setTimeout(() => fail(CloseCode.handshakeTimeout, 'handshake timed out'), HANDSHAKE_TIMEOUT_MS);

    ws.on('message', (data, isBinary) => {
      lastHeard = Date.now();
      if (isBinary) return fail(CloseCode.invalidMessage, 'unexpected binary frame');
      let msg;
      try {
        msg = decodeServerMessage((data as Buffer).toString('utf8'));
      } catch (error) {
        return fail(CloseCode.invalidMessage, (error as Error).message);
      }
      if (step === 0) {
        if (msg.type !== 'challenge') return fail(CloseCode.invalidMessage, `expected challenge, got ${msg.type}`);
        const serverKey = fromBase64(msg.serverKey, PUBLIC_KEY_BYTES);
        const serverNonce = fromBase64(msg.serverNonce, NONCE_BYTES);
        const expected = opts.expected;
        const ok =
          serverKey && serverNonce && ('fingerprint' in expected ? keyFingerprint(serverKey) === expected.fingerprint : Buffer.compare(Buffer.from(serverKey), expected.publicKey) === 0);
        if (!ok) return fail(CloseCode.authenticationFailed, 'unexpected server identity');
        binding = { serverNonce: serverNonce!, agentNonce: newNonce(), serverKey: serverKey!, agentKey };
        step = 1;
        send({
          type: 'hello',
          agentNonce: toBase64(binding.agentNonce),
          agentKey: toBase64(agentKey),
          mode: opts.mode,
          ...(opts.machineId ? { machineId: opts.machineId } : {}),
          agentVersion: STEWARD_VERSION,
        });
      } else if (step === 1) {
        if (msg.type !== 'server_proof') return fail(CloseCode.invalidMessage, `expected server_proof, got ${msg.type}`);
        const signature = fromBase64(msg.signature, SIGNATURE_BYTES);
        if (!signature || !verifySignature(handshakeTranscript('server', binding!), signature, binding!.serverKey)) {
          return fail(CloseCode.authenticationFailed, 'server proof invalid');
        }
        step = 2;
        send({
          type: 'agent_proof',
          signature: toBase64(signerFor(opts.secretKey)(handshakeTranscript('agent', binding!))),
          ...(opts.mode === 'enroll' ? { enrollmentToken: opts.enrollmentToken } : {}),
        });
      } else if (step === 2) {
        if (msg.type !== 'welcome') return fail(CloseCode.invalidMessage, `expected welcome, got ${msg.type}`);
        clearTimeout(timer);
        step = 3;
        authed = true;
        stats.welcomes++;
        stats.authed++;
        stats.lastWelcomeAt = Date.now();
        if (this.welcomedEpoch !== stats.epoch) (this.welcomedEpoch = stats.epoch), stats.epochWelcomed++;
        this.backoff.reset();
        settle();
        if (opts.mode === 'enroll') {
          opts.onEnrolled?.(msg.machineId, Buffer.from(binding!.serverKey));
          this.stopped = true;
          ws.close(CloseCode.normal, 'enrolled');
          return;
        }
        if (opts.inventory && opts.inventory.hash !== msg.inventoryHash) send({ type: 'inventory', hash: opts.inventory.hash, inventory: opts.inventory.document });
        const heartbeatMs = msg.heartbeatSeconds * 1000;
        this.heartbeat = setInterval(() => {
          if (Date.now() - lastHeard > heartbeatMs * 3) return fail(CloseCode.heartbeatTimeout, 'server silent for three heartbeat intervals');
          send({ type: 'heartbeat', at: new Date().toISOString() });
        }, heartbeatMs);
        return;
      }
      // step 3: server heartbeats need nothing more; requests are answered like agent-link.ts answers them.
      if (msg.type === 'request') this.answer(msg, send);
    });
    ws.on('error', (error: NodeJS.ErrnoException) => this.problem(error.code ?? error.message.slice(0, 60)));
    ws.on('close', (code) => {
      clearTimeout(timer);
      if (this.heartbeat) clearInterval(this.heartbeat);
      this.heartbeat = null;
      if (authed) stats.authed--;
      else this.problem(`closed ${code} before welcome`);
      settle();
      if (this.stopped) return;
      if (opts.mode === 'enroll') {
        if (FATAL_CLOSE_CODES.has(code) || ++this.enrollAttempts >= (opts.maxEnrollAttempts ?? 5)) {
          this.stopped = true;
          return opts.onGaveUp?.();
        }
      }
      const delay = slow || SLOW_RETRY.has(code) ? this.backoff.toCap() : this.backoff.next();
      this.retry = setTimeout(() => this.open(), delay);
    });
  }
}
