import WebSocket from 'ws';
import {
  fromBase64,
  generateKeyPair,
  handshakeTranscript,
  newNonce,
  NONCE_BYTES,
  PUBLIC_KEY_BYTES,
  signerFor,
  toBase64,
  type HandshakeBinding,
  type KeyPair,
  type ProofRole,
} from '../../protocol/identity.ts';
import type { Inventory } from '../../protocol/inventory.ts';
import { decodeServerMessage, encodeMessage, type AgentMessage, type Outbound, type ServerMessage } from '../../protocol/messages.ts';
import { AGENT_GATEWAY_PATH } from '../../protocol/version.ts';

/**
 * A hand-driven agent: a bare `ws` socket plus the protocol/ functions, so a test can play every handshake step
 * itself (and get any of them wrong on purpose). Server messages are decoded with the same validator the agent
 * uses, so a malformed server message fails the test too.
 */
export interface Closed {
  code: number;
  reason: string;
}

/** An enrolled identity held in-process: the test owns the key pair of a real machine row. */
export interface RawIdentity {
  keyPair: KeyPair;
  machineId: string;
}

type ServerMessageOf<T extends ServerMessage['type']> = Extract<ServerMessage, { type: T }>;

export const GiB = 1024 ** 3;

export function gatewayUrlOf(serverUrl: string): string {
  const url = new URL(serverUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = AGENT_GATEWAY_PATH;
  return url.toString();
}

export class RawAgent {
  /** Every text frame the server sent, undecoded. */
  readonly received: string[] = [];
  readonly closed: Promise<Closed>;
  challenge: ServerMessageOf<'challenge'> | null = null;
  serverProof: ServerMessageOf<'server_proof'> | null = null;
  agentNonce: Uint8Array | null = null;
  agentKey: Uint8Array | null = null;
  private readonly inbox: (ServerMessage | Error)[] = [];
  private waiter: ((item: ServerMessage | Error) => void) | null = null;
  private closeInfo: Closed | null = null;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString('utf8') };
        this.push(new Error(`socket closed: ${code} ${this.closeInfo.reason}`));
        resolve(this.closeInfo);
      });
    });
    ws.on('error', () => undefined); // the close event carries what the tests assert
    ws.on('message', (data, isBinary) => {
      if (isBinary) return this.push(new Error('server sent a binary frame'));
      const text = (data as Buffer).toString('utf8');
      this.received.push(text);
      try {
        this.push(decodeServerMessage(text));
      } catch (error) {
        this.push(error as Error);
      }
    });
  }

  static open(serverUrl: string, options: WebSocket.ClientOptions = {}): Promise<RawAgent> {
    const ws = new WebSocket(gatewayUrlOf(serverUrl), { perMessageDeflate: false, ...options });
    const agent = new RawAgent(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(agent));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode} on the gateway`)));
    });
  }

  /** Opens a connection and completes a valid handshake as `identity`. */
  static async connectAs(serverUrl: string, identity: RawIdentity): Promise<{ agent: RawAgent; welcome: ServerMessageOf<'welcome'> }> {
    const agent = await RawAgent.open(serverUrl);
    const welcome = await agent.handshake({ keyPair: identity.keyPair, mode: 'connect', machineId: identity.machineId });
    return { agent, welcome };
  }

  private push(item: ServerMessage | Error): void {
    if (this.waiter) {
      const waiter = this.waiter;
      this.waiter = null;
      waiter(item);
    } else this.inbox.push(item);
  }

  /** The next server message; rejects if the socket closed first or the server sent something invalid. */
  next(timeoutMs = 10_000): Promise<ServerMessage> {
    const settle = (item: ServerMessage | Error) => (item instanceof Error ? Promise.reject(item) : Promise.resolve(item));
    const queued = this.inbox.shift();
    if (queued) return settle(queued);
    if (this.closeInfo) return Promise.reject(new Error(`socket closed: ${this.closeInfo.code} ${this.closeInfo.reason}`));
    return new Promise<ServerMessage | Error>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no server message within ${timeoutMs} ms`)), timeoutMs);
      this.waiter = (item) => (clearTimeout(timer), resolve(item));
    }).then(settle);
  }

  async expect<T extends ServerMessage['type']>(type: T, timeoutMs?: number): Promise<ServerMessageOf<T>> {
    const message = await this.next(timeoutMs);
    if (message.type !== type) throw new Error(`expected '${type}' from the server, got '${message.type}'`);
    return message as ServerMessageOf<T>;
  }

  async readChallenge(): Promise<ServerMessageOf<'challenge'>> {
    this.challenge = await this.expect('challenge');
    return this.challenge;
  }

  /** Sends a hello; anything may be overridden (or set to undefined to drop it). Records the nonce and key sent. */
  sendHello(opts: {
    agentKey: Uint8Array;
    mode?: 'enroll' | 'connect';
    machineId?: string;
    agentNonce?: Uint8Array;
    overrides?: Record<string, unknown>;
  }): void {
    this.agentKey = opts.agentKey;
    this.agentNonce = opts.agentNonce ?? newNonce();
    this.sendJson({
      type: 'hello',
      v: 1,
      agentNonce: toBase64(this.agentNonce),
      agentKey: toBase64(opts.agentKey),
      mode: opts.mode ?? 'connect',
      ...(opts.machineId ? { machineId: opts.machineId } : {}),
      agentVersion: '0.0.0-raw',
      ...opts.overrides,
    });
  }

  async readServerProof(): Promise<ServerMessageOf<'server_proof'>> {
    this.serverProof = await this.expect('server_proof');
    return this.serverProof;
  }

  /** The nonces and keys of this connection as both sides bind them (after challenge and hello). */
  binding(): HandshakeBinding {
    if (!this.challenge || !this.agentNonce || !this.agentKey) throw new Error('binding needs a challenge and a hello first');
    return {
      serverNonce: fromBase64(this.challenge.serverNonce, NONCE_BYTES) as Uint8Array,
      agentNonce: this.agentNonce,
      serverKey: fromBase64(this.challenge.serverKey, PUBLIC_KEY_BYTES) as Uint8Array,
      agentKey: this.agentKey,
    };
  }

  /** A base64 signature over this connection's transcript, made with any secret key. */
  sign(secretKey: Uint8Array, role: ProofRole = 'agent'): string {
    return toBase64(signerFor(secretKey)(handshakeTranscript(role, this.binding())));
  }

  sendProof(signature: string, extra: Record<string, unknown> = {}): void {
    this.sendJson({ type: 'agent_proof', v: 1, signature, ...extra });
  }

  /** The whole handshake done right; resolves with the welcome. */
  async handshake(opts: { keyPair: KeyPair; mode: 'enroll' | 'connect'; machineId?: string; enrollmentToken?: string }) {
    await this.readChallenge();
    this.sendHello({ agentKey: opts.keyPair.publicKey, mode: opts.mode, machineId: opts.machineId });
    await this.readServerProof();
    this.sendProof(this.sign(opts.keyPair.secretKey), opts.enrollmentToken ? { enrollmentToken: opts.enrollmentToken } : {});
    return this.expect('welcome');
  }

  send(message: Outbound<AgentMessage>): void {
    this.ws.send(encodeMessage(message));
  }

  /** Any JSON value, exactly as given (no version added). */
  sendJson(value: unknown): void {
    this.ws.send(JSON.stringify(value));
  }

  sendText(text: string): void {
    this.ws.send(text);
  }

  sendBinary(bytes: Uint8Array): void {
    this.ws.send(bytes, { binary: true });
  }

  /** Resolves with the close code and reason, or rejects if the socket is still open after `timeoutMs`. */
  waitClosed(timeoutMs = 10_000): Promise<Closed> {
    return Promise.race([
      this.closed,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
  }

  async close(): Promise<Closed> {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000, 'test done');
    const timer = setTimeout(() => this.ws.terminate(), 3000);
    const info = await this.closed;
    clearTimeout(timer);
    return info;
  }
}

/** Enrolls a fresh in-process key pair with an enrollment token (mode 'enroll'), then hangs up. */
export async function enrollRawIdentity(serverUrl: string, enrollmentToken: string): Promise<RawIdentity> {
  const keyPair = generateKeyPair();
  const agent = await RawAgent.open(serverUrl);
  const welcome = await agent.handshake({ keyPair, mode: 'enroll', enrollmentToken });
  await agent.close();
  return { keyPair, machineId: welcome.machineId };
}

/** A small, schema-valid inventory document with stable content (only `collectedAt` moves). */
export function sampleInventory(overrides: Partial<Inventory> = {}): Inventory {
  return {
    collectedAt: new Date().toISOString(),
    agentVersion: '0.0.0-raw',
    hostname: 'raw-host',
    fqdn: null,
    os: { platform: 'linux', distro: 'Debian GNU/Linux', release: '12', kernel: '6.1.0-test', arch: 'x64', build: null },
    hardware: { manufacturer: 'QEMU', model: 'Standard PC', serial: null },
    cpu: { manufacturer: 'GenuineIntel', brand: 'Test CPU', cores: 4, physicalCores: 2, speedGHz: 2.5 },
    memory: { totalBytes: 8 * GiB },
    disks: [{ mount: '/', fs: '/dev/sda1', type: 'ext4', sizeBytes: 100 * GiB, usedBytes: 10 * GiB }],
    network: [{ name: 'eth0', mac: '52:54:00:12:34:56', ipv4: ['10.0.0.5'], ipv6: [] }],
    loggedInUsers: [],
    localAccounts: [{ name: 'root', fullName: 'root', uid: '0', isAdmin: true, disabled: false }],
    software: [
      { name: 'bash', version: '5.2.15-2', publisher: 'Debian', source: 'dpkg' },
      { name: 'openssl', version: '3.0.11-1', publisher: 'Debian', source: 'dpkg' },
    ],
    kind: 'server',
    kindSource: 'detected',
    domainRole: 'standalone',
    domain: null,
    ...overrides,
  };
}
