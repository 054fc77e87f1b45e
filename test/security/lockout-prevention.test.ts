import http from 'node:http';
import { eq } from 'drizzle-orm';
import { auditEvents } from '../../server/db/schema.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, setupAdmin } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * Lockout prevention: failed logins from one address lock the account for everyone else, but not for an address the
 * account signed in from recently — so an attacker cannot lock the Super Admin out from afar. Requests leave from
 * distinct loopback source addresses (127.0.0.2 = the admin's desk, 127.0.0.3 = the attacker).
 */
function loginFrom(server: TestServer, localAddress: string, password: string): Promise<{ status: number; body: any }> {
  const body = JSON.stringify({ email: ADMIN.email, password });
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${server.url}/api/v1/auth/login`,
      { method: 'POST', localAddress, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe.each(backends())('lockout prevention on %s', (backend) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ backend });
    await setupAdmin(server);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('an attacker locks the admin account from their address, the admin still signs in from a familiar one', async () => {
    expect((await loginFrom(server, '127.0.0.2', ADMIN.password)).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await loginFrom(server, '127.0.0.3', `guess ${i}`)).status).toBe(401);

    const attacker = await loginFrom(server, '127.0.0.3', ADMIN.password);
    expect(attacker.status).toBe(429);
    const stranger = await loginFrom(server, '127.0.0.4', ADMIN.password);
    expect(stranger.status).toBe(429);

    const admin = await loginFrom(server, '127.0.0.2', ADMIN.password);
    expect(admin.status).toBe(200);
    expect(admin.body.token).toMatch(/^stwt_/);
  });

  it('a familiar address still cannot guess: wrong passwords from it keep failing and count against it', async () => {
    const wrong = await loginFrom(server, '127.0.0.2', 'not it');
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.message).toBe('email or password is incorrect');
  });
});

describe('behind a trusted reverse proxy (STEWARD_TRUST_PROXY)', () => {
  let server: TestServer;
  const login = (forwardedFor: string, password: string) =>
    fetch(`${server.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
      body: JSON.stringify({ email: ADMIN.email, password }),
    });

  beforeAll(async () => {
    server = await startTestServer({ backend: 'pglite', env: { STEWARD_TRUST_PROXY: '127.0.0.1' } });
    await setupAdmin(server);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('tells clients apart by X-Forwarded-For, so one client behind the proxy cannot lock out another', async () => {
    expect((await login('198.51.100.7', ADMIN.password)).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await login('203.0.113.9', `guess ${i}`)).status).toBe(401);
    expect((await login('203.0.113.9', ADMIN.password)).status).toBe(429);
    expect((await login('198.51.100.7', ADMIN.password)).status).toBe(200);
    // The audit log names the real clients (and the direct login of the setup, from the proxy's own address).
    const rows = await server.running.ctx.db.select().from(auditEvents).where(eq(auditEvents.action, 'auth.login'));
    expect(new Set(rows.map((r) => r.address))).toEqual(new Set(['127.0.0.1', '198.51.100.7', '203.0.113.9']));
  });
});
