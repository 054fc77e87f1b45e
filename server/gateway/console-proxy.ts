import type { IncomingMessage } from 'node:http';
import WebSocket, { type RawData } from 'ws';
import { MAX_FRAME_BYTES } from '../../protocol/version.ts';
import { DomainError } from '../errors.ts';
import { headerValue } from '../http/authenticate.ts';

/** Unsent bytes toward one side above which the other side is no longer read; reading resumes below the low mark. */
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * A console that reached a replica other than the one relaying its session is carried there over a WebSocket of
 * its own: the console's credentials and Origin go along, so the relaying replica authenticates, authorizes, audits
 * and (on revocation) cuts it exactly like a console of its own — this replica only moves frames, with the same
 * backpressure as the relay. A refusal by the relaying replica comes back to the console as that HTTP answer.
 */
export function connectToRelay(request: IncomingMessage, relayUrl: string, sessionId: string, query: string | undefined, address: string): Promise<WebSocket> {
  const target = new URL(`/api/v1/sessions/${sessionId}/stream${query ? `?${query}` : ''}`, relayUrl.replace(/^http/, 'ws'));
  const headers: Record<string, string> = { 'x-forwarded-for': address };
  for (const name of ['authorization', 'cookie', 'origin', 'user-agent']) {
    const value = headerValue(request.headers[name]);
    if (value) headers[name] = value;
  }
  return new Promise((resolve, reject) => {
    const peer = new WebSocket(target, { headers, perMessageDeflate: false, maxPayload: MAX_FRAME_BYTES, handshakeTimeout: CONNECT_TIMEOUT_MS });
    peer.once('open', () => resolve(peer));
    peer.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk.slice(0, 4096)));
      res.on('end', () => {
        let parsed: { error?: { code?: string; message?: string } } = {};
        try {
          parsed = JSON.parse(body);
        } catch {
          // not ours: reported as unreachable below
        }
        const status = res.statusCode ?? 502;
        reject(parsed.error?.code ? new DomainError(status, parsed.error.code, parsed.error.message ?? 'refused by the relaying replica') : new DomainError(502, 'relay_unreachable', `the relaying replica answered ${status}`));
      });
    });
    peer.once('error', (error) => reject(new DomainError(502, 'relay_unreachable', `the replica relaying this session cannot be reached: ${error.message}`)));
  });
}

/** Moves frames both ways, text stays text and binary binary; a close on either side closes the other with its code. */
export function bridge(consoleSocket: WebSocket, peer: WebSocket): void {
  pipe(consoleSocket, peer);
  pipe(peer, consoleSocket);
  consoleSocket.on('close', (code, reason) => closeWith(peer, code, reason));
  peer.on('close', (code, reason) => closeWith(consoleSocket, code, reason));
  consoleSocket.on('error', () => peer.terminate());
  peer.on('error', () => consoleSocket.terminate());
}

function pipe(from: WebSocket, to: WebSocket): void {
  let inFlight = 0;
  let paused = false;
  from.on('message', (data: RawData, isBinary: boolean) => {
    if (to.readyState !== WebSocket.OPEN) return;
    const frame = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
    inFlight += frame.length;
    to.send(frame, { binary: isBinary }, () => {
      inFlight -= frame.length;
      if (paused && inFlight < LOW_WATER) {
        paused = false;
        from.resume();
      }
    });
    if (!paused && inFlight > HIGH_WATER) {
      paused = true;
      from.pause();
    }
  });
}

function closeWith(socket: WebSocket, code: number, reason: Buffer): void {
  if (socket.readyState === WebSocket.CLOSED || socket.readyState === WebSocket.CLOSING) return;
  // 1005/1006 (no status, abnormal) may not be sent on the wire.
  const sendable = code === 1000 || (code >= 1001 && code <= 1014 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
  socket.close(sendable ? code : 1011, reason.toString('utf8').slice(0, 120));
}
