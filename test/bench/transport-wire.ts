import type WebSocket from 'ws';
import { fromBase64, newNonce, signerFor, toBase64, verifySignature, type KeyPair } from '../../protocol/identity.ts';

/**
 * The wire of the transport benchmark (transport.ts, transport-agent.ts): the two designs for carrying sessions
 * between an agent and the server, reduced to what decides between them.
 *
 *   mux        one WebSocket: control messages (JSON text) and every session's output as binary frames
 *              [0x01][u16 channel][bytes]; the server returns credit [0x02][u16 channel][u32 bytes] as it consumes, and
 *              the agent never has more than WINDOW bytes of one channel unacknowledged (without a window one channel
 *              could fill every buffer on the path and starve the others).
 *   dedicated  one control WebSocket (JSON text) plus one WebSocket per session carrying [0x01][bytes], with the
 *              agent's pause/resume marks (agent/sessions/terminal-session.ts) as its only flow control; TCP does
 *              the rest per socket.
 *
 * Every socket starts with the session link's kind of proof: the server sends a nonce, the agent signs it, the
 * server verifies and signs back, the agent verifies (Ed25519, protocol/identity.ts) — the setup cost of a socket.
 */
export const DATA = 0x01;
export const CREDIT = 0x02;
/** Bytes per channel the agent may have unacknowledged on the multiplexed socket. */
export const WINDOW = 1024 * 1024;
/** The server returns credit once it has consumed this much of a channel. */
export const CREDIT_BATCH = 128 * 1024;

export type Design = 'mux' | 'dedicated';

export type ControlMessage =
  | { t: 'challenge'; nonce: string }
  | { t: 'proof'; signature: string }
  | { t: 'proven'; signature: string }
  | { t: 'ping'; n: number }
  | { t: 'pong'; n: number }
  | { t: 'open'; channel: number }
  | { t: 'opened'; channel: number };

/** Parent → agent process commands, and the agent's answers. */
export type AgentCommand =
  | { cmd: 'flood'; design: Design; channels: number; port: number; chunk: number; agentSecret: string; serverPublic: string }
  | { cmd: 'stop' }
  | { cmd: 'setup-cost'; design: Design; samples: number; port: number; agentSecret: string; serverPublic: string };
export type AgentReply = { ok: 'ready' } | { ok: 'flooding' } | { ok: 'stopped' } | { ok: 'setup-cost'; ms: number[] } | { error: string };

const transcript = (who: 'agent' | 'server', nonce: Uint8Array) => Buffer.concat([Buffer.from(`steward/bench-transport/${who}\n`), nonce]);

/** Server side of the proof: resolves once the agent proved its key; every later message goes to the caller. */
export function proveServer(ws: WebSocket, server: KeyPair, agentPublic: Uint8Array): Promise<void> {
  const nonce = newNonce();
  ws.send(JSON.stringify({ t: 'challenge', nonce: toBase64(nonce) } satisfies ControlMessage));
  return new Promise((resolve, reject) => {
    ws.once('message', (data: Buffer) => {
      const msg = JSON.parse(data.toString('utf8')) as ControlMessage;
      const signature = msg.t === 'proof' ? fromBase64(msg.signature, 64) : null;
      if (!signature || !verifySignature(transcript('agent', nonce), signature, agentPublic)) return reject(new Error('bad proof'));
      ws.send(JSON.stringify({ t: 'proven', signature: toBase64(signerFor(server.secretKey)(transcript('server', nonce))) } satisfies ControlMessage));
      resolve();
    });
  });
}

/** Agent side of the proof. */
export function proveAgent(ws: WebSocket, agentSecret: Uint8Array, serverPublic: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    let nonce: Uint8Array | null = null;
    const onMessage = (data: Buffer) => {
      const msg = JSON.parse(data.toString('utf8')) as ControlMessage;
      if (msg.t === 'challenge') {
        nonce = fromBase64(msg.nonce, 32);
        if (!nonce) return reject(new Error('bad challenge'));
        ws.send(JSON.stringify({ t: 'proof', signature: toBase64(signerFor(agentSecret)(transcript('agent', nonce))) } satisfies ControlMessage));
      } else if (msg.t === 'proven') {
        ws.off('message', onMessage);
        const signature = fromBase64(msg.signature, 64);
        if (!nonce || !signature || !verifySignature(transcript('server', nonce), signature, serverPublic)) return reject(new Error('server proof failed'));
        resolve();
      }
    };
    ws.on('message', onMessage);
    ws.once('close', () => reject(new Error('closed during the proof')));
  });
}

export function dataFrame(channel: number | null, payload: Buffer): Buffer {
  const header = channel === null ? Buffer.from([DATA]) : Buffer.from([DATA, channel >> 8, channel & 0xff]);
  return Buffer.concat([header, payload]);
}

export function creditFrame(channel: number, bytes: number): Buffer {
  const frame = Buffer.alloc(7);
  frame[0] = CREDIT;
  frame.writeUInt16BE(channel, 1);
  frame.writeUInt32BE(bytes, 3);
  return frame;
}
