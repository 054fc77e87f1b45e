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

/**
 * Dials the session link and runs its mutual proof: the server must sign both nonces with the identity key this
 * agent pinned at enrollment before a single terminal byte is sent, so a grant captured in flight is worth nothing
 * to whoever captured it. Resolves with the attached socket; anything else closes it and rejects.
 */
export async function attachSessionLink(opts: LinkOptions): Promise<WebSocket> {
  const base = gatewayUrl(opts.enrollment.serverUrl, opts.enrollment.allowInsecure);
  const socket = await dialServer(new URL(AGENT_SESSION_PATH, base), opts.enrollment.tls, opts.timeoutMs);
  const serverKey = fromBase64(opts.enrollment.serverPublicKey, 32) as Uint8Array;
  try {
    const next = messagesOf(socket, opts.timeoutMs);
    const challenge = await next('challenge');
    const serverNonce = fromBase64(challenge.serverNonce, NONCE_BYTES);
    if (!serverNonce) throw new Error('malformed challenge');
    const agentNonce = newNonce();
    const signature = signerFor(opts.keyPair.secretKey)(linkTranscript('agent', opts.sessionId, serverNonce, agentNonce));
    socket.send(encodeStreamMessage({ type: 'attach', sessionId: opts.sessionId, agentNonce: toBase64(agentNonce), signature: toBase64(signature) }));
    const attached = await next('attached');
    const proof = fromBase64(attached.signature, SIGNATURE_BYTES);
    if (!proof || !verifySignature(linkTranscript('server', opts.sessionId, serverNonce, agentNonce), proof, serverKey)) {
      throw new ServerIdentityError('the session link did not prove the server identity this agent trusts');
    }
    return socket;
  } catch (error) {
    socket.close(4401, (error as Error).message.slice(0, 120));
    setTimeout(() => socket.terminate(), 1000).unref();
    throw error;
  }
}

/** Pulls the handshake messages one at a time, each with the remaining time budget. */
function messagesOf(socket: WebSocket, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  return <T extends LinkServerMessage['type']>(type: T) =>
    new Promise<Extract<LinkServerMessage, { type: T }>>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        socket.off('message', onMessage);
        socket.off('close', onClose);
      };
      const timer = setTimeout(() => (done(), reject(new Error(`session link: no '${type}' in time`))), Math.max(0, deadline - Date.now()));
      const onClose = (code: number, reason: Buffer) => (done(), reject(new Error(`session link closed (${code} ${reason.toString()})`)));
      const onMessage = (data: Buffer, isBinary: boolean) => {
        done();
        try {
          if (isBinary) throw new Error('binary frame before the link was attached');
          const message = decodeLinkServerMessage(data.toString('utf8'));
          if (message.type !== type) throw new Error(`expected '${type}', got '${message.type}'`);
          resolve(message as Extract<LinkServerMessage, { type: T }>);
        } catch (error) {
          reject(error as Error);
        }
      };
      socket.on('message', onMessage);
      socket.on('close', onClose);
    });
}
