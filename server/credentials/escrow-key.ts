import { hkdfSync } from 'node:crypto';
import nacl from 'tweetnacl';
import { openFromEscrow } from '../../protocol/escrow.ts';

/** The server's escrow key pair: agents seal new passwords to its public key; only the server can open them. */
export interface EscrowKey {
  publicKey: Uint8Array;
  open(sealed: Uint8Array): Uint8Array | null;
}

/**
 * Derived from the master key (STEWARD_MASTER_KEY or dataDir/master.key, 0600), never stored: the database holds
 * only sealed boxes, so a dump of it opens nothing. Every replica sharing the master key shares the escrow key.
 * HKDF-SHA256 with its own label keeps it apart from the master key's other use (sealing secrets at rest).
 */
export function escrowKeyFrom(masterKey: Uint8Array): EscrowKey {
  const seed = new Uint8Array(hkdfSync('sha256', masterKey, Buffer.from('steward'), Buffer.from('credential-escrow/v1'), nacl.box.secretKeyLength));
  const pair = nacl.box.keyPair.fromSecretKey(seed);
  return { publicKey: pair.publicKey, open: (sealed) => openFromEscrow(sealed, pair.secretKey) };
}
