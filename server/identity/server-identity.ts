import { eq } from 'drizzle-orm';
import { generateKeyPair, keyFingerprint, keyPairFromSecretKey, signerFor } from '../../protocol/identity.ts';
import type { Db } from '../db/open.ts';
import { installation } from '../db/schema.ts';
import type { SealingKey } from '../secrets/sealing-key.ts';

/** The server's Ed25519 identity, shared by every replica through the database (secret key sealed). */
export interface ServerIdentity {
  publicKey: Uint8Array;
  fingerprint: string;
  sign(message: Uint8Array): Uint8Array;
}

/** Loads the identity, creating the installation row on the very first start (race-safe across replicas). */
export async function loadServerIdentity(db: Db, sealing: SealingKey): Promise<ServerIdentity> {
  const fresh = generateKeyPair();
  await db
    .insert(installation)
    .values({ id: 1, serverPublicKey: fresh.publicKey, serverSecretKeySealed: sealing.seal(fresh.secretKey) })
    .onConflictDoNothing();
  const [row] = await db.select().from(installation).where(eq(installation.id, 1));
  const pair = keyPairFromSecretKey(sealing.open(row.serverSecretKeySealed));
  if (Buffer.compare(Buffer.from(pair.publicKey), Buffer.from(row.serverPublicKey)) !== 0) {
    throw new Error('server identity in the database is inconsistent (public key does not match the sealed secret)');
  }
  return { publicKey: pair.publicKey, fingerprint: keyFingerprint(pair.publicKey), sign: signerFor(pair.secretKey) };
}
