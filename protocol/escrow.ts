import nacl from 'tweetnacl';

/**
 * Escrow sealing: a password is sealed by the agent to the server's X25519 escrow public key with a fresh ephemeral
 * key pair (tweetnacl `box`: X25519 + XSalsa20-Poly1305), so only the holder of the escrow secret key — the server,
 * whose key lives outside the database — can open it. Layout: ephemeral public key (32) ‖ nonce (24) ‖ box.
 */
export const ESCROW_KEY_BYTES = nacl.box.publicKeyLength;
const OVERHEAD = nacl.box.publicKeyLength + nacl.box.nonceLength;

export function sealToEscrow(plaintext: Uint8Array, escrowPublicKey: Uint8Array): Uint8Array {
  if (escrowPublicKey.length !== ESCROW_KEY_BYTES) throw new Error('escrow public key must be 32 bytes');
  const ephemeral = nacl.box.keyPair();
  const nonce = nacl.randomBytes(nacl.box.nonceLength);
  const box = nacl.box(plaintext, nonce, escrowPublicKey, ephemeral.secretKey);
  ephemeral.secretKey.fill(0);
  const sealed = new Uint8Array(OVERHEAD + box.length);
  sealed.set(ephemeral.publicKey, 0);
  sealed.set(nonce, nacl.box.publicKeyLength);
  sealed.set(box, OVERHEAD);
  return sealed;
}

/** The plaintext, or null when the box does not open with this key (tampered, or sealed to another key). */
export function openFromEscrow(sealed: Uint8Array, escrowSecretKey: Uint8Array): Uint8Array | null {
  if (sealed.length <= OVERHEAD + nacl.box.overheadLength) return null;
  const ephemeralPublic = sealed.subarray(0, nacl.box.publicKeyLength);
  const nonce = sealed.subarray(nacl.box.publicKeyLength, OVERHEAD);
  return nacl.box.open(sealed.subarray(OVERHEAD), nonce, ephemeralPublic, escrowSecretKey);
}
