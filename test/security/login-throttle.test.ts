import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../server/auth/password.ts';
import { authTokens, loginThrottle, users } from '../../server/db/schema.ts';
import { ADMIN, apiClient, setupAdmin, type Api } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * Password login: one answer for every bad credential, throttling per account (5 failures) and per client address
 * (30 failures), and logout that really revokes. The admin token is taken first, so throttling never locks the test
 * out of the audit log.
 */
const VICTIM = { email: 'victim@example.test', name: 'Vic Tim', password: 'victim password 1234' };
const OTHER = { email: 'other@example.test', name: 'Otto Other', password: 'other password 5678' };
const ADDRESS_KEY = 'address:127.0.0.1';

describe.each(backends())('login and throttling on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  let adminToken: string;
  const anon = () => apiClient(server.url);
  const throttleRow = async (key: string) => {
    const [row] = await server.running.ctx.db.select().from(loginThrottle).where(eq(loginThrottle.key, key));
    return row ?? null;
  };

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api: admin, token: adminToken } = await setupAdmin(server));
    // More accounts to lock out; there is no user API yet, so they go straight into the table.
    for (const u of [VICTIM, OTHER]) {
      await server.running.ctx.db.insert(users).values({ email: u.email, name: u.name, passwordHash: await hashPassword(u.password), role: 'super_admin' });
    }
  });
  afterAll(async () => {
    await server?.close();
  });

  it('returns a bearer token that works on the API', async () => {
    const login = await anon().post('/api/v1/auth/login', { email: OTHER.email.toUpperCase(), password: OTHER.password });
    expect(login.status).toBe(200);
    expect(login.body.token).toMatch(/^stwt_[A-Za-z0-9_-]{43}$/);
    expect(login.body.user).toMatchObject({ email: OTHER.email, name: OTHER.name });
    expect(Date.parse(login.body.expiresAt)).toBeGreaterThan(Date.now());
    const clients = await apiClient(server.url, login.body.token).get('/api/v1/clients');
    expect(clients.status).toBe(200);
    expect(clients.body).toEqual({ clients: [] });
    const rows = await server.running.ctx.db.select().from(authTokens);
    expect(rows.some((r) => r.tokenHash === login.body.token)).toBe(false);
  });

  it('answers an unknown email and a wrong password identically', async () => {
    const unknown = await anon().post('/api/v1/auth/login', { email: 'nobody@example.test', password: ADMIN.password });
    const wrong = await anon().post('/api/v1/auth/login', { email: ADMIN.email, password: 'not the right password' });
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(unknown.body).toEqual(wrong.body);
    expect(wrong.body).toEqual({ error: { code: 'unauthenticated', message: 'email or password is incorrect' } });
    expect(wrong.headers.get('retry-after')).toBeNull();
    expect((await throttleRow('account:nobody@example.test'))?.failures).toBe(1);
    expect((await throttleRow(`account:${ADMIN.email}`))?.failures).toBe(1);
    expect((await throttleRow(ADDRESS_KEY))?.failures).toBe(2);
  });

  it('locks an account after 5 failures: the 6th attempt, with the correct password, is 429', async () => {
    for (let i = 1; i <= 5; i++) {
      const res = await anon().post('/api/v1/auth/login', { email: VICTIM.email, password: `wrong guess ${i}` });
      expect(res.status).toBe(401);
    }
    const row = await throttleRow(`account:${VICTIM.email}`);
    expect(row?.failures).toBe(5);
    expect(row?.lockedUntil!.getTime()).toBeGreaterThan(Date.now() + 14 * 60_000);

    const locked = await anon().post('/api/v1/auth/login', { email: VICTIM.email, password: VICTIM.password });
    expect(locked.status).toBe(429);
    expect(locked.body.error.code).toBe('too_many_requests');
    const retryAfter = Number(locked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(14 * 60);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
    const [victim] = await server.running.ctx.db.select().from(users).where(eq(users.email, VICTIM.email));
    expect(await server.running.ctx.db.select().from(authTokens).where(eq(authTokens.userId, victim.id))).toEqual([]);
    // A throttled attempt is not counted as another failure.
    expect((await throttleRow(`account:${VICTIM.email}`))?.failures).toBe(5);

    const audit = await admin.get('/api/v1/audit?action=auth.login&limit=1000');
    expect(audit.status).toBe(200);
    const throttled = audit.body.events.filter((e: { details: { reason?: string } | null }) => e.details?.reason === 'throttled');
    expect(throttled).toHaveLength(1);
    expect(throttled[0]).toMatchObject({ outcome: 'failure', targetId: VICTIM.email, address: '127.0.0.1', actorType: 'anonymous' });
    const badCredentials = audit.body.events.filter(
      (e: { targetId: string; details: { reason?: string } | null }) => e.targetId === victim.id && e.details?.reason === 'bad credentials',
    );
    expect(badCredentials).toHaveLength(5);
  });

  it('locks the address after 30 failures across different emails, for every account', async () => {
    const before = (await throttleRow(ADDRESS_KEY))!.failures;
    expect(before).toBe(7);
    const emails = Array.from({ length: 30 - before }, (_, i) => `spray${i}@example.test`);
    // In parallel batches: the counter must still count every failure exactly once.
    for (let i = 0; i < emails.length; i += 6) {
      const batch = await Promise.all(emails.slice(i, i + 6).map((email) => anon().post('/api/v1/auth/login', { email, password: 'password spray 1' })));
      expect(batch.map((r) => r.status)).toEqual(batch.map(() => 401));
    }
    const row = await throttleRow(ADDRESS_KEY);
    expect(row?.failures).toBe(30);
    expect(row?.lockedUntil!.getTime()).toBeGreaterThan(Date.now());

    const other = await anon().post('/api/v1/auth/login', { email: OTHER.email, password: OTHER.password });
    expect(other.status).toBe(429);
    expect(Number(other.headers.get('retry-after'))).toBeGreaterThan(0);
    // The account of OTHER itself has no failures: the address lock alone refused it.
    expect(await throttleRow(`account:${OTHER.email}`)).toBeNull();

    const audit = await admin.get(`/api/v1/audit?action=auth.login&targetId=${encodeURIComponent(OTHER.email)}`);
    expect(audit.body.events.map((e: { details: { reason: string } }) => e.details.reason)).toEqual(['throttled']);
  });

  it('logout revokes the token used for it', async () => {
    const clients = await admin.get('/api/v1/clients');
    expect(clients.status).toBe(200);
    const out = await admin.post('/api/v1/auth/logout');
    expect(out.status).toBe(204);
    const after = await apiClient(server.url, adminToken).get('/api/v1/clients');
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('unauthenticated');
    const [adminUser] = await server.running.ctx.db.select().from(users).where(eq(users.email, ADMIN.email));
    const tokens = await server.running.ctx.db.select().from(authTokens).where(eq(authTokens.userId, adminUser.id));
    expect(tokens).toHaveLength(1);
    expect(tokens[0].revokedAt).toBeInstanceOf(Date);
    expect((await admin.post('/api/v1/auth/logout')).status).toBe(401);
  });
});
