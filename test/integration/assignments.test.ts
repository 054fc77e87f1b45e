import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, roles, users } from '../../server/db/schema.ts';
import { setupAdmin, type Api } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { assignMachine, createUser, grantSiteAccess, loginAs, createTwoClientWorld } from '../helpers/users.ts';

/**
 * "Assign Machine": create, list, change and remove assignments; validation; no escalation (nobody grants a session
 * right they do not hold on the machine); every change audited; expiry that needs no job.
 */
describe.each(backends())('machine assignments on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  let adminId: string;
  const ids = { clientA: '', siteA1: '', siteA2: '', clientB: '', siteB1: '' };
  const m = { a1: '', a1b: '', a2: '', b1: '' };
  const db = () => server.running.ctx.db;
  const auditRows = (action: string) => db().select().from(auditEvents).where(eq(auditEvents.action, action));

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api: admin, userId: adminId } = await setupAdmin(server));
    await createTwoClientWorld(server, admin, ids, m);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('creates an assignment (201) recording who assigned it and when, audited; a second one for the same pair is 409', async () => {
    const rw = await createUser(server, { role: 'remote_workforce' });
    const before = Date.now();
    const res = await admin.post(`/api/v1/machines/${m.a1}/assignments`, { userId: rw.id, rights: ['files', 'terminal'], note: 'on call' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      machineId: m.a1,
      hostname: 'a1-desk',
      siteId: ids.siteA1,
      clientId: ids.clientA,
      userId: rw.id,
      userEmail: rw.email,
      rights: ['terminal', 'files'],
      note: 'on call',
      expiresAt: null,
      expired: false,
      assignedBy: adminId,
      lastUsedAt: null,
    });
    expect(Date.parse(res.body.assignedAt)).toBeGreaterThanOrEqual(before - 1000);
    const [event] = (await auditRows('assignment.create')).filter((e) => e.targetId === res.body.id);
    expect(event).toMatchObject({ actorId: adminId, outcome: 'success', targetType: 'assignment' });
    expect(event.details).toMatchObject({ machineId: m.a1, userId: rw.id, rights: ['terminal', 'files'], expiresAt: null });

    const again = await admin.post(`/api/v1/machines/${m.a1}/assignments`, { userId: rw.id, rights: ['view_only'] });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toContain(rw.email);
  });

  it('rejects bad bodies with a clear 400', async () => {
    const rw = await createUser(server, { role: 'remote_workforce' });
    const post = (body: unknown) => admin.post(`/api/v1/machines/${m.a1b}/assignments`, body);
    const cases: [unknown, string][] = [
      [{ userId: rw.id, rights: [] }, 'rights'],
      [{ userId: rw.id, rights: ['terminal', 'terminal'] }, 'rights'],
      [{ userId: rw.id, rights: ['admin'] }, 'rights'],
      [{ userId: rw.id, rights: ['terminal'], note: 'x'.repeat(501) }, 'note'],
      [{ userId: rw.id, rights: ['terminal'], expiresAt: 'tomorrow' }, 'expiresAt'],
      [{ userId: rw.id, rights: ['terminal'], expiresAt: new Date(Date.now() - 60_000).toISOString() }, 'future'],
      [{ userId: rw.id, rights: ['terminal'], assignedBy: rw.id }, 'assignedBy'],
      [{ userId: 'not-a-uuid', rights: ['terminal'] }, 'userId'],
      [{ rights: ['terminal'] }, 'userId'],
    ];
    for (const [body, word] of cases) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.message).toContain(word);
    }
    expect((await admin.get(`/api/v1/machines/${m.a1b}/assignments`)).body.assignments).toEqual([]);
  });

  it('needs an existing, enabled assignee; a client user only on machines of their own client', async () => {
    const unknown = await admin.post(`/api/v1/machines/${m.a1b}/assignments`, { userId: '00000000-0000-4000-8000-000000000000', rights: ['terminal'] });
    expect(unknown.status).toBe(404);
    const missingMachine = await admin.post('/api/v1/machines/00000000-0000-4000-8000-000000000000/assignments', { userId: adminId, rights: ['terminal'] });
    expect(missingMachine.status).toBe(404);

    const disabled = await createUser(server, { role: 'remote_workforce' });
    await db().update(users).set({ disabledAt: new Date() }).where(eq(users.id, disabled.id));
    const res = await admin.post(`/api/v1/machines/${m.a1b}/assignments`, { userId: disabled.id, rights: ['terminal'] });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain('disabled');

    const contact = await createUser(server, { role: 'client_end_user', clientId: ids.clientA });
    const other = await admin.post(`/api/v1/machines/${m.b1}/assignments`, { userId: contact.id, rights: ['terminal'] });
    expect(other.status).toBe(400);
    expect(other.body.error.message).toContain('own client');
    const own = await admin.post(`/api/v1/machines/${m.a1b}/assignments`, { userId: contact.id, rights: ['terminal'] });
    expect(own.status).toBe(201);
  });

  it('refuses to grant a right the assigner does not hold on the machine (403 naming it, audited), and machines outside their scope', async () => {
    // A custom "assigner": may manage assignments and join sessions, but not transfer files.
    await db().insert(roles).values({ id: 'assigner', name: 'Assigner', permissions: ['machines.view', 'assignments.manage', 'sessions.join'], scope: 'granted' });
    const assignerUser = await createUser(server, { role: 'assigner' });
    await grantSiteAccess(server, assignerUser.id, ids.siteA1, 'all');
    const assigner = await loginAs(server, assignerUser.email);
    const rw = await createUser(server, { role: 'remote_workforce' });

    const files = await assigner.post(`/api/v1/machines/${m.a1b}/assignments`, { userId: rw.id, rights: ['terminal', 'files'] });
    expect(files.status).toBe(403);
    expect(files.body.error.message).toContain("right 'files'");
    expect(files.body.error.message).toContain('sessions.files');
    const denied = (await auditRows('access.denied')).filter((e) => e.actorId === assignerUser.id && e.targetId === m.a1b);
    expect(denied.map((e) => (e.details as { right?: string }).right)).toEqual(['files']);

    const ok = await assigner.post(`/api/v1/machines/${m.a1b}/assignments`, { userId: rw.id, rights: ['view_only', 'terminal'] });
    expect(ok.status).toBe(201);
    expect(ok.body.assignedBy).toBe(assignerUser.id);

    const widen = await assigner.patch(`/api/v1/assignments/${ok.body.id}`, { rights: ['terminal', 'files'] });
    expect(widen.status).toBe(403);
    expect(widen.body.error.message).toContain("right 'files'");

    const outside = await assigner.post(`/api/v1/machines/${m.a2}/assignments`, { userId: rw.id, rights: ['terminal'] });
    expect(outside.status).toBe(403);
    const outsideAudit = (await auditRows('access.denied')).filter((e) => e.actorId === assignerUser.id && e.targetId === m.a2);
    expect(outsideAudit).toHaveLength(1);

    // Without Allow Remote Control Access the assigner holds no session right at all, so can grant none.
    await db().update(users).set({ allowRemoteControl: false }).where(eq(users.id, assignerUser.id));
    const rw2 = await createUser(server, { role: 'remote_workforce' });
    const noSwitch = await assigner.post(`/api/v1/machines/${m.a1}/assignments`, { userId: rw2.id, rights: ['view_only'] });
    expect(noSwitch.status).toBe(403);
    expect(noSwitch.body.error.message).toContain('Allow Remote Control Access');

    // Without assignments.manage there is no assigning at all.
    const plainTech = await createUser(server, { role: 'technician' });
    await grantSiteAccess(server, plainTech.id, ids.siteA1, 'all');
    const tech = await loginAs(server, plainTech.email);
    const none = await tech.post(`/api/v1/machines/${m.a1}/assignments`, { userId: rw2.id, rights: ['terminal'] });
    expect(none.status).toBe(403);
    expect(none.body.error.message).toContain('assignments.manage');
  });

  it('a manager with limited site access manages assignments on the listed machines only', async () => {
    await db().insert(roles).values({ id: 'desk_lead', name: 'Desk Lead', permissions: ['machines.view', 'assignments.manage', 'sessions.join', 'sessions.view_only'], scope: 'granted' });
    const leadUser = await createUser(server, { role: 'desk_lead' });
    await grantSiteAccess(server, leadUser.id, ids.siteA1, 'limited', [m.a1]);
    const lead = await loginAs(server, leadUser.email);
    const rw = await createUser(server, { role: 'remote_workforce' });
    const onListed = await lead.post(`/api/v1/machines/${m.a1}/assignments`, { userId: rw.id, rights: ['view_only'] });
    expect(onListed.status).toBe(201);
    const onOther = await admin.post(`/api/v1/machines/${m.a1b}/assignments`, { userId: rw.id, rights: ['view_only'] });
    expect(onOther.status).toBe(201);

    expect((await lead.patch(`/api/v1/assignments/${onListed.body.id}`, { note: 'mine' })).status).toBe(200);
    expect((await lead.patch(`/api/v1/assignments/${onOther.body.id}`, { note: 'not mine' })).status).toBe(403);
    expect((await lead.delete(`/api/v1/assignments/${onOther.body.id}`)).status).toBe(403);
    const listed = await lead.get(`/api/v1/assignments?userId=${rw.id}`);
    expect(listed.body.assignments.map((a: { id: string }) => a.id)).toEqual([onListed.body.id]);
    expect((await lead.get(`/api/v1/machines/${m.a1}/assignments`)).status).toBe(200);
    expect((await lead.get(`/api/v1/machines/${m.a1b}/assignments`)).status).toBe(403);
    expect((await lead.delete(`/api/v1/assignments/${onListed.body.id}`)).status).toBe(204);
  });

  it('changes rights, note and expiry (null clears), audited', async () => {
    const rw = await createUser(server, { role: 'remote_workforce' });
    const expiresAt = new Date(Date.now() + 3600_000).toISOString();
    const created = await admin.post(`/api/v1/machines/${m.a2}/assignments`, { userId: rw.id, rights: ['terminal'], note: 'temp', expiresAt });
    expect(created.status).toBe(201);
    expect(created.body.expiresAt).toBe(expiresAt);

    const changed = await admin.patch(`/api/v1/assignments/${created.body.id}`, { rights: ['view_only', 'files'], note: null, expiresAt: null });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ rights: ['view_only', 'files'], note: null, expiresAt: null, expired: false });
    const [event] = (await auditRows('assignment.update')).filter((e) => e.targetId === created.body.id);
    expect(event.details).toMatchObject({ machineId: m.a2, userId: rw.id, rights: ['view_only', 'files'], expiresAt: null });

    expect((await admin.patch(`/api/v1/assignments/${created.body.id}`, {})).status).toBe(400);
    expect((await admin.patch(`/api/v1/assignments/${created.body.id}`, { userId: adminId })).status).toBe(400);
    expect((await admin.patch(`/api/v1/assignments/${created.body.id}`, { expiresAt: '2001-01-01T00:00:00Z' })).status).toBe(400);
    expect((await admin.patch('/api/v1/assignments/00000000-0000-4000-8000-000000000000', { note: 'x' })).status).toBe(404);
  });

  it('unassigning removes access on the next request, audited', async () => {
    const rwUser = await createUser(server, { role: 'remote_workforce' });
    const created = await admin.post(`/api/v1/machines/${m.b1}/assignments`, { userId: rwUser.id, rights: ['terminal'] });
    const rw = await loginAs(server, rwUser.email);
    expect((await rw.get(`/api/v1/machines/${m.b1}`)).status).toBe(200);

    const del = await admin.delete(`/api/v1/assignments/${created.body.id}`);
    expect(del.status).toBe(204);
    const after = await rw.get(`/api/v1/machines/${m.b1}`);
    expect(after.status).toBe(403);
    expect(after.body.error.message).toContain('not assigned');
    const [event] = (await auditRows('assignment.delete')).filter((e) => e.targetId === created.body.id);
    expect(event.details).toMatchObject({ machineId: m.b1, userId: rwUser.id, rights: ['terminal'] });
    expect((await admin.delete(`/api/v1/assignments/${created.body.id}`)).status).toBe(404);
  });

  it('lists: managers see assignments on machines they manage, an assignee sees their own, filters apply', async () => {
    const rwUser = await createUser(server, { role: 'remote_workforce' });
    const first = await admin.post(`/api/v1/machines/${m.a1}/assignments`, { userId: rwUser.id, rights: ['terminal'] });
    await assignMachine(server, rwUser.id, m.b1, ['view_only'], new Date(Date.now() - 1000));
    const rw = await loginAs(server, rwUser.email);

    const own = await rw.get('/api/v1/assignments');
    expect(own.status).toBe(200);
    expect(own.body.assignments.map((a: { id: string }) => a.id)).toEqual([first.body.id]);
    // The expired one went with the machine: the assignee can no longer see b1, so not its assignment either.
    const withExpired = await rw.get('/api/v1/assignments?includeExpired=true');
    expect(withExpired.body.assignments.map((a: { machineId: string }) => a.machineId)).toEqual([m.a1]);
    const managerView = await admin.get(`/api/v1/assignments?userId=${rwUser.id}&includeExpired=true`);
    expect(managerView.body.assignments.map((a: { machineId: string; expired: boolean }) => [a.machineId, a.expired])).toEqual([
      [m.a1, false],
      [m.b1, true],
    ]);
    // Without Allow Remote Control Access the assignee still sees the machine, so the assignment too.
    await db().update(users).set({ allowRemoteControl: false }).where(eq(users.id, rwUser.id));
    expect((await rw.get('/api/v1/assignments')).body.assignments).toHaveLength(1);
    // Someone else's assignments stay hidden from an assignee, whatever the filter says.
    expect((await rw.get(`/api/v1/assignments?machineId=${m.a1b}`)).body.assignments).toEqual([]);
    expect((await rw.get(`/api/v1/machines/${m.a1}/assignments`)).status).toBe(403);

    const all = await admin.get('/api/v1/assignments');
    expect(all.body.assignments.length).toBeGreaterThan(3);
    const bySite = await admin.get(`/api/v1/assignments?siteId=${ids.siteA1}`);
    expect(bySite.body.assignments.length).toBeGreaterThan(0);
    expect(bySite.body.assignments.every((a: { siteId: string }) => a.siteId === ids.siteA1)).toBe(true);
    const byClient = await admin.get(`/api/v1/assignments?clientId=${ids.clientB}&includeExpired=true`);
    expect(byClient.body.assignments.every((a: { clientId: string }) => a.clientId === ids.clientB)).toBe(true);
    expect(byClient.body.assignments.some((a: { userId: string }) => a.userId === rwUser.id)).toBe(true);
    expect((await admin.get('/api/v1/assignments?sort=id')).status).toBe(400);
    expect((await admin.get("/api/v1/assignments?userId=1' or '1'='1")).status).toBe(400);

    const machineList = await admin.get(`/api/v1/machines/${m.a1}/assignments`);
    expect(machineList.status).toBe(200);
    expect(machineList.body.assignments.every((a: { machineId: string }) => a.machineId === m.a1)).toBe(true);
  });

  it('an assignment expiring 2 s ahead stops working by itself', async () => {
    const rwUser = await createUser(server, { role: 'remote_workforce' });
    const rw = await loginAs(server, rwUser.email);
    const expiresAt = new Date(Date.now() + 2000);
    const created = await admin.post(`/api/v1/machines/${m.a2}/assignments`, { userId: rwUser.id, rights: ['terminal'], expiresAt: expiresAt.toISOString() });
    expect(created.status).toBe(201);
    expect((await rw.get(`/api/v1/machines/${m.a2}`)).status).toBe(200);
    expect((await rw.get('/api/v1/machines')).body.machines.map((x: { id: string }) => x.id)).toEqual([m.a2]);

    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt.getTime() - Date.now()) + 100));
    const after = await rw.get(`/api/v1/machines/${m.a2}`);
    expect(after.status).toBe(403);
    expect(after.body.error.message).toContain('assignment expired');
    expect((await rw.get('/api/v1/machines')).body.machines).toEqual([]);
    expect((await rw.get('/api/v1/assignments')).body.assignments).toEqual([]);
    const rows = await db().select().from(auditEvents).where(and(eq(auditEvents.action, 'access.denied'), eq(auditEvents.actorId, rwUser.id)));
    expect(rows.map((r) => (r.details as { reason: string }).reason)).toEqual([`assignment expired at ${expiresAt.toISOString()}`]);
  });
});
