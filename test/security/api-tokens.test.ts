import { createHash } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILT_IN_ROLES } from '../../server/access/roles.ts';
import { authTokens, roles, users } from '../../server/db/schema.ts';
import { apiClient, createSiteWithToken, setupAdmin, type Api } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createMachine, createUser, grantSiteAccess, loginAs } from '../helpers/users.ts';

/**
 * API tokens: named, expiring, revocable, and scoped to at most what their creator holds — the SimpleHelp lesson
 * (a technician minted admin API keys). Narrowed by permission and by site; shrinking with the user's role at once;
 * never able to mint more tokens; stored as SHA-256 only.
 */
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

describe.each(backends())('API tokens on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  let siteA: string;
  let siteB: string;
  let machineA: string;
  let machineB: string;
  let techEmail: string;
  let techId: string;
  const db = () => server.running.ctx.db;
  const hostnames = (res: { body: { machines: { hostname: string }[] } }) => res.body.machines.map((m) => m.hostname).sort();

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api: admin } = await setupAdmin(server));
    const created = await createSiteWithToken(admin, { name: 'Tokens Client' });
    siteA = created.siteId;
    const b = await admin.post(`/api/v1/clients/${created.clientId}/sites`, { name: 'Branch Office' });
    siteB = b.body.id;
    machineA = (await createMachine(server, siteA, 'desk-a')).id;
    machineB = (await createMachine(server, siteB, 'desk-b')).id;
    const tech = await createUser(server, { role: 'technician' });
    await grantSiteAccess(server, tech.id, siteA, 'all');
    techEmail = tech.email;
    techId = tech.id;
    const { permissions, scope } = BUILT_IN_ROLES.technician;
    await db().insert(roles).values({ id: 'tech_no_view', name: 'Technician without view', permissions: permissions.filter((p) => p !== 'machines.view'), scope });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('a token with machines.view only cannot create a client, even for a Super Admin', async () => {
    const res = await admin.post('/api/v1/me/tokens', { name: 'read-only inventory', permissions: ['machines.view'] });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: 'read-only inventory', permissions: ['machines.view'], siteIds: null });
    expect(res.body.token).toMatch(/^stwt_[A-Za-z0-9_-]{43}$/);
    const days = (Date.parse(res.body.expiresAt) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(89.9);
    expect(days).toBeLessThanOrEqual(90);
    const token = apiClient(server.url, res.body.token);
    expect(hostnames(await token.get('/api/v1/machines'))).toEqual(['desk-a', 'desk-b']);
    const denied = await token.post('/api/v1/clients', { name: 'Through a token' });
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toMatch(/API token/);
    expect((await admin.get('/api/v1/clients')).body.clients.map((c: { name: string }) => c.name)).toEqual(['Tokens Client']);
  });

  it('SimpleHelp: a technician cannot mint a token with users.manage or roles.manage', async () => {
    const tech = await loginAs(server, techEmail);
    for (const permissions of [['users.manage'], ['roles.manage', 'machines.view'], ['tenancy.manage']]) {
      const res = await tech.post('/api/v1/me/tokens', { name: 'admin key', permissions });
      expect(res.status, permissions.join()).toBe(403);
      expect(res.body.error.message).toMatch(/do not hold/);
    }
    expect(await db().select().from(authTokens).where(and(eq(authTokens.userId, techId), eq(authTokens.kind, 'api')))).toEqual([]);
    // Without a list, the token gets a snapshot of what the technician holds — nothing more.
    const all = await tech.post('/api/v1/me/tokens', { name: 'everything I have' });
    expect(all.status).toBe(201);
    expect(all.body.permissions.sort()).toEqual([...BUILT_IN_ROLES.technician.permissions].sort());
    const token = apiClient(server.url, all.body.token);
    expect(hostnames(await token.get('/api/v1/machines'))).toEqual(['desk-a']);
    expect((await token.post('/api/v1/clients', { name: 'Nope' })).status).toBe(403);
  });

  it('siteIds narrow a technician token: scoped to site A, it cannot see the machines of site B', async () => {
    const user = await createUser(server, { role: 'technician' });
    await grantSiteAccess(server, user.id, siteA, 'all');
    await grantSiteAccess(server, user.id, siteB, 'all');
    const tech = await loginAs(server, user.email);
    expect(hostnames(await tech.get('/api/v1/machines'))).toEqual(['desk-a', 'desk-b']);
    const res = await tech.post('/api/v1/me/tokens', { name: 'site A only', permissions: ['machines.view'], siteIds: [siteA] });
    expect(res.status).toBe(201);
    await expectSiteANarrowing(res.body.token);
  });

  it('siteIds narrow a Super Admin token the same way (global scope, narrowed by the token)', async () => {
    const res = await admin.post('/api/v1/me/tokens', { name: 'site A only', permissions: ['machines.view'], siteIds: [siteA] });
    expect(res.status).toBe(201);
    expect(res.body.siteIds).toEqual([siteA]);
    await expectSiteANarrowing(res.body.token);
  });

  async function expectSiteANarrowing(secret: string) {
    const token = apiClient(server.url, secret);
    expect(hostnames(await token.get('/api/v1/machines'))).toEqual(['desk-a']);
    expect(hostnames(await token.get(`/api/v1/machines?siteId=${siteB}`))).toEqual([]);
    expect((await token.get(`/api/v1/machines/${machineA}`)).status).toBe(200);
    const other = await token.get(`/api/v1/machines/${machineB}`);
    expect(other.status).toBe(403);
    expect(other.body.error.message).toMatch(/API token is not scoped to this site/);
  }

  it('a token cannot be scoped to a site its creator does not reach', async () => {
    const tech = await loginAs(server, techEmail);
    const outside = await tech.post('/api/v1/me/tokens', { name: 'site B', permissions: ['machines.view'], siteIds: [siteB] });
    expect(outside.status).toBe(403);
    expect(outside.body.error.message).toContain(siteB);
    expect((await tech.post('/api/v1/me/tokens', { name: 'no such site', permissions: ['machines.view'], siteIds: ['00000000-0000-4000-8000-000000000000'] })).status).toBe(403);
    expect((await tech.post('/api/v1/me/tokens', { name: 'A and B', permissions: ['machines.view'], siteIds: [siteA, siteB] })).status).toBe(403);
    const inside = await tech.post('/api/v1/me/tokens', { name: 'site A', permissions: ['machines.view'], siteIds: [siteA] });
    expect(inside.status).toBe(201);
    expect(hostnames(await apiClient(server.url, inside.body.token).get('/api/v1/machines'))).toEqual(['desk-a']);
  });

  it('an API token cannot create, list or revoke API tokens', async () => {
    const res = await admin.post('/api/v1/me/tokens', { name: 'full power' });
    expect(res.status).toBe(201);
    const token = apiClient(server.url, res.body.token);
    for (const [method, path, body] of [
      ['POST', '/api/v1/me/tokens', { name: 'child', permissions: ['machines.view'] }],
      ['GET', '/api/v1/me/tokens'],
      ['DELETE', `/api/v1/me/tokens/${res.body.id}`],
    ] as const) {
      const denied = await token.call(method, path, body);
      expect(denied.status, `${method} ${path}`).toBe(403);
      expect(denied.body.error.message).toMatch(/API token cannot/);
    }
    expect((await token.post('/api/v1/clients', { name: 'Token Client' })).status).toBe(201);
  });

  it('an expired token is 401; so is the token of a disabled user; lifetimes are bounded', async () => {
    const res = await admin.post('/api/v1/me/tokens', { name: 'short lived', permissions: ['machines.view'], expiresInDays: 1 });
    const token = apiClient(server.url, res.body.token);
    expect((await token.get('/api/v1/machines')).status).toBe(200);
    await db().update(authTokens).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(authTokens.id, res.body.id));
    const expired = await token.get('/api/v1/machines');
    expect(expired.status).toBe(401);
    expect(expired.body.error.code).toBe('unauthenticated');
    for (const expiresInDays of [0, 366, 1.5]) expect((await admin.post('/api/v1/me/tokens', { name: 'bad', expiresInDays })).status).toBe(400);

    const user = await createUser(server, { role: 'technician' });
    const mine = await (await loginAs(server, user.email)).post('/api/v1/me/tokens', { name: 'leaver', permissions: ['machines.view'] });
    const leaver = apiClient(server.url, mine.body.token);
    expect((await leaver.get('/api/v1/machines')).status).toBe(200);
    await db().update(users).set({ disabledAt: new Date() }).where(eq(users.id, user.id));
    expect((await leaver.get('/api/v1/machines')).status).toBe(401);
  });

  it('revoking is immediate; nobody revokes a token of someone else', async () => {
    const res = await admin.post('/api/v1/me/tokens', { name: 'to revoke', permissions: ['machines.view'] });
    const token = apiClient(server.url, res.body.token);
    expect((await token.get('/api/v1/machines')).status).toBe(200);
    const tech = await loginAs(server, techEmail);
    expect((await tech.delete(`/api/v1/me/tokens/${res.body.id}`)).status).toBe(404);
    expect((await token.get('/api/v1/machines')).status).toBe(200);
    expect((await admin.delete(`/api/v1/me/tokens/${res.body.id}`)).status).toBe(204);
    expect((await token.get('/api/v1/machines')).status).toBe(401);
    const listed = (await admin.get('/api/v1/me/tokens')).body.tokens.find((t: { id: string }) => t.id === res.body.id);
    expect(Date.parse(listed.revokedAt)).toBeLessThanOrEqual(Date.now());
  });

  it("the user's role losing a permission shrinks the token at once; a wider role does not widen it", async () => {
    const user = await createUser(server, { role: 'technician' });
    await grantSiteAccess(server, user.id, siteA, 'all');
    const res = await (await loginAs(server, user.email)).post('/api/v1/me/tokens', { name: 'viewer', permissions: ['machines.view'] });
    const token = apiClient(server.url, res.body.token);
    expect(hostnames(await token.get('/api/v1/machines'))).toEqual(['desk-a']);

    await db().update(users).set({ role: 'tech_no_view' }).where(eq(users.id, user.id));
    const shrunk = await token.get('/api/v1/machines');
    expect(shrunk.status).toBe(403);
    expect(shrunk.body.error.message).toMatch(/lacks permission machines\.view/);

    await db().update(users).set({ role: 'super_admin' }).where(eq(users.id, user.id));
    expect(hostnames(await token.get('/api/v1/machines'))).toEqual(['desk-a', 'desk-b']);
    expect((await token.post('/api/v1/clients', { name: 'Grown' })).status).toBe(403);
  });

  it('stores only the SHA-256 of a token; the list never shows a secret; logs neither', async () => {
    const res = await admin.post('/api/v1/me/tokens', { name: 'audited', permissions: ['machines.view', 'reports.view'] });
    const secret = res.body.token as string;
    const [row] = await db().select().from(authTokens).where(eq(authTokens.id, res.body.id));
    expect(row.tokenHash).toBe(sha256(secret));
    expect(row).toMatchObject({ kind: 'api', name: 'audited', permissions: ['machines.view', 'reports.view'], siteIds: null });
    expect(JSON.stringify(row)).not.toContain(secret);
    expect(JSON.stringify(row)).not.toContain(secret.slice(5, 25));

    const list = await admin.get('/api/v1/me/tokens');
    expect(list.status).toBe(200);
    expect(list.body.tokens.length).toBeGreaterThan(3);
    for (const t of list.body.tokens) {
      expect(Object.keys(t).sort()).toEqual(['createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name', 'permissions', 'revokedAt', 'siteIds']);
    }
    expect(JSON.stringify(list.body)).not.toContain(secret);
    expect(JSON.stringify(list.body)).not.toContain(row.tokenHash);
    expect(list.body.tokens.some((t: { name: string }) => t.name === null)).toBe(false);
    await apiClient(server.url, secret).get('/api/v1/machines');
    expect(server.logText()).not.toContain(secret);
  });

  it('rejects unknown permissions, unknown fields and missing names', async () => {
    for (const body of [
      { name: 'x', permissions: ['machines.everything'] },
      { name: 'x', permissions: [] },
      { name: 'x', permissions: ['machines.view'], role: 'super_admin' },
      { permissions: ['machines.view'] },
      { name: 'x', siteIds: ['not-a-uuid'] },
    ]) {
      const res = await admin.post('/api/v1/me/tokens', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('invalid');
    }
  });
});
