import type WebSocket from 'ws';
import { CloseCode } from '../../protocol/close-codes.ts';
import {
  fromBase64,
  handshakeTranscript,
  keyFingerprint,
  newNonce,
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  signerFor,
  toBase64,
  verifySignature,
  type KeyPair,
} from '../../protocol/identity.ts';
import type { ServerMessage, Welcome } from '../../protocol/messages.ts';
import { STEWARD_VERSION } from '../../protocol/version.ts';
import type { TlsTrust } from '../state/agent-state.ts';
import { dialServer, ServerIdentityError } from './dial.ts';
import { ConnectionClosed, MessageStream } from './message-stream.ts';

export { ServerIdentityError };

export interface HandshakeOptions {
  url: URL;
  keyPair: KeyPair;
  /** The server identity to accept: the full key once enrolled, the token's fingerprint when enrolling. */
  expectedServer: { publicKey: Uint8Array } | { fingerprint: string };
  mode: 'enroll' | 'connect';
  machineId?: string;
  enrollmentToken?: string;
  tls: TlsTrust;
  timeoutMs?: number;
}

export interface Session {
  stream: MessageStream;
  welcome: Welcome;
  serverPublicKey: Uint8Array;
}


/**
 * The agent half of the mutual challenge–response. The server must prove it holds the expected identity key
 * (signing both fresh nonces) before the agent proves itself or reveals an enrollment token.
 */
export async function openSession(opts: HandshakeOptions): Promise<Session> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  let stream!: MessageStream;
  let socket: WebSocket;
  try {
    socket = await dialServer(opts.url, opts.tls, timeoutMs, (s) => (stream = new MessageStream(s)));
  } catch (error) {
    throw error instanceof ServerIdentityError ? error : new ConnectionClosed(1006, (error as Error).message);
  }
  const timer = setTimeout(() => stream.fail(CloseCode.handshakeTimeout, 'handshake timed out'), timeoutMs);
  try {
    const challenge = expect(await stream.next(), 'challenge');
    const serverKey = fromBase64(challenge.serverKey, PUBLIC_KEY_BYTES);
    const serverNonce = fromBase64(challenge.serverNonce, 32);
    if (!serverKey || !serverNonce || !serverKeyAccepted(serverKey, opts.expectedServer)) {
      stream.fail(CloseCode.authenticationFailed, 'unexpected server identity');
      throw new ServerIdentityError(`the server's identity key (${serverKey ? keyFingerprint(serverKey) : 'malformed'}) is not the one this agent trusts`);
    }
    const agentNonce = newNonce();
    stream.send({
      type: 'hello',
      agentNonce: toBase64(agentNonce),
      agentKey: toBase64(opts.keyPair.publicKey),
      mode: opts.mode,
      ...(opts.machineId ? { machineId: opts.machineId } : {}),
      agentVersion: STEWARD_VERSION,
    });
    const binding = { serverNonce, agentNonce, serverKey, agentKey: opts.keyPair.publicKey };
    const proof = expect(await stream.next(), 'server_proof');
    const signature = fromBase64(proof.signature, SIGNATURE_BYTES);
    if (!signature || !verifySignature(handshakeTranscript('server', binding), signature, serverKey)) {
      stream.fail(CloseCode.authenticationFailed, 'server proof invalid');
      throw new ServerIdentityError('the server failed to prove its identity (bad signature)');
    }
    stream.send({
      type: 'agent_proof',
      signature: toBase64(signerFor(opts.keyPair.secretKey)(handshakeTranscript('agent', binding))),
      ...(opts.enrollmentToken ? { enrollmentToken: opts.enrollmentToken } : {}),
    });
    const welcome = expect(await stream.next(), 'welcome');
    return { stream, welcome, serverPublicKey: serverKey };
  } catch (error) {
    socket.terminate();
    throw error instanceof ConnectionClosed || error instanceof ServerIdentityError ? error : new ConnectionClosed(1006, (error as Error).message);
  } finally {
    clearTimeout(timer);
  }
}

function serverKeyAccepted(key: Uint8Array, expected: HandshakeOptions['expectedServer']): boolean {
  if ('fingerprint' in expected) return keyFingerprint(key) === expected.fingerprint;
  return Buffer.compare(Buffer.from(key), Buffer.from(expected.publicKey)) === 0;
}

function expect<T extends ServerMessage['type']>(message: ServerMessage, type: T): Extract<ServerMessage, { type: T }> {
  if (message.type !== type) throw new ConnectionClosed(CloseCode.invalidMessage, `expected '${type}' from the server, got '${message.type}'`);
  return message as Extract<ServerMessage, { type: T }>;
}
