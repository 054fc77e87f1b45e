import type WebSocket from 'ws';
import { fromBase64, NONCE_BYTES, newNonce, SIGNATURE_BYTES, signerFor, toBase64, verifySignature, type KeyPair } from '../../protocol/identity.ts';
import { decodeLinkServerMessage, encodeStreamMessage, linkTranscript, type LinkServerMessage } from '../../protocol/session-stream.ts';
import { AGENT_SESSION_PATH } from '../../protocol/version.ts';
import { dialServer, ServerIdentityError } from '../connection/dial.ts';
import { gatewayUrl } from '../connection/server-url.ts';
import type { Enrollment } from '../state/agent-state.ts';

export interface LinkOptions {
  enrollment: Enrollment;
  keyPair: KeyPair;
  sessionId: string;
  timeoutMs: number;
}

/** An attached link: the socket, and where its messages go from now on (none is lost in the hand-over). */
export interface AttachedLink {
  socket: WebSocket;
  onMessage(handler: (data: Buffer, isBinary: boolean) => void): void;
}

/**
 * Dials the session link and runs its mutual proof: the server must sign both nonces with the identity key this
 * agent pinned at enrollment before a single terminal byte is sent, so a grant captured in flight is worth nothing
 * to whoever captured it. Resolves with the attached link; anything else closes it and rejects.
 */
export async function attachSessionLink(opts: LinkOptions): Promise<AttachedLink> {
  const base = gatewayUrl(opts.enrollment.serverUrl, opts.enrollment.allowInsecure);
  let reader!: LinkReader;
  const socket = await dialServer(new URL(AGENT_SESSION_PATH, base), opts.enrollment.tls, opts.timeoutMs, (s) => (reader = new LinkReader(s)));
  const serverKey = fromBase64(opts.enrollment.serverPublicKey, 32) as Uint8Array;
  const deadline = Date.now() + opts.timeoutMs;
  try {
    const challenge = await reader.next('challenge', deadline);
    const serverNonce = fromBase64(challenge.serverNonce, NONCE_BYTES);
    if (!serverNonce) throw new Error('malformed challenge');
    const agentNonce = newNonce();
    const signature = signerFor(opts.keyPair.secretKey)(linkTranscript('agent', opts.sessionId, serverNonce, agentNonce));
    socket.send(encodeStreamMessage({ type: 'attach', sessionId: opts.sessionId, agentNonce: toBase64(agentNonce), signature: toBase64(signature) }));
    const attached = await reader.next('attached', deadline);
    const proof = fromBase64(attached.signature, SIGNATURE_BYTES);
    if (!proof || !verifySignature(linkTranscript('server', opts.sessionId, serverNonce, agentNonce), proof, serverKey)) {
      throw new ServerIdentityError('the session link did not prove the server identity this agent trusts');
    }
    return { socket, onMessage: (handler) => reader.handOver(handler) };
  } catch (error) {
    socket.close(4401, (error as Error).message.slice(0, 120));
    setTimeout(() => socket.terminate(), 1000).unref();
    throw error;
  }
}

/** Queues the link's messages from the moment it is dialled, for the handshake and then for the session. */
class LinkReader {
  private readonly queue: [Buffer, boolean][] = [];
  private wake: (() => void) | null = null;
  private closed: string | null = null;
  private handler: ((data: Buffer, isBinary: boolean) => void) | null = null;

  constructor(socket: WebSocket) {
    socket.on('message', (data: Buffer, isBinary) => {
      if (this.handler) this.handler(data, isBinary);
      else this.queue.push([data, isBinary]);
      this.wake?.();
    });
    socket.on('close', (code, reason) => {
      this.closed = `session link closed (${code} ${reason.toString()})`;
      this.wake?.();
    });
  }

  async next<T extends LinkServerMessage['type']>(type: T, deadline: number): Promise<Extract<LinkServerMessage, { type: T }>> {
    while (!this.queue.length) {
      if (this.closed) throw new Error(this.closed);
      if (Date.now() >= deadline) throw new Error(`session link: no '${type}' in time`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        this.wake = () => (clearTimeout(timer), resolve());
      });
      this.wake = null;
    }
    const [data, isBinary] = this.queue.shift() as [Buffer, boolean];
    if (isBinary) throw new Error('binary frame before the link was attached');
    const message = decodeLinkServerMessage(data.toString('utf8'));
    if (message.type !== type) throw new Error(`expected '${type}', got '${message.type}'`);
    return message as Extract<LinkServerMessage, { type: T }>;
  }

  handOver(handler: (data: Buffer, isBinary: boolean) => void): void {
    this.handler = handler;
    for (const [data, isBinary] of this.queue.splice(0)) handler(data, isBinary);
  }
}
