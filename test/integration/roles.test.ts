import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSIONS } from '../../server/access/permissions.ts';
import { BUILT_IN_ROLES } from '../../server/access/roles.ts';
import { setupAdmin, type Api } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createUser, loginAs } from '../helpers/users.ts';

/**
 * The roles API: built-ins and custom roles with permissions, scope, MFA policy and holder counts; custom role ids
 * are slugs of the name fixed at creation; built-ins change only their MFA policy; a held role cannot be deleted.
 */
describe.each(backends())('roles API on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  const audit = async (action: string, targetId: string) =>
    (await admin.get(`/api/v1/audit?action=${action}&targetId=${targetId}`)).body.events as { outcome: string; details: any }[];

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api: admin } = await setupAdmin(server));
  });
  afterAll(async () => {
    await server?.close();
  });

  it('lists the five built-in roles first, with permissions, scope, MFA policy and holder counts', async () => {
    await createUser(server, { role: 'technician' });
    await createUser(server, { role: 'technician' });
    const res = await admin.get('/api/v1/roles');
    expect(res.status).toBe(200);
    expect(res.body.roles.map((r: { id: string }) => r.id)).toEqual(Object.keys(BUILT_IN_ROLES));
    const byId = Object.fromEntries(res.body.roles.map((r: { id: string }) => [r.id, r]));
    expect(byId.super_admin).toMatchObject({ name: 'Super Admin', scope: 'global', builtIn: true, requireMfa: false, userCount: 1, grantable: true, permissions: [...PERMISSIONS] });
    expect(byId.technician).toMatchObject({ scope: 'granted', userCount: 2, permissions: [...BUILT_IN_ROLES.technician.permissions] });
    expect(byId.remote_workforce).toMatchObject({ scope: 'assigned', userCount: 0 });
    expect(byId.admin.permissions).not.toContain('roles.manage');
  });

  it('creates a custom role whose id is a slug of its name; names are unique regardless of case', async () => {
    const res = await admin.post('/api/v1/roles', {
      name: 'Help Desk',
      description: 'First line',
      permissions: ['sessions.join', 'machines.view', 'machines.view'],
      scope: 'granted',
    });
    expect(res.status).toBe(201);
    // Permissions are de-duplicated and kept in catalog order.
    expect(res.body).toMatchObject({ id: 'help_desk', name: 'Help Desk', description: 'First line', permissions: ['machines.view', 'sessions.join'], scope: 'granted', requireMfa: false, builtIn: false, userCount: 0 });
    const twin = await admin.post('/api/v1/roles', { name: 'Help-Desk', permissions: ['machines.view'], scope: 'assigned' });
    expect(twin.status).toBe(201);
    expect(twin.body.id).toBe('help_desk_2');
    const dup = await admin.post('/api/v1/roles', { name: 'HELP DESK', permissions: ['machines.view'], scope: 'assigned' });
    expect(dup.status).toBe(409);
    expect(dup.body.error.message).toBe("a role named 'HELP DESK' already exists");
    // A name that slugs to a built-in id gets its own id.
    const lookalike = await admin.post('/api/v1/roles', { name: 'Super-Admin', permissions: ['machines.view'], scope: 'assigned' });
    expect(lookalike.status).toBe(201);
    expect(lookalike.body.id).toBe('super_admin_2');
    const [event] = await audit('role.create', 'help_desk');
    expect(event.details.after).toMatchObject({ name: 'Help Desk', permissions: ['machines.view', 'sessions.join'], scope: 'granted' });
  });

  it.each([
    [{ name: 'R1', permissions: ['machines.view', 'root.everything'], scope: 'granted' }, /^unknown permission root\.everything; known: machines\.view, /],
    [{ name: 'R2', permissions: [], scope: 'universe' }, /^body\/scope must be equal to one of the allowed values$/],
    [{ name: 'R3', permissions: [], scope: 'granted', builtIn: true }, /^body\/builtIn is not allowed$/],
    [{ name: '   ', permissions: [], scope: 'granted' }, /^body\/name must match pattern/],
    [{ permissions: [], scope: 'granted' }, /^body\/name is required$/],
  ])('refuses a bad role with 400: %j', async (body, message) => {
    const res = await admin.post('/api/v1/roles', body);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(message);
  });

  it('changes a custom role; holders feel it on their next request; the id stays when renamed', async () => {
    const holder = await createUser(server, { role: 'help_desk' });
    const api = await loginAs(server, holder.email);
    expect((await api.get('/api/v1/users')).status).toBe(403);
    const res = await admin.patch('/api/v1/roles/help_desk', { name: 'Service Desk', permissions: ['machines.view', 'users.manage'], requireMfa: false });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: 'help_desk', name: 'Service Desk', permissions: ['machines.view', 'users.manage'], userCount: 1 });
    // Granted scope without client access: may list (filtered to nothing), not more.
    const list = await api.get('/api/v1/users');
    expect(list.status).toBe(200);
    expect(list.body.users).toEqual([]);
    const [event] = await audit('role.update', 'help_desk');
    expect(event.details.before).toMatchObject({ name: 'Help Desk', permissions: ['machines.view', 'sessions.join'] });
    expect(event.details.after).toMatchObject({ name: 'Service Desk', permissions: ['machines.view', 'users.manage'] });
    expect((await admin.patch('/api/v1/roles/help_desk', { name: 'help-desk' })).status).toBe(409);
    // Held by a client user, it cannot become global.
    const client = (await admin.post('/api/v1/clients', { name: 'Acme' })).body.id;
    const contact = await createUser(server, { role: 'help_desk', clientId: client });
    const global = await admin.patch('/api/v1/roles/help_desk', { scope: 'global' });
    expect(global.status).toBe(409);
    expect(global.body.error.message).toBe("role 'Service Desk' is held by 1 client user, who cannot hold a global role");
    expect((await admin.delete(`/api/v1/users/${contact.id}`)).status).toBe(204);
    expect((await admin.patch('/api/v1/roles/no_such_role', { name: 'X' })).status).toBe(404);
    expect((await admin.patch('/api/v1/roles/help_desk', {})).status).toBe(400);
  });

  it('built-in roles: only requireMfa may change, and then it binds their holders at once', async () => {
    const fixed = await admin.patch('/api/v1/roles/technician', { permissions: ['machines.view'] });
    expect(fixed.status).toBe(409);
    expect(fixed.body.error.message).toBe("built-in role 'Technician' is fixed: only requireMfa may change (not permissions)");
    expect((await admin.patch('/api/v1/roles/admin', { name: 'Boss', requireMfa: true })).status).toBe(409);

    const tech = await createUser(server, { role: 'technician' });
    const api = await loginAs(server, tech.email);
    expect((await api.get('/api/v1/clients')).status).toBe(200);
    const on = await admin.patch('/api/v1/roles/technician', { requireMfa: true });
    expect(on.status).toBe(200);
    expect(on.body).toMatchObject({ id: 'technician', requireMfa: true, permissions: [...BUILT_IN_ROLES.technician.permissions] });
    const refused = await api.get('/api/v1/clients');
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toMatch(/multi-factor authentication is required/);
    expect((await admin.patch('/api/v1/roles/technician', { requireMfa: false })).status).toBe(200);
    expect((await api.get('/api/v1/clients')).status).toBe(200);
  });

  it('deletes an unheld custom role; refuses built-ins and held roles with 409', async () => {
    const builtIn = await admin.delete('/api/v1/roles/remote_workforce');
    expect(builtIn.status).toBe(409);
    expect(builtIn.body.error.message).toBe("built-in role 'Remote Workforce' cannot be deleted");
    const held = await admin.delete('/api/v1/roles/help_desk');
    expect(held.status).toBe(409);
    expect(held.body.error.message).toBe("role 'Service Desk' is held by 1 user; give them another role first");
    expect((await admin.get('/api/v1/roles/help_desk')).status).toBe(200);

    expect((await admin.delete('/api/v1/roles/help_desk_2')).status).toBe(204);
    expect((await admin.get('/api/v1/roles/help_desk_2')).status).toBe(404);
    expect((await admin.delete('/api/v1/roles/help_desk_2')).status).toBe(404);
    const [event] = await audit('role.delete', 'help_desk_2');
    expect(event.details.before).toMatchObject({ name: 'Help-Desk', scope: 'assigned' });
  });

  it('who may read and change roles: Admin reads (to pick roles) but cannot change them; a Technician reads nothing', async () => {
    const adminUser = await createUser(server, { role: 'admin' });
    const asAdmin = await loginAs(server, adminUser.email);
    const list = await asAdmin.get('/api/v1/roles');
    expect(list.status).toBe(200);
    const grantable = Object.fromEntries(list.body.roles.map((r: { id: string; grantable: boolean }) => [r.id, r.grantable]));
    expect(grantable).toMatchObject({ super_admin: false, admin: true, technician: true });
    const create = await asAdmin.post('/api/v1/roles', { name: 'Sneaky', permissions: ['machines.view'], scope: 'assigned' });
    expect(create.status).toBe(403);
    expect(create.body.error.message).toBe("role 'Admin' lacks permission roles.manage");
    expect((await asAdmin.patch('/api/v1/roles/technician', { requireMfa: true })).status).toBe(403);
    expect((await asAdmin.delete('/api/v1/roles/super_admin_2')).status).toBe(403);
    const denied = (await admin.get(`/api/v1/audit?action=access.denied&actorId=${adminUser.id}`)).body.events;
    expect(denied.length).toBe(3);
    expect(denied[0].details).toMatchObject({ action: 'roles.manage', reason: "role 'Admin' lacks permission roles.manage" });

    const tech = await createUser(server, { role: 'remote_workforce' });
    expect((await (await loginAs(server, tech.email)).get('/api/v1/roles')).status).toBe(403);
  });
});
