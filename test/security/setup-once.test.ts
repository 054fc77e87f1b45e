import fs from 'node:fs';
import { request } from 'node:http';
import { count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, installation, users } from '../../server/db/schema.ts';
import { setupTokenFile } from '../../server/setup/setup-service.ts';
import { ADMIN, apiClient } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * ScreenConnect CVE-2024-1709: the setup wizard stayed reachable after setup through an alternate path, so anyone
 * could create an admin. Ours works exactly once, is race-safe, and answers under exactly one spelling.
 */

/** Sends the path byte-for-byte (fetch would normalize dot segments and backslashes away). */
function rawPost(baseUrl: string, path: string, body: unknown): Promise<{ status: number; text: string }> {
  const url = new URL(baseUrl);
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method: 'POST', path, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** Every alternate spelling of POST /api/v1/setup; none may reach the handler. */
const PATH_VARIANTS = [
  '/api/v1/setup/',
  '/API/v1/setup',
  '/api/v1/Setup',
  '/API/V1/SETUP',
  '/api/v1/x/../setup',
  '/api/v1/./setup',
  '/api/v1/setup/.',
  '/api/v1/x/%2e%2e/setup',
  '/api//v1/setup',
  '//api/v1/setup',
  '/api/v1//setup',
  '/api/v1/setup/x',
  '/api/v1/%73etup',
  '/api/v1/setup%2F',
  '/api%2Fv1/setup',
  '/api/v1/setup%20',
  '/api/v1/setup;',
  '/api/v1/setup;x=1',
  '/api/v1\\setup',
  '/api/v1/setup\\',
  '/api/v1/setup%5c',
  '/api/v1/setup#fragment',
];

const userCount = async (server: TestServer) => {
  const [row] = await server.running.ctx.db.select({ n: count() }).from(users);
  return row.n;
};

describe.each(backends())('first-run setup is one-time on %s', (backend) => {
  let server: TestServer;
  let setupToken: string;
  const tokenFile = () => setupTokenFile(server.config.dataDir);

  beforeAll(async () => {
    server = await startTestServer({ backend });
    setupToken = server.running.setupToken as string;
  });
  afterAll(async () => {
    await server?.close();
  });

  it('refuses a wrong setup token with 403 and creates no user', async () => {
    expect(setupToken).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(fs.statSync(tokenFile()).mode & 0o777).toBe(0o600);
    const res = await apiClient(server.url).post('/api/v1/setup', { ...ADMIN, setupToken: `${setupToken.slice(0, -1)}${setupToken.endsWith('x') ? 'y' : 'x'}` });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('forbidden');
    expect(await userCount(server)).toBe(0);
    const failures = await server.running.ctx.db.select().from(auditEvents).where(eq(auditEvents.action, 'setup.complete'));
    expect(failures.map((e) => [e.outcome, (e.details as { reason: string }).reason])).toEqual([['failure', 'bad setup token']]);
  });

  it('succeeds once with 201; the 0600 token file is removed afterwards', async () => {
    expect(fs.statSync(tokenFile()).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(tokenFile(), 'utf8').trim()).toBe(setupToken);

    const res = await apiClient(server.url).post('/api/v1/setup', { ...ADMIN, setupToken });
    expect(res.status).toBe(201);
    expect(res.body.user).toMatchObject({ email: ADMIN.email, name: ADMIN.name, role: 'super_admin' });
    expect(fs.existsSync(tokenFile())).toBe(false);
    const rows = await server.running.ctx.db.select().from(users);
    expect(rows.map((u) => [u.id, u.email, u.role])).toEqual([[res.body.user.id, ADMIN.email, 'super_admin']]);
    const [state] = await server.running.ctx.db.select().from(installation);
    expect(state.setupCompletedAt).toBeInstanceOf(Date);
    expect(state.setupTokenHash).toBeNull();
  });

  it('answers 409 to the same call afterwards, and to a different admin', async () => {
    const anon = apiClient(server.url);
    const again = await anon.post('/api/v1/setup', { ...ADMIN, setupToken });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('conflict');
    const other = await anon.post('/api/v1/setup', { ...ADMIN, email: 'mallory@example.test', setupToken });
    expect(other.status).toBe(409);
    expect(await userCount(server)).toBe(1);
  });

  it('never answers 2xx on any alternate path after setup', async () => {
    const offenders: Record<string, number> = {};
    for (const [i, path] of PATH_VARIANTS.entries()) {
      const res = await rawPost(server.url, path, { ...ADMIN, email: `late${i}@example.test`, setupToken });
      if (res.status !== 404 && res.status !== 409) offenders[path] = res.status;
    }
    expect(offenders).toEqual({});
    expect(await userCount(server)).toBe(1);
  });

  it('stays closed across a restart: no token, no token file, still 409', async () => {
    await server.restart();
    expect(server.running.setupToken).toBeNull();
    expect(fs.existsSync(tokenFile())).toBe(false);
    const res = await apiClient(server.url).post('/api/v1/setup', { ...ADMIN, setupToken });
    expect(res.status).toBe(409);
    expect(await userCount(server)).toBe(1);
  });
});

describe.each(backends())('alternate setup paths before setup on %s', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ backend });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers 404 to every alternate path, even with the valid token, and creates no user', async () => {
    const setupToken = server.running.setupToken as string;
    const statuses: Record<string, number> = {};
    const bodies: Record<string, string> = {};
    for (const [i, path] of PATH_VARIANTS.entries()) {
      const res = await rawPost(server.url, path, { ...ADMIN, email: `variant${i}@example.test`, setupToken });
      statuses[path] = res.status;
      bodies[path] = res.text;
    }
    // One map, so a failure names every offending spelling at once.
    expect(statuses).toEqual(Object.fromEntries(PATH_VARIANTS.map((p) => [p, 404])));
    for (const text of Object.values(bodies)) expect(JSON.parse(text)).toEqual({ error: { code: 'not_found', message: 'not found' } });
    expect(await userCount(server)).toBe(0);
    const [state] = await server.running.ctx.db.select().from(installation);
    expect(state.setupCompletedAt).toBeNull();
    expect(fs.existsSync(setupTokenFile(server.config.dataDir))).toBe(true);
  });
});

describe.each(backends())('concurrent setup calls on %s', (backend) => {
  it.each([2, 10])('%i concurrent calls with the valid token: exactly one 201, the rest 409', async (n) => {
    const server = await startTestServer({ backend });
    try {
      const setupToken = server.running.setupToken as string;
      const anon = apiClient(server.url);
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) => anon.post('/api/v1/setup', { ...ADMIN, email: `racer${i}@example.test`, setupToken })),
      );
      const statuses = results.map((r) => r.status).sort();
      expect(statuses).toEqual([201, ...Array<number>(n - 1).fill(409)]);
      const winner = results.find((r) => r.status === 201)!;
      const rows = await server.running.ctx.db.select().from(users);
      expect(rows.map((u) => u.id)).toEqual([winner.body.user.id]);
      const audits = await server.running.ctx.db.select().from(auditEvents).where(eq(auditEvents.action, 'setup.complete'));
      expect(audits.filter((e) => e.outcome === 'success')).toHaveLength(1);
      expect(audits.filter((e) => e.outcome === 'failure')).toHaveLength(n - 1);
      expect(fs.existsSync(setupTokenFile(server.config.dataDir))).toBe(false);
    } finally {
      await server.close();
    }
  });
});
