import { randomBytes } from 'node:crypto';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { Backoff } from '../../../agent/connection/backoff.ts';
import { formatEnrollmentToken, hashEnrollmentSecret, parseEnrollmentToken } from '../../../protocol/enrollment-token.ts';
import { decodeFileFrame, encodeFileFrame, encodeStreamFrame, StreamTag } from '../../../protocol/session-stream.ts';
import {
  generateKeyPair,
  handshakeTranscript,
  keyFingerprint,
  newNonce,
  signerFor,
  toBase64,
  verifySignature,
} from '../../../protocol/identity.ts';
import { decodeAgentMessage, decodeServerMessage, encodeMessage, ProtocolError } from '../../../protocol/messages.ts';
import { sampleInventory } from '../../helpers/raw-agent.ts';

const b64 = (n: number) => randomBytes(n).toString('base64');
const uuid = '0b6f5a4e-3c2d-4e1f-9a8b-7c6d5e4f3a2b';

describe('session stream frames', () => {
  it('tags terminal bytes with one byte, identical on the agent link and the console stream', () => {
    const frame = encodeStreamFrame(StreamTag.terminal, new Uint8Array([1, 2, 250]));
    expect([...frame]).toEqual([StreamTag.terminal, 1, 2, 250]);
  });

  it('round-trips file chunks with their transfer id, also from a view into a larger buffer', () => {
    const frame = encodeFileFrame(0xdeadbeef, Buffer.from('chunk'));
    expect(frame[0]).toBe(StreamTag.file);
    const big = Buffer.concat([Buffer.from('xxxx'), frame]);
    const decoded = decodeFileFrame(big.subarray(4));
    expect(decoded?.transferId).toBe(0xdeadbeef);
    expect(decoded?.chunk.toString()).toBe('chunk');
    expect(decodeFileFrame(encodeFileFrame(7, new Uint8Array()))).toMatchObject({ transferId: 7 });
  });

  it('refuses short frames and other tags as file chunks', () => {
    expect(decodeFileFrame(Buffer.from([StreamTag.file, 0, 0, 1]))).toBeNull();
    expect(decodeFileFrame(encodeStreamFrame(StreamTag.terminal, Buffer.from('12345')))).toBeNull();
  });
});

describe('control messages', () => {
  const serverValid = {
    challenge: { type: 'challenge', serverNonce: b64(32), serverKey: b64(32) },
    server_proof: { type: 'server_proof', signature: b64(64) },
    welcome: { type: 'welcome', machineId: uuid, heartbeatSeconds: 30, inventoryHash: null },
    heartbeat: { type: 'heartbeat', at: new Date().toISOString() },
    request: { type: 'request', id: 1, timeoutMs: 1000, command: { name: 'agent.ping', params: { echo: 'x' } } },
  };
  const agentValid = {
    hello: { type: 'hello', agentNonce: b64(32), agentKey: b64(32), mode: 'connect', machineId: uuid, agentVersion: '1' },
    agent_proof: { type: 'agent_proof', signature: b64(64), enrollmentToken: 'stw1.x.y' },
    heartbeat: { type: 'heartbeat', at: new Date().toISOString() },
    inventory: { type: 'inventory', hash: 'abc', inventory: sampleInventory() },
    response_ok: { type: 'response', id: 3, ok: true, result: { echo: 'x' } },
    response_error: { type: 'response', id: 3, ok: false, error: { code: 'failed', message: 'nope' } },
  };

  it.each(Object.entries(serverValid))('decodeServerMessage accepts a valid %s', (_name, message) => {
    const text = encodeMessage(message as never);
    expect(JSON.parse(text).v).toBe(1);
    expect(decodeServerMessage(text)).toEqual({ ...message, v: 1 });
  });

  it.each(Object.entries(agentValid))('decodeAgentMessage accepts a valid %s', (_name, message) => {
    expect(decodeAgentMessage(encodeMessage(message as never))).toEqual({ ...message, v: 1 });
  });

  it.each([
    ['hello with a bad mode', { ...agentValid.hello, mode: 'admin' }, /invalid 'hello' message: \/mode/],
    ['hello with a machineId that is no uuid', { ...agentValid.hello, machineId: 'machine-1' }, /\/machineId/],
    ['hello with an extra field', { ...agentValid.hello, isAdmin: true }, /\/isAdmin/],
    ['agent_proof with an oversized signature', { ...agentValid.agent_proof, signature: 'A'.repeat(89) }, /\/signature/],
    ['inventory with a negative memory size', { ...agentValid.inventory, inventory: sampleInventory({ memory: { totalBytes: -1 } }) }, /\/inventory\/memory\/totalBytes/],
    ['inventory with an unknown software source', { ...agentValid.inventory, inventory: sampleInventory({ software: [{ name: 'x', version: null, publisher: null, source: 'snap' as never }] }) }, /\/inventory\/software\/0\/source/],
    ['heartbeat without at', { type: 'heartbeat' }, /\/at/],
    ['a server-only message', serverValid.welcome, /unknown message type 'welcome'/],
  ])('decodeAgentMessage rejects %s, naming the field', (_name, message, error) => {
    expect(() => decodeAgentMessage(encodeMessage(message as never))).toThrow(error);
  });

  it.each([
    ['welcome with heartbeatSeconds 0', { ...serverValid.welcome, heartbeatSeconds: 0 }, /\/heartbeatSeconds/],
    ['challenge with a long nonce', { ...serverValid.challenge, serverNonce: b64(64) }, /\/serverNonce/],
    ['request with an empty command name', { ...serverValid.request, command: { name: '', params: {} } }, /\/command\/name/],
    ['request with an extra envelope field', { ...serverValid.request, command: { name: 'agent.ping', params: {}, sudo: true } }, /\/command\/sudo/],
    ['request with id 0', { ...serverValid.request, id: 0 }, /\/id/],
    ['an agent-only message', agentValid.hello, /unknown message type 'hello'/],
  ])('decodeServerMessage rejects %s, naming the field', (_name, message, error) => {
    expect(() => decodeServerMessage(encodeMessage(message as never))).toThrow(error);
  });

  it('passes a request for a command this agent does not know, so the agent can answer unknown_command', () => {
    const request = { ...serverValid.request, command: { name: 'shell.exec', params: { cmd: 'id' } } };
    expect(decodeServerMessage(encodeMessage(request as never))).toMatchObject({ command: { name: 'shell.exec' } });
  });

  it('rejects text that is not JSON, has no type, or lacks the version', () => {
    expect(() => decodeAgentMessage('{not json')).toThrow(/not valid JSON/);
    expect(() => decodeAgentMessage('null')).toThrow(/has no type/);
    expect(() => decodeAgentMessage('"hello"')).toThrow(/has no type/);
    expect(() => decodeAgentMessage('[1,2]')).toThrow(/has no type/);
    expect(() => decodeAgentMessage(JSON.stringify({ ...agentValid.heartbeat }))).toThrow(/\/v/);
  });

  it('flags a protocol version mismatch as such', () => {
    for (const v of [2, 0, '1']) {
      let error: unknown;
      try {
        decodeAgentMessage(JSON.stringify({ ...agentValid.heartbeat, v }));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ProtocolError);
      expect((error as ProtocolError).versionMismatch).toBe(true);
      expect((error as ProtocolError).message).toMatch(/protocol version .* is not supported/);
    }
    let schemaError: unknown;
    try {
      decodeAgentMessage(encodeMessage({ type: 'heartbeat' } as never));
    } catch (e) {
      schemaError = e;
    }
    expect((schemaError as ProtocolError).versionMismatch).toBe(false);
  });
});

describe('identity', () => {
  const message = new TextEncoder().encode('steward test message');

  it('verifies a tweetnacl signature, and tweetnacl verifies ours', () => {
    const pair = generateKeyPair();
    const naclSignature = nacl.sign.detached(message, pair.secretKey);
    expect(verifySignature(message, naclSignature, pair.publicKey)).toBe(true);
    const ours = signerFor(pair.secretKey)(message);
    expect(nacl.sign.detached.verify(message, ours, pair.publicKey)).toBe(true);
    expect(Buffer.from(ours).equals(Buffer.from(naclSignature))).toBe(true);
  });

  it('fails on a flipped bit in message, signature or key, and on another key', () => {
    const pair = generateKeyPair();
    const signature = signerFor(pair.secretKey)(message);
    const flip = (bytes: Uint8Array, index: number) => {
      const copy = new Uint8Array(bytes);
      copy[index] ^= 0x01;
      return copy;
    };
    expect(verifySignature(flip(message, 3), signature, pair.publicKey)).toBe(false);
    expect(verifySignature(message, flip(signature, 10), pair.publicKey)).toBe(false);
    expect(verifySignature(message, flip(signature, 63), pair.publicKey)).toBe(false);
    expect(verifySignature(message, signature, flip(pair.publicKey, 0))).toBe(false);
    expect(verifySignature(message, signature, generateKeyPair().publicKey)).toBe(false);
    expect(verifySignature(message, signature.subarray(0, 63), pair.publicKey)).toBe(false);
  });

  it('makes role-specific transcripts bound to both nonces and keys', () => {
    const binding = { serverNonce: newNonce(), agentNonce: newNonce(), serverKey: generateKeyPair().publicKey, agentKey: generateKeyPair().publicKey };
    const server = Buffer.from(handshakeTranscript('server', binding));
    const agent = Buffer.from(handshakeTranscript('agent', binding));
    expect(server.equals(agent)).toBe(false);
    expect(server.toString('latin1')).toContain('server-proof');
    expect(Buffer.from(handshakeTranscript('agent', { ...binding, serverNonce: newNonce() })).equals(agent)).toBe(false);
    expect(Buffer.from(handshakeTranscript('agent', { ...binding, agentKey: generateKeyPair().publicKey })).equals(agent)).toBe(false);
    expect(Buffer.from(handshakeTranscript('agent', binding)).equals(agent)).toBe(true);
  });
});

describe('enrollment token', () => {
  const fingerprint = keyFingerprint(generateKeyPair().publicKey);

  it('formats and parses round trip, keeping only a hash of the secret', () => {
    const { token, secretHash } = formatEnrollmentToken(fingerprint);
    expect(token).toMatch(/^stw1\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/);
    const parsed = parseEnrollmentToken(`  ${token}\n`);
    expect(parsed?.serverKeyFingerprint).toBe(fingerprint);
    expect(hashEnrollmentSecret(parsed!.secret)).toBe(secretHash);
    expect(secretHash).toMatch(/^[0-9a-f]{64}$/);
    expect(token).not.toContain(secretHash);
    expect(formatEnrollmentToken(fingerprint).token).not.toBe(token);
  });

  it.each([
    ['empty', ''],
    ['another prefix', `stw2.${fingerprint}.${'a'.repeat(43)}`],
    ['a short secret', `stw1.${fingerprint}.${'a'.repeat(42)}`],
    ['a long secret', `stw1.${fingerprint}.${'a'.repeat(44)}`],
    ['a missing part', `stw1.${fingerprint}`],
    ['an extra part', `stw1.${fingerprint}.${'a'.repeat(43)}.x`],
    ['standard base64 characters', `stw1.${fingerprint}.${'a+/'.repeat(14)}a`],
    ['inner whitespace', `stw1.${fingerprint} .${'a'.repeat(43)}`],
  ])('rejects a token with %s', (_name, token) => {
    expect(parseEnrollmentToken(token)).toBeNull();
  });
});

describe('Backoff', () => {
  it('doubles from the base up to the cap, without jitter at random = 1', () => {
    const backoff = new Backoff(1000, 16_000, () => 1);
    expect([1, 2, 3, 4, 5, 6, 7].map(() => backoff.next())).toEqual([1000, 2000, 4000, 8000, 16_000, 16_000, 16_000]);
  });

  it('jitters within [ceiling/2, ceiling], so at the cap within [cap/2, cap]', () => {
    const low = new Backoff(1000, 60_000, () => 0);
    expect([1, 2, 3].map(() => low.next())).toEqual([500, 1000, 2000]);
    const backoff = new Backoff(1000, 60_000);
    for (let i = 0; i < 10; i++) backoff.next();
    const delays = Array.from({ length: 200 }, () => backoff.next());
    for (const delay of delays) {
      expect(delay).toBeGreaterThanOrEqual(30_000);
      expect(delay).toBeLessThanOrEqual(60_000);
    }
    expect(new Set(delays).size).toBeGreaterThan(50);
  });

  it('jumps to the cap on toCap and back to the base on reset', () => {
    const backoff = new Backoff(1000, 60_000, () => 1);
    backoff.next();
    expect(backoff.toCap()).toBe(60_000);
    expect(backoff.next()).toBe(60_000);
    backoff.reset();
    expect(backoff.next()).toBe(1000);
    expect(backoff.next()).toBe(2000);
  });

  it('never overflows after very many attempts', () => {
    const backoff = new Backoff(1000, 60_000, () => 0.5);
    for (let i = 0; i < 1000; i++) backoff.next();
    expect(backoff.next()).toBe(45_000);
  });
});

it('toBase64 of a key is what the wire carries', () => {
  const pair = generateKeyPair();
  expect(Buffer.from(toBase64(pair.publicKey), 'base64').equals(Buffer.from(pair.publicKey))).toBe(true);
});
