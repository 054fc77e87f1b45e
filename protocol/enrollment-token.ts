import { createHash, randomBytes } from 'node:crypto';

/**
 * Enrollment token: `stw1.<server key fingerprint>.<secret>`.
 *
 * The fingerprint lets a new agent authenticate the server on its very first contact (no trust-on-first-use); the
 * secret is 32 random bytes, of which the server keeps only the SHA-256. A high-entropy secret needs no slow hash.
 */
const PREFIX = 'stw1';
const PATTERN = /^stw1\.([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{43})$/;

export interface EnrollmentToken {
  serverKeyFingerprint: string;
  secret: string;
}

export function formatEnrollmentToken(serverKeyFingerprint: string): { token: string; secretHash: string } {
  const secret = randomBytes(32).toString('base64url');
  return { token: `${PREFIX}.${serverKeyFingerprint}.${secret}`, secretHash: hashEnrollmentSecret(secret) };
}

export function parseEnrollmentToken(token: string): EnrollmentToken | null {
  const match = PATTERN.exec(token.trim());
  return match ? { serverKeyFingerprint: match[1], secret: match[2] } : null;
}

export function hashEnrollmentSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}
