import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import nacl from 'tweetnacl';

/**
 * Ed25519 identities for agents and the server.
 *
 * Keys are made by tweetnacl and stored in its format (32-byte public key, 64-byte secret key = seed ‖ public key).
 * Signing and verifying run through Node's built-in Ed25519: the signatures are byte-identical (Ed25519 is
 * deterministic) but ~100× faster than tweetnacl's, which matters in a reconnect storm of thousands of agents.
 */
export interface KeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export const PUBLIC_KEY_BYTES = 32;
export const SECRET_KEY_BYTES = 64;
export const SIGNATURE_BYTES = 64;
export const NONCE_BYTES = 32;

export function generateKeyPair(): KeyPair {
  const pair = nacl.sign.keyPair();
  return { publicKey: pair.publicKey, secretKey: pair.secretKey };
}

export function keyPairFromSecretKey(secretKey: Uint8Array): KeyPair {
  if (secretKey.length !== SECRET_KEY_BYTES) throw new Error(`secret key must be ${SECRET_KEY_BYTES} bytes`);
  return { publicKey: nacl.sign.keyPair.fromSecretKey(secretKey).publicKey, secretKey };
}

/** A signer bound to one secret key; the Node key object is built once. */
export function signerFor(secretKey: Uint8Array): (message: Uint8Array) => Uint8Array {
  const seed = secretKey.subarray(0, 32);
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  return (message) => new Uint8Array(sign(null, message, key));
}

const publicKeyCache = new Map<string, KeyObject>();

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const id = Buffer.from(publicKey).toString('base64');
  let key = publicKeyCache.get(id);
  if (!key) {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
    if (publicKeyCache.size > 50_000) publicKeyCache.clear();
    publicKeyCache.set(id, key);
  }
  return key;
}

export function verifySignature(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  try {
    return verify(null, message, publicKeyObject(publicKey), signature);
  } catch {
    return false;
  }
}

/** SHA-256 of the raw public key, base64url: what an enrollment token pins. */
export function keyFingerprint(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest('base64url');
}

export function newNonce(): Uint8Array {
  return new Uint8Array(randomBytes(NONCE_BYTES));
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

/** Decodes base64 and insists on the expected length, so a malformed key never reaches the crypto. */
export function fromBase64(text: string, expectedLength: number): Uint8Array | null {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== expectedLength || bytes.toString('base64') !== text) return null;
  return new Uint8Array(bytes);
}

export type ProofRole = 'server' | 'agent';

export interface HandshakeBinding {
  serverNonce: Uint8Array;
  agentNonce: Uint8Array;
  serverKey: Uint8Array;
  agentKey: Uint8Array;
}

/**
 * The bytes each side signs. Both fresh nonces bind the signature to this one connection (a signature captured on
 * another connection never verifies), both keys bind it to the two identities, and the role label keeps a server
 * proof from being reflected back as an agent proof.
 */
export function handshakeTranscript(role: ProofRole, binding: HandshakeBinding): Uint8Array {
  const label = Buffer.from(`steward/handshake/v1/${role}-proof\n`, 'utf8');
  return Buffer.concat([label, binding.serverNonce, binding.agentNonce, binding.serverKey, binding.agentKey]);
}
