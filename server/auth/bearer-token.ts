import { createHash, randomBytes } from 'node:crypto';

/** Bearer tokens are 32 random bytes with a readable prefix; the database keeps only their SHA-256. */
const PREFIX = 'stwt_';

export function newBearerToken(): { token: string; tokenHash: string } {
  const token = PREFIX + randomBytes(32).toString('base64url');
  return { token, tokenHash: hashBearerToken(token) };
}

export function hashBearerToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function looksLikeBearerToken(token: string): boolean {
  return token.startsWith(PREFIX) && token.length === PREFIX.length + 43;
}
