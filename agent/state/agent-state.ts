import fs from 'node:fs';
import path from 'node:path';
import { fromBase64, keyPairFromSecretKey, PUBLIC_KEY_BYTES, SECRET_KEY_BYTES, toBase64, type KeyPair } from '../../protocol/identity.ts';
import { privateFilesForThisPlatform, type PrivateFiles } from '../platform/private-files.ts';

/**
 * The agent's state directory (mode 0700): `agent.key` holds the Ed25519 secret key (0600, base64) and
 * `agent.json` the enrollment — server URL, machine id, the server's identity key, TLS trust settings.
 * Files are written to a temporary name and renamed (writeAtomic), so a crash never leaves half a file.
 */
export interface TlsTrust {
  /** PEM file of a CA (or self-signed certificate) to trust in addition to the system CAs. */
  caFile: string | null;
  /** SHA-256 fingerprint of the server's TLS certificate; when set, only that certificate is accepted. */
  pinnedCertSha256: string | null;
}

export interface Enrollment {
  serverUrl: string;
  machineId: string;
  /** base64 Ed25519 public key of the server, learned at enrollment and checked against the token's pin. */
  serverPublicKey: string;
  allowInsecure: boolean;
  tls: TlsTrust;
  enrolledAt: string;
}

const KEY_FILE = 'agent.key';
const ENROLLMENT_FILE = 'agent.json';

export async function writeAtomic(file: string, content: string, privateFiles: PrivateFiles): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, content, { mode: 0o600 });
  await privateFiles.restrict(temp);
  fs.renameSync(temp, file);
}

export function ensureStateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
}

export async function saveKeyPair(dir: string, pair: KeyPair, privateFiles = privateFilesForThisPlatform()): Promise<void> {
  ensureStateDir(dir);
  await writeAtomic(path.join(dir, KEY_FILE), toBase64(pair.secretKey) + '\n', privateFiles);
}

/** Loads the key, refusing one that other users could read (a stolen key impersonates the machine). */
export async function loadKeyPair(dir: string, privateFiles = privateFilesForThisPlatform()): Promise<KeyPair> {
  const file = path.join(dir, KEY_FILE);
  if (!fs.existsSync(file)) throw new Error(`this agent has no key (no ${file}); run 'enroll' first`);
  await privateFiles.assertPrivate(file);
  const secretKey = fromBase64(fs.readFileSync(file, 'utf8').trim(), SECRET_KEY_BYTES);
  if (!secretKey) throw new Error(`${file} does not hold a valid agent key`);
  return keyPairFromSecretKey(secretKey);
}

export async function saveEnrollment(dir: string, enrollment: Enrollment, privateFiles = privateFilesForThisPlatform()): Promise<void> {
  ensureStateDir(dir);
  await writeAtomic(path.join(dir, ENROLLMENT_FILE), JSON.stringify(enrollment, null, 2) + '\n', privateFiles);
}

export function loadEnrollment(dir: string): Enrollment {
  const file = path.join(dir, ENROLLMENT_FILE);
  if (!fs.existsSync(file)) throw new Error(`this agent is not enrolled (no ${file}); run 'enroll' first`);
  const enrollment = JSON.parse(fs.readFileSync(file, 'utf8')) as Enrollment;
  if (!enrollment.machineId || !enrollment.serverUrl || !fromBase64(enrollment.serverPublicKey, PUBLIC_KEY_BYTES)) {
    throw new Error(`${file} is incomplete or corrupt; enroll again`);
  }
  return enrollment;
}
