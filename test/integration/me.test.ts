import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSIONS } from '../../server/access/permissions.ts';
import { newBearerToken } from '../../server/auth/bearer-token.ts';
import { verifyPassword } from '../../server/auth/password.ts';
import { auditEvents, authTokens, users } from '../../server/db/schema.ts';
import { ADMIN, apiClient, setupAdmin, type Api } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { assignMachine, createUser, grantSiteAccess, loginAs, TEST_PASSWORD, createTwoClientWorld } from '../helpers/users.ts';

/** The caller's own account (/me), "My Assigned Machines", password change, and what GET /api/v1/machines shows whom. */
describe.each(backends())('me and machine visibility on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  let adminId: string;
  const ids = { clientA: '', siteA1: '', siteA2: '', clientB: '', siteB1: '' };
  const m = { a1: '', a1b: '', a2: '', b1: '' };
  const db = () => server.running.ctx.db;
  const machineIds = async (api: Api) => {
    const res = await api.get('/api/v1/machines');
    expect(res.status).toBe(200);
    return (res.body.machines as { id: string }[]).map((x) => x.id).sort();
  };

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api: admin, userId: adminId } = await setupAdmin(server));
    await createTwoClientWorld(server, admin, ids, m);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('GET /api/v1/me describes the caller: role, effective permissions, MFA state, token kind', async () => {
    const res = await admin.get('/api/v1/me');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      id: adminId,
      email: ADMIN.email,
      name: ADMIN.name,
      kind: 'technician',
      clientId: null,
      role: { id: 'super_admin', name: 'Super Admin', scope: 'global' },
      permissions: [...PERMISSIONS],
      mfa: { enabled: false, required: false, verified: false },
      token: { kind: 'login' },
    });

    const contactUser = await createUser(server, { role: 'client_end_user', clientId: ids.clientA, allowRemoteControl: false });
    const contact = await loginAs(server, contactUser.email);
    const me = await contact.get('/api/v1/me');
    expect(me.body).toMatchObject({
      kind: 'client_user',
      clientId: ids.clientA,
      role: { id: 'client_end_user', scope: 'granted' },
      permissions: ['machines.view', 'sessions.join', 'sessions.view_only'],
      allowRemoteControl: false,
    });
    expect((await apiClient(server.url).get('/api/v1/me')).status).toBe(401);
  });

  it('an API token narrows the permissions /me reports', async () => {
    const techUser = await createUser(server, { role: 'technician' });
    const { token, tokenHash } = newBearerToken();
    const [row] = await db()
      .insert(authTokens)
      .values({ userId: techUser.id, tokenHash, kind: 'api', name: 'reports only', permissions: ['reports.view'], expiresAt: new Date(Date.now() + 3600_000) })
      .returning();
    const api = apiClient(server.url, token);
    const me = await api.get('/api/v1/me');
    expect(me.status).toBe(200);
    expect(me.body.permissions).toEqual(['reports.view']);
    expect(me.body.token).toEqual({ id: row.id, kind: 'api' });
  });

  it('GET /api/v1/machines lists only what the caller may see', async () => {
    const techAll = await createUser(server, { role: 'technician' });
    await grantSiteAccess(server, techAll.id, ids.siteA1, 'all');
    const techLimited = await createUser(server, { role: 'technician' });
    await grantSiteAccess(server, techLimited.id, ids.siteA1, 'limited', [m.a1b]);
    const techNone = await createUser(server, { role: 'technician' });
    const rw = await createUser(server, { role: 'remote_workforce' });
    await assignMachine(server, rw.id, m.a2, ['terminal']);
    // A site grant means nothing to a Remote Workforce role: assigned machines only.
    await grantSiteAccess(server, rw.id, ids.siteB1, 'all');
    const contactA = await createUser(server, { role: 'client_end_user', clientId: ids.clientA });
    await grantSiteAccess(server, contactA.id, ids.siteA1, 'limited', [m.a1]);
    // A misconfigured grant on another client's site opens nothing for a client user.
    await grantSiteAccess(server, contactA.id, ids.siteB1, 'all');
    const contactB = await createUser(server, { role: 'client_end_user', clientId: ids.clientB });
    await assignMachine(server, contactB.id, m.b1, ['terminal']);

    expect(await machineIds(admin)).toEqual([m.a1, m.a1b, m.a2, m.b1].sort());
    expect(await machineIds(await loginAs(server, techAll.email))).toEqual([m.a1, m.a1b].sort());
    expect(await machineIds(await loginAs(server, techLimited.email))).toEqual([m.a1b]);
    expect(await machineIds(await loginAs(server, techNone.email))).toEqual([]);
    expect(await machineIds(await loginAs(server, rw.email))).toEqual([m.a2]);
    expect(await machineIds(await loginAs(server, contactA.email))).toEqual([m.a1]);
    expect(await machineIds(await loginAs(server, contactB.email))).toEqual([m.b1]);
    const other = await (await loginAs(server, contactA.email)).get(`/api/v1/machines/${m.b1}`);
    expect(other.status).toBe(403);
  });

  it('GET /api/v1/me/machines: live assignments, plus a client user\'s site access, each with canConnect', async () => {
    const rwUser = await createUser(server, { role: 'remote_workforce' });
    await assignMachine(server, rwUser.id, m.a1, ['terminal', 'files'], new Date(Date.now() + 3600_000));
    await assignMachine(server, rwUser.id, m.a2, ['view_only']);
    await assignMachine(server, rwUser.id, m.b1, ['terminal'], new Date(Date.now() - 1000));
    const rw = await loginAs(server, rwUser.email);
    const mine = await rw.get('/api/v1/me/machines');
    expect(mine.status).toBe(200);
    expect(mine.body.machines).toEqual([
      {
        id: m.a1,
        hostname: 'a1-desk',
        kind: 'desktop',
        os: 'linux',
        online: false,
        siteId: ids.siteA1,
        siteName: 'A1',
        clientId: ids.clientA,
        clientName: 'Acme',
        via: 'assignment',
        rights: ['terminal', 'files'],
        expiresAt: expect.any(String),
        canConnect: true,
      },
      expect.objectContaining({ id: m.a2, via: 'assignment', rights: ['view_only'], expiresAt: null, canConnect: false }),
    ]);

    // The remote-control switch decides canConnect, whatever the assignment says.
    await db().update(users).set({ allowRemoteControl: false }).where(eq(users.id, rwUser.id));
    expect((await rw.get('/api/v1/me/machines')).body.machines.map((x: { canConnect: boolean }) => x.canConnect)).toEqual([false, false]);

    const contactUser = await createUser(server, { role: 'client_end_user', clientId: ids.clientA });
    await grantSiteAccess(server, contactUser.id, ids.siteA1, 'limited', [m.a1b]);
    await grantSiteAccess(server, contactUser.id, ids.siteA2, 'all');
    await grantSiteAccess(server, contactUser.id, ids.siteB1, 'all');
    await assignMachine(server, contactUser.id, m.a1, ['view_only']);
    const contact = await loginAs(server, contactUser.email);
    const theirs = await contact.get('/api/v1/me/machines');
    expect(theirs.body.machines.map((x: { id: string; via: string; rights: string[]; canConnect: boolean }) => [x.id, x.via, x.rights, x.canConnect])).toEqual([
      [m.a1, 'assignment', ['view_only'], false],
      [m.a1b, 'site_access', ['terminal', 'view_only'], true],
      [m.a2, 'site_access', ['terminal', 'view_only'], true],
    ]);

    // A technician's site access is not "assigned": only assignments appear.
    const techUser = await createUser(server, { role: 'technician' });
    await grantSiteAccess(server, techUser.id, ids.siteA1, 'all');
    await assignMachine(server, techUser.id, m.b1, ['terminal']);
    const tech = await loginAs(server, techUser.email);
    expect((await tech.get('/api/v1/me/machines')).body.machines.map((x: { id: string; canConnect: boolean }) => [x.id, x.canConnect])).toEqual([[m.b1, true]]);
  });

  it('PUT /api/v1/me/password checks the current password, revokes the other tokens and is audited', async () => {
    const user = await createUser(server, { role: 'technician' });
    const first = await loginAs(server, user.email);
    const second = await loginAs(server, user.email);
    const newPassword = 'a brand new password';

    const short = await first.put('/api/v1/me/password', { currentPassword: TEST_PASSWORD, newPassword: 'short' });
    expect(short.status).toBe(400);
    expect(short.body.error.message).toContain('newPassword');
    expect((await first.put('/api/v1/me/password', { currentPassword: TEST_PASSWORD, newPassword, extra: 1 })).status).toBe(400);
    const same = await first.put('/api/v1/me/password', { currentPassword: TEST_PASSWORD, newPassword: TEST_PASSWORD });
    expect(same.status).toBe(400);

    const wrong = await first.put('/api/v1/me/password', { currentPassword: 'not my password!', newPassword });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.message).toBe('the current password is not correct');
    expect((await second.get('/api/v1/me')).status).toBe(200);

    const ok = await first.put('/api/v1/me/password', { currentPassword: TEST_PASSWORD, newPassword });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ revokedTokens: 1 });
    expect((await first.get('/api/v1/me')).status).toBe(200);
    expect((await second.get('/api/v1/me')).status).toBe(401);
    const [row] = await db().select().from(users).where(eq(users.id, user.id));
    expect(await verifyPassword(row.passwordHash!, newPassword)).toBe(true);
    expect(row.passwordChangedAt).toBeInstanceOf(Date);
    expect((await apiClient(server.url).post('/api/v1/auth/login', { email: user.email, password: TEST_PASSWORD })).status).toBe(401);
    expect((await apiClient(server.url).post('/api/v1/auth/login', { email: user.email, password: newPassword })).status).toBe(200);

    const events = (await db().select().from(auditEvents).where(eq(auditEvents.action, 'user.password_change'))).filter((e) => e.actorId === user.id);
    expect(events.map((e) => [e.outcome, e.details])).toEqual([
      ['failure', { reason: 'wrong current password' }],
      ['success', { revokedTokens: 1 }],
    ]);
    expect(JSON.stringify(events)).not.toContain(newPassword);
  });

  it('wrong current passwords count towards the account lockout', async () => {
    const user = await createUser(server, { role: 'technician' });
    const api = await loginAs(server, user.email);
    for (let i = 0; i < 5; i++) {
      expect((await api.put('/api/v1/me/password', { currentPassword: `guess number ${i}`, newPassword: 'another new password' })).status).toBe(400);
    }
    const locked = await api.put('/api/v1/me/password', { currentPassword: TEST_PASSWORD, newPassword: 'another new password' });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
