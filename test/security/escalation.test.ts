import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roles, users } from '../../server/db/schema.ts';
import { apiClient, setupAdmin, type Api, type ApiResponse } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createMachine, createUser, grantClientAccess, loginAs } from '../helpers/users.ts';

/**
 * SimpleHelp 2024-57726 (a technician could mint admin API keys): nobody grants a role, permission, scope, switch or
 * site they do not hold themselves, nor acts on someone more powerful, nor on their own role. A "user manager" custom
 * role (users.manage + machines.view, global, remote control off) tries every way up: each is a 403 with the reason,
 * and an access.denied row carrying the same reason.
 */
describe.each(backends())('no escalation through users, roles and grants on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  let adminId: string;
  let manager: { id: string; email: string };
  let um: Api;
  let peer: { id: string };
  const ids = {} as Record<'clientA' | 'clientB' | 'siteA1' | 'siteA2' | 'siteB1' | 'mA2' | 'mB1', string>;

  /** The refusal is 403 with this reason, and the newest access.denied row of the actor says the same. */
  async function expectDenied(res: ApiResponse, reason: string | RegExp, actorId = manager.id) {
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('forbidden');
    expect(res.body.error.message).toMatch(reason);
    const [event] = (await admin.get(`/api/v1/audit?action=access.denied&actorId=${actorId}&limit=1`)).body.events;
    expect(event).toMatchObject({ outcome: 'failure', actorId, details: { reason: res.body.error.message } });
  }
  const roleOf = async (id: string) => (await server.running.ctx.db.select().from(users).where(eq(users.id, id)))[0];

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api: admin, userId: adminId } = await setupAdmin(server));
    for (const role of [
      { name: 'User Manager', permissions: ['users.manage', 'machines.view'], scope: 'global' },
      { name: 'Mega', permissions: ['users.manage', 'machines.view', 'credentials.reveal'], scope: 'global' },
      { name: 'Viewer', permissions: ['machines.view'], scope: 'granted' },
      { name: 'Role Admin', permissions: ['roles.manage', 'users.manage', 'machines.view'], scope: 'global' },
    ]) {
      expect((await admin.post('/api/v1/roles', role)).status).toBe(201);
    }
    manager = await createUser(server, { role: 'user_manager', allowRemoteControl: false });
    um = await loginAs(server, manager.email);
    peer = await createUser(server, { role: 'viewer', allowRemoteControl: false });
    ids.clientA = (await admin.post('/api/v1/clients', { name: 'Acme' })).body.id;
    ids.siteA1 = (await admin.post(`/api/v1/clients/${ids.clientA}/sites`, { name: 'HQ' })).body.id;
    ids.siteA2 = (await admin.post(`/api/v1/clients/${ids.clientA}/sites`, { name: 'Branch' })).body.id;
    ids.mA2 = (await createMachine(server, ids.siteA2, 'branch-pc')).id;
    ids.clientB = (await admin.post('/api/v1/clients', { name: 'Globex' })).body.id;
    ids.siteB1 = (await admin.post(`/api/v1/clients/${ids.clientB}/sites`, { name: 'HQ' })).body.id;
    ids.mB1 = (await createMachine(server, ids.siteB1, 'globex-pc')).id;
  });
  afterAll(async () => {
    await server?.close();
  });

  it('may do what it holds: create and edit users of roles within its own rights', async () => {
    const res = await um.post('/api/v1/users', { email: 'viewer2@example.test', name: 'V2', kind: 'technician', role: 'viewer' });
    expect(res.status).toBe(201);
    expect((await um.patch(`/api/v1/users/${res.body.id}`, { role: 'user_manager', name: 'V2 promoted' })).status).toBe(200);
  });

  it.each([
    ['admin', /^cannot give this role \(role 'Admin'\): you do not hold machines\.manage, sessions\.join, /],
    ['super_admin', /^cannot give this role \(role 'Super Admin'\): you do not hold .*roles\.manage/],
    ['mega', /^cannot give this role \(role 'Mega'\): you do not hold credentials\.reveal$/],
  ])('cannot create a user with role %s', async (role, reason) => {
    const before = (await server.running.ctx.db.select().from(users)).length;
    await expectDenied(await um.post('/api/v1/users', { email: `new-${role}@example.test`, name: 'N', kind: 'technician', role }), reason);
    expect((await server.running.ctx.db.select().from(users)).length).toBe(before);
  });

  it('cannot promote someone to a role with more than it holds', async () => {
    await expectDenied(await um.patch(`/api/v1/users/${peer.id}`, { role: 'admin' }), /^cannot give this role \(role 'Admin'\)/);
    await expectDenied(await um.patch(`/api/v1/users/${peer.id}`, { role: 'mega' }), "cannot give this role (role 'Mega'): you do not hold credentials.reveal");
    expect((await roleOf(peer.id)).role).toBe('viewer');
  });

  it('cannot change its own role, switch, or disable or delete itself', async () => {
    await expectDenied(await um.patch(`/api/v1/users/${manager.id}`, { role: 'super_admin' }), 'you cannot change your own role');
    await expectDenied(await um.patch(`/api/v1/users/${manager.id}`, { role: 'viewer' }), 'you cannot change your own role');
    await expectDenied(await um.patch(`/api/v1/users/${manager.id}`, { allowRemoteControl: true }), 'you cannot change your own Allow Remote Control Access');
    await expectDenied(await um.patch(`/api/v1/users/${manager.id}`, { disabled: true }), 'you cannot disable yourself');
    await expectDenied(await um.delete(`/api/v1/users/${manager.id}`), 'you cannot delete yourself');
    const me = await roleOf(manager.id);
    expect(me).toMatchObject({ role: 'user_manager', allowRemoteControl: false, disabledAt: null });
    // Editing its own name is fine.
    expect((await um.patch(`/api/v1/users/${manager.id}`, { name: 'Manny' })).status).toBe(200);
  });

  it('cannot touch a user whose role it could not grant: edit, disable, delete, take over by email or password link', async () => {
    const boss = await createUser(server, { role: 'admin' });
    const reason = /^cannot (change|delete|send) .*\(role 'Admin'\): you do not hold /;
    await expectDenied(await um.patch(`/api/v1/users/${boss.id}`, { disabled: true }), reason);
    await expectDenied(await um.patch(`/api/v1/users/${boss.id}`, { email: 'mine@example.test' }), reason);
    await expectDenied(await um.delete(`/api/v1/users/${boss.id}`), reason);
    await expectDenied(await um.post(`/api/v1/users/${boss.id}/password-link`), reason);
    await expectDenied(await um.patch(`/api/v1/users/${adminId}`, { role: 'viewer' }), /\(role 'Super Admin'\)/);
    await expectDenied(await um.put(`/api/v1/users/${boss.id}/site-access/${ids.siteA1}`, { resourceAccess: 'all' }), reason);
    expect(await roleOf(boss.id)).toMatchObject({ email: boss.email, disabledAt: null });
  });

  it('cannot switch on Allow Remote Control Access while its own is off', async () => {
    const reason = 'cannot switch on Allow Remote Control Access: your own Allow Remote Control Access is off';
    await expectDenied(await um.patch(`/api/v1/users/${peer.id}`, { allowRemoteControl: true }), reason);
    await expectDenied(await um.post('/api/v1/users', { email: 'rc@example.test', name: 'RC', kind: 'technician', role: 'viewer', allowRemoteControl: true }), reason);
    expect((await roleOf(peer.id)).allowRemoteControl).toBe(false);
  });

  it('cannot define or change roles without roles.manage; with it, not beyond its own permissions', async () => {
    await expectDenied(await um.post('/api/v1/roles', { name: 'Everything', permissions: ['credentials.reveal'], scope: 'global' }), "role 'User Manager' lacks permission roles.manage");
    await expectDenied(await um.patch('/api/v1/roles/user_manager', { permissions: ['users.manage', 'credentials.reveal'] }), "role 'User Manager' lacks permission roles.manage");

    const roleAdmin = await createUser(server, { role: 'role_admin' });
    const ra = await loginAs(server, roleAdmin.email);
    await expectDenied(
      await ra.post('/api/v1/roles', { name: 'Revealer', permissions: ['machines.view', 'credentials.reveal'], scope: 'granted' }),
      "cannot create this role (role 'Revealer'): you do not hold credentials.reveal",
      roleAdmin.id,
    );
    await expectDenied(await ra.patch('/api/v1/roles/viewer', { permissions: ['machines.view', 'tenancy.manage'] }), /you do not hold tenancy\.manage$/, roleAdmin.id);
    await expectDenied(await ra.patch('/api/v1/roles/mega', { permissions: ['machines.view'] }), /^cannot change this role \(role 'Mega'\): you do not hold credentials\.reveal$/, roleAdmin.id);
    await expectDenied(await ra.patch('/api/v1/roles/super_admin', { requireMfa: false }), /\(role 'Super Admin'\)/, roleAdmin.id);
    await expectDenied(await ra.delete('/api/v1/roles/mega'), /^cannot delete this role \(role 'Mega'\)/, roleAdmin.id);
    // Its own role cannot grow either.
    await expectDenied(await ra.patch('/api/v1/roles/role_admin', { permissions: ['roles.manage', 'users.manage', 'machines.view', 'audit.view'] }), /you do not hold audit\.view$/, roleAdmin.id);
    const [mega] = await server.running.ctx.db.select().from(roles).where(eq(roles.id, 'mega'));
    expect(mega.permissions).toContain('credentials.reveal');
    // Within its rights it may define a role.
    expect((await ra.post('/api/v1/roles', { name: 'Lesser', permissions: ['machines.view'], scope: 'global' })).status).toBe(201);
  });

  it('cannot give site access to a site it does not reach', async () => {
    // A contact manager: users.manage over the contacts of the clients it has client access to (Acme only).
    expect((await admin.post('/api/v1/roles', { name: 'Contact Manager', permissions: ['users.manage', 'machines.view'], scope: 'granted' })).status).toBe(201);
    const cm = await createUser(server, { role: 'contact_manager', allowRemoteControl: false });
    await grantClientAccess(server, cm.id, ids.clientA);
    const asCm = await loginAs(server, cm.email);
    const contact = await createUser(server, { role: 'viewer', clientId: ids.clientA, allowRemoteControl: false });
    expect((await asCm.put(`/api/v1/users/${contact.id}/site-access/${ids.siteA1}`, { resourceAccess: 'all' })).status).toBe(200);

    await expectDenied(await asCm.put(`/api/v1/users/${contact.id}/site-access/${ids.siteB1}`, { resourceAccess: 'all' }), `no access to site ${ids.siteB1}`, cm.id);
    await expectDenied(
      await asCm.put(`/api/v1/users/${contact.id}/site-access/${ids.siteA2}`, { resourceAccess: 'limited', machineIds: [ids.mA2, ids.mB1] }),
      `no access to machine ${ids.mB1}`,
      cm.id,
    );
    // Technicians and client access are beyond it altogether.
    const tech = await createUser(server, { role: 'viewer' });
    await expectDenied(await asCm.put(`/api/v1/users/${tech.id}/client-access/${ids.clientB}`), `user is outside the scope of ${cm.email}`, cm.id);
    const view = await admin.get(`/api/v1/users/${contact.id}/access`);
    expect(view.body.siteAccess.map((s: { siteId: string }) => s.siteId)).toEqual([ids.siteA1]);
    expect((await admin.get(`/api/v1/users/${tech.id}/access`)).body.clientAccess).toEqual([]);

    // An API token narrowed to sites acts on no user at all.
    const minted = await um.post('/api/v1/me/tokens', { name: 'hq only', siteIds: [ids.siteA1] });
    expect(minted.status).toBe(201);
    const narrow = apiClient(server.url, minted.body.token);
    await expectDenied(await narrow.put(`/api/v1/users/${contact.id}/site-access/${ids.siteA1}`, { resourceAccess: 'all' }), 'this API token is narrowed to sites; it cannot act on a user');
  });

  it("an API token narrowed below its creator's role grants no more than the token holds", async () => {
    const minted = await admin.post('/api/v1/me/tokens', { name: 'user admin only', permissions: ['users.manage', 'machines.view'] });
    expect(minted.status).toBe(201);
    const narrow = apiClient(server.url, minted.body.token);
    await expectDenied(
      await narrow.post('/api/v1/users', { email: 'minted-admin@example.test', name: 'M', kind: 'technician', role: 'admin' }),
      /^cannot give this role \(role 'Admin'\): you do not hold machines\.manage/,
      adminId,
    );
    await expectDenied(await narrow.patch(`/api/v1/users/${peer.id}`, { role: 'super_admin' }), /^cannot give this role \(role 'Super Admin'\)/, adminId);
  });

  it('a CSV import is checked row by row: one escalating row refuses the whole file', async () => {
    const csv = 'email,name,kind,client,role,allow_remote_control\nok@example.test,Ok,technician,,viewer,false\nup@example.test,Up,technician,,admin,false\n';
    const res = await um.post('/api/v1/users/import', csv, { 'content-type': 'text/csv' });
    expect(res.status).toBe(400);
    expect(res.body.created).toBe(0);
    expect(res.body.rows[0]).toMatchObject({ line: 2, status: 'valid', errors: [] });
    expect(res.body.rows[1]).toMatchObject({ line: 3, email: 'up@example.test', status: 'error' });
    expect(res.body.rows[1].errors[0]).toMatch(/^cannot give this role \(role 'Admin'\): you do not hold /);
    expect(await server.running.ctx.db.select().from(users).where(eq(users.email, 'ok@example.test'))).toEqual([]);
    const [event] = (await admin.get(`/api/v1/audit?action=user.import&actorId=${manager.id}`)).body.events;
    expect(event).toMatchObject({ outcome: 'failure', details: { failedRows: 1, errors: [{ line: 3, email: 'up@example.test' }] } });
  });
});
