import fs from 'node:fs';
import type { TLSSocket } from 'node:tls';
import WebSocket from 'ws';
import { MAX_FRAME_BYTES } from '../../protocol/version.ts';
import type { TlsTrust } from '../state/agent-state.ts';

/** Something the agent must not retry blindly: the server is not who it should be. */
export class ServerIdentityError extends Error {
  override name = 'ServerIdentityError';
}

/**
 * Opens a WebSocket to the server with the agent's TLS trust (extra CA, or a pinned certificate checked before
 * anything is sent). Used for the control connection and for every session link, so both trust the same server.
 * `listen` runs before the socket opens: the server speaks first, and its first message can arrive in the same
 * packet as the upgrade answer, before an awaiting caller would have attached a listener.
 */
export async function dialServer(url: URL, tls: TlsTrust, timeoutMs: number, listen: (socket: WebSocket) => void): Promise<WebSocket> {
  const pinned = tls.pinnedCertSha256?.replace(/:/g, '').toUpperCase() ?? null;
  const socket = new WebSocket(url, {
    maxPayload: MAX_FRAME_BYTES,
    perMessageDeflate: false,
    handshakeTimeout: timeoutMs,
    ca: tls.caFile ? fs.readFileSync(tls.caFile) : undefined,
    // A pinned certificate replaces CA validation; the pin is checked on open, before anything is sent.
    rejectUnauthorized: pinned === null,
  });
  listen(socket);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
      socket.once('unexpected-response', (_req, res) => reject(new Error(`server answered HTTP ${res.statusCode} to ${url.pathname}`)));
    });
  } catch (error) {
    socket.terminate();
    throw error;
  }
  if (pinned) {
    const cert = (socket as unknown as { _socket: TLSSocket })._socket.getPeerCertificate();
    if (!cert?.fingerprint256 || cert.fingerprint256.replace(/:/g, '').toUpperCase() !== pinned) {
      socket.close(4401, 'certificate pin mismatch');
      setTimeout(() => socket.terminate(), 1000).unref();
      throw new ServerIdentityError('the server TLS certificate does not match the pinned fingerprint');
    }
  }
  return socket;
}
