import fs from 'node:fs';
import path from 'node:path';
import nacl from 'tweetnacl';

/**
 * Seals secrets at rest with a 32-byte master key (tweetnacl secretbox: XSalsa20-Poly1305, random 24-byte nonce
 * stored in front of the ciphertext). The key comes from STEWARD_MASTER_KEY; without it, from dataDir/master.key,
 * created 0600 on first start. Replicas sharing one database must share the key.
 */
export interface SealingKey {
  seal(plaintext: Uint8Array): Uint8Array;
  open(sealed: Uint8Array): Uint8Array;
}

export function sealingKey(key: Uint8Array): SealingKey {
  if (key.length !== nacl.secretbox.keyLength) throw new Error('master key must be 32 bytes');
  return {
    seal(plaintext) {
      const nonce = nacl.randomBytes(nacl.secretbox.nonceLength);
      const box = nacl.secretbox(plaintext, nonce, key);
      const out = new Uint8Array(nonce.length + box.length);
      out.set(nonce);
      out.set(box, nonce.length);
      return out;
    },
    open(sealed) {
      const nonce = sealed.subarray(0, nacl.secretbox.nonceLength);
      const plain = nacl.secretbox.open(sealed.subarray(nacl.secretbox.nonceLength), nonce, key);
      if (!plain) throw new Error('sealed secret does not open with this master key (wrong STEWARD_MASTER_KEY?)');
      return plain;
    },
  };
}

export function loadMasterKey(configured: string | null, dataDir: string): Uint8Array {
  if (configured) return new Uint8Array(Buffer.from(configured, 'base64'));
  const file = path.join(dataDir, 'master.key');
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  try {
    fs.writeFileSync(file, Buffer.from(nacl.randomBytes(32)).toString('base64') + '\n', { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new Error(`${file} does not hold a base64 32-byte key`);
  return new Uint8Array(key);
}
