import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authTokens } from '../../server/db/schema.ts';
import { hashBearerToken } from '../../server/auth/bearer-token.ts';
import { ADMIN, apiClient, setupAdmin, type Api } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * The console's session: an HttpOnly, SameSite=Strict cookie that page scripts cannot read, plus a CSRF header on
 * every state-changing request and a same-origin check. A cookie token and a bearer token are not interchangeable,
 * and logout really ends the session.
 */
interface CookieSession {
  cookie: string;
  csrfToken: string;
  setCookie: string;
  body: Record<string, unknown>;
}

describe.each(backends())('console cookie session and CSRF on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  let adminToken: string;

  /** A request as a browser would send it: the session cookie, and optionally the CSRF header and an Origin. */
  const send = (method: string, path: string, cookie: string, headers: Record<string, string> = {}, body?: unknown) =>
    apiClient(server.url).call(method, path, body, { cookie: `steward_session=${cookie}`, ...headers });

  async function cookieLogin(extra: Record<string, string> = {}): Promise<CookieSession> {
    const res = await apiClient(server.url).post('/api/v1/auth/login', { email: ADMIN.email, password: ADMIN.password, session: 'cookie' }, extra);
    expect(res.status).toBe(200);
    const setCookie = res.headers.getSetCookie().find((c) => c.startsWith('steward_session='));
    expect(setCookie).toBeDefined();
    const cookie = /^steward_session=([^;]+)/.exec(setCookie!)![1];
    return { cookie, csrfToken: res.body.csrfToken, setCookie: setCookie!, body: res.body };
  }

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api: admin, token: adminToken } = await setupAdmin(server));
  });
  afterAll(async () => {
    await server?.close();
  });

  it('sets steward_session HttpOnly, SameSite=Strict, Path=/ and returns no token but a CSRF token', async () => {
    const session = await cookieLogin();
    const attributes = session.setCookie.split(';').map((a) => a.trim().toLowerCase());
    expect(attributes).toContain('httponly');
    expect(attributes).toContain('samesite=strict');
    expect(attributes).toContain('path=/');
    // Plain HTTP here: a Secure cookie would never come back, so it is set only with TLS.
    expect(attributes).not.toContain('secure');
    const expires = attributes.find((a) => a.startsWith('expires='));
    expect(Date.parse(expires!.slice('expires='.length))).toBeGreaterThan(Date.now());
    expect(session.body.token).toBeNull();
    expect(session.body.kind).toBe('console');
    expect(session.csrfToken).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(session.cookie).toMatch(/^stwt_/);
    // The database keeps the hash of the cookie's token, never the token.
    const [row] = await server.running.ctx.db.select().from(authTokens).where(eq(authTokens.tokenHash, hashBearerToken(session.cookie)));
    expect(row.kind).toBe('console');
    expect(JSON.stringify(row)).not.toContain(session.cookie);
    // Each session has its own CSRF token.
    expect((await cookieLogin()).csrfToken).not.toBe(session.csrfToken);
  });

  it('GET works with the cookie alone; POST, PATCH and DELETE need the right X-CSRF-Token', async () => {
    const { cookie, csrfToken } = await cookieLogin();
    expect((await send('GET', '/api/v1/clients', cookie)).status).toBe(200);
    expect((await send('HEAD', '/api/v1/clients', cookie)).status).toBe(200);

    const noCsrf = await send('POST', '/api/v1/clients', cookie, {}, { name: 'No CSRF' });
    expect(noCsrf.status).toBe(403);
    expect(noCsrf.body.error.message).toMatch(/x-csrf-token/i);
    const wrong = await send('POST', '/api/v1/clients', cookie, { 'x-csrf-token': csrfToken.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) }, { name: 'Wrong CSRF' });
    expect(wrong.status).toBe(403);
    // The CSRF token of another session does not fit this one.
    const other = await cookieLogin();
    expect((await send('POST', '/api/v1/clients', cookie, { 'x-csrf-token': other.csrfToken }, { name: 'Other CSRF' })).status).toBe(403);
    expect((await admin.get('/api/v1/clients')).body.clients).toEqual([]);

    const created = await send('POST', '/api/v1/clients', cookie, { 'x-csrf-token': csrfToken }, { name: 'With CSRF' });
    expect(created.status).toBe(201);
    const id = created.body.id as string;

    expect((await send('PATCH', `/api/v1/clients/${id}`, cookie, {}, { name: 'Renamed' })).status).toBe(403);
    const patched = await send('PATCH', `/api/v1/clients/${id}`, cookie, { 'x-csrf-token': csrfToken }, { name: 'Renamed' });
    expect(patched.status).toBe(200);
    expect(patched.body.name).toBe('Renamed');

    const token = await send('POST', '/api/v1/me/tokens', cookie, { 'x-csrf-token': csrfToken }, { name: 'from the console', permissions: ['machines.view'] });
    expect(token.status).toBe(201);
    expect((await send('DELETE', `/api/v1/me/tokens/${token.body.id}`, cookie)).status).toBe(403);
    expect((await send('DELETE', `/api/v1/me/tokens/${token.body.id}`, cookie, { 'x-csrf-token': 'x'.repeat(43) })).status).toBe(403);
    expect((await apiClient(server.url, token.body.token).get('/api/v1/machines')).status).toBe(200);
    expect((await send('DELETE', `/api/v1/me/tokens/${token.body.id}`, cookie, { 'x-csrf-token': csrfToken })).status).toBe(204);
    expect((await apiClient(server.url, token.body.token).get('/api/v1/machines')).status).toBe(401);
  });

  it('refuses a foreign Origin even with the right CSRF token; accepts its own', async () => {
    const { cookie, csrfToken } = await cookieLogin();
    for (const origin of ['http://evil.test', `http://127.0.0.1.evil.test:${server.port}`, 'null']) {
      const res = await send('POST', '/api/v1/clients', cookie, { 'x-csrf-token': csrfToken, origin }, { name: `Cross ${origin}` });
      expect(res.status, origin).toBe(403);
      expect(res.body.error.message).toMatch(/cross-origin/);
    }
    const own = await send('POST', '/api/v1/clients', cookie, { 'x-csrf-token': csrfToken, origin: server.url }, { name: 'Same origin' });
    expect(own.status).toBe(201);
    const names = (await admin.get('/api/v1/clients')).body.clients.map((c: { name: string }) => c.name);
    expect(names.filter((n: string) => n.startsWith('Cross'))).toEqual([]);
  });

  it('a console token is no bearer token, and a login bearer token is no cookie', async () => {
    const { cookie } = await cookieLogin();
    const asBearer = await apiClient(server.url, cookie).get('/api/v1/clients');
    expect(asBearer.status).toBe(401);
    expect(asBearer.body.error.code).toBe('unauthenticated');
    const asCookie = await send('GET', '/api/v1/clients', adminToken);
    expect(asCookie.status).toBe(401);
    // Garbage in the cookie is not a session either.
    expect((await send('GET', '/api/v1/clients', 'stwt_not-a-token')).status).toBe(401);
    // Both still work the way they were issued.
    expect((await send('GET', '/api/v1/clients', cookie)).status).toBe(200);
    expect((await admin.get('/api/v1/clients')).status).toBe(200);
  });

  it('logout (with CSRF) clears the cookie and ends the session', async () => {
    const { cookie, csrfToken } = await cookieLogin();
    expect((await send('POST', '/api/v1/auth/logout', cookie)).status).toBe(403);
    expect((await send('GET', '/api/v1/clients', cookie)).status).toBe(200);
    const out = await send('POST', '/api/v1/auth/logout', cookie, { 'x-csrf-token': csrfToken });
    expect(out.status).toBe(204);
    const cleared = out.headers.getSetCookie().find((c) => c.startsWith('steward_session='));
    expect(cleared).toBeDefined();
    expect(cleared).toMatch(/^steward_session=;/);
    expect(cleared!.toLowerCase()).toMatch(/expires=thu, 01 jan 1970|max-age=0/);
    expect(cleared!.toLowerCase()).toContain('path=/');
    const after = await send('GET', '/api/v1/clients', cookie);
    expect(after.status).toBe(401);
    const [row] = await server.running.ctx.db.select().from(authTokens).where(eq(authTokens.tokenHash, hashBearerToken(cookie)));
    expect(row.revokedAt).toBeInstanceOf(Date);
  });

  it('a stale cookie does not stop the browser from signing in again', async () => {
    // The browser cannot drop an HttpOnly cookie itself: if the session was ended elsewhere (revoked, MFA reset),
    // the next login must still work with that dead cookie attached — and so must a live one.
    const { cookie, csrfToken } = await cookieLogin();
    await server.running.ctx.db.update(authTokens).set({ revokedAt: new Date() }).where(eq(authTokens.tokenHash, hashBearerToken(cookie)));
    const again = await cookieLogin({ cookie: `steward_session=${cookie}` });
    expect(again.cookie).not.toBe(cookie);
    expect((await send('GET', '/api/v1/clients', again.cookie)).status).toBe(200);
    const whileLive = await cookieLogin({ cookie: `steward_session=${again.cookie}` });
    expect(whileLive.cookie).not.toBe(again.cookie);
    // Protected routes still refuse the dead cookie.
    expect((await send('POST', '/api/v1/clients', cookie, { 'x-csrf-token': csrfToken }, { name: 'Dead session' })).status).toBe(401);
  });
});
