import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import nacl from 'tweetnacl';

/**
 * The verifying half of a signed release, kept free of build-only code so the agent's self-update can use it
 * (move it to protocol/ when it does). A release directory holds the artifacts, manifest.json listing each with
 * its size and SHA-256, manifest.json.sig (base64 detached Ed25519 signature of manifest.json's exact bytes) and
 * SHA256SUMS for humans (`sha256sum -c SHA256SUMS`).
 */
export const MANIFEST_FILE = 'manifest.json';
export const SIGNATURE_FILE = 'manifest.json.sig';
export const CHECKSUMS_FILE = 'SHA256SUMS';
export const PUBLIC_KEY_FILE = 'release-key.pub';
/** Files the release step writes itself: never listed as artifacts. */
export const RELEASE_METADATA_FILES: readonly string[] = [MANIFEST_FILE, SIGNATURE_FILE, CHECKSUMS_FILE, PUBLIC_KEY_FILE];

export interface ManifestFile {
  name: string;
  bytes: number;
  sha256: string;
}

export interface ReleaseManifest {
  version: string;
  files: ManifestFile[];
}

export class ReleaseVerificationError extends Error {
  override name = 'ReleaseVerificationError';
}

export function sha256File(file: string): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(1024 * 1024);
    for (let n; (n = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0; ) hash.update(buffer.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

function decodeKey(publicKey: Uint8Array | string): Uint8Array {
  const key = typeof publicKey === 'string' ? Buffer.from(publicKey.trim(), 'base64') : publicKey;
  if (key.length !== nacl.sign.publicKeyLength) throw new ReleaseVerificationError(`a release public key is ${nacl.sign.publicKeyLength} bytes, not ${key.length}`);
  return key;
}

/** A manifest name is a plain file name: a signed manifest must still never lead a reader outside `dir`. */
function isPlainName(name: unknown): name is string {
  return typeof name === 'string' && name !== '' && name !== '.' && name !== '..' && !/[/\\\0]/.test(name);
}

function parseManifest(bytes: Buffer): ReleaseManifest {
  const value = JSON.parse(bytes.toString('utf8')) as ReleaseManifest;
  if (typeof value?.version !== 'string' || !Array.isArray(value.files)) throw new ReleaseVerificationError('manifest.json is not a release manifest');
  for (const f of value.files) {
    if (!isPlainName(f?.name) || !Number.isSafeInteger(f.bytes) || typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256)) {
      throw new ReleaseVerificationError(`manifest.json has an invalid entry: ${JSON.stringify(f)}`);
    }
  }
  return value;
}

/**
 * Checks the signature over manifest.json first (nothing in it is trusted before that), then every listed file's
 * size and SHA-256. Returns the manifest; throws ReleaseVerificationError naming the first problem.
 */
export function verifyManifest(dir: string, publicKey: Uint8Array | string): ReleaseManifest {
  const key = decodeKey(publicKey);
  let manifestBytes: Buffer;
  let signature: Buffer;
  try {
    manifestBytes = fs.readFileSync(path.join(dir, MANIFEST_FILE));
    signature = Buffer.from(fs.readFileSync(path.join(dir, SIGNATURE_FILE), 'utf8').trim(), 'base64');
  } catch (error) {
    throw new ReleaseVerificationError(`cannot read the signed manifest in ${dir}: ${(error as Error).message}`);
  }
  if (signature.length !== nacl.sign.signatureLength || !nacl.sign.detached.verify(manifestBytes, signature, key)) {
    throw new ReleaseVerificationError('manifest.json signature does not verify with the release key');
  }
  const manifest = parseManifest(manifestBytes);
  for (const entry of manifest.files) {
    const file = path.join(dir, entry.name);
    if (!fs.existsSync(file)) throw new ReleaseVerificationError(`${entry.name} is listed in the manifest but missing`);
    const bytes = fs.statSync(file).size;
    if (bytes !== entry.bytes) throw new ReleaseVerificationError(`${entry.name} is ${bytes} bytes, the manifest says ${entry.bytes}`);
    if (sha256File(file) !== entry.sha256) throw new ReleaseVerificationError(`${entry.name} does not match its SHA-256 in the manifest`);
  }
  return manifest;
}
