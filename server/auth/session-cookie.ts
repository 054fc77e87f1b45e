import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The console's session: the bearer token travels in an HttpOnly, SameSite=Strict cookie that page scripts cannot
 * read. State-changing requests authenticated by the cookie must also carry `X-CSRF-Token`, a value bound to the
 * session token (returned once at login), and a same-origin `Origin` when the browser sends one.
 */
export const SESSION_COOKIE = 'steward_session';
export const CSRF_HEADER = 'x-csrf-token';

export function csrfTokenFor(sessionToken: string): string {
  return createHash('sha256').update(`steward-csrf:${sessionToken}`, 'utf8').digest('base64url');
}

export function csrfMatches(sessionToken: string, presented: string | undefined): boolean {
  if (!presented) return false;
  const expected = Buffer.from(csrfTokenFor(sessionToken));
  const given = Buffer.from(presented);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);
