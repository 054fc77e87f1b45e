import { parse } from 'csv-parse/sync';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create } from 'xmlbuilder2';
import { assignments, auditEvents, users } from '../../server/db/schema.ts';
import { apiClient, setupAdmin, type Api } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { assignMachine, createMachine, createUser, grantClientAccess, grantSiteAccess, loginAs, createTwoClientWorld } from '../helpers/users.ts';

/** The machine assignment report and the access review: formats, scope, authorization, audit, stale grants. */
describe.each(backends())('reports on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  let adminId: string;
  const ids = { clientA: '', siteA1: '', siteA2: '', clientB: '', siteB1: '' };
  const m = { a1: '', a2: '', b1: '' };
  const u = { rw: '', rwEmail: '', contact: '', old: '', disabled: '' };
  const db = () => server.running.ctx.db;
  const today = () => new Date().toISOString().slice(0, 10);

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api: admin, userId: adminId } = await setupAdmin(server));
    await createTwoClientWorld(server, admin, ids, m, { hostname: 'b1-srv', kind: 'server' });

    const rw = await createUser(server, { role: 'remote_workforce', name: 'Rita Remote' });
    u.rw = rw.id;
    u.rwEmail = rw.email;
    for (const machineId of [m.a1, m.a2, m.b1]) {
      const res = await admin.post(`/api/v1/machines/${machineId}/assignments`, { userId: rw.id, rights: ['terminal', 'view_only'], note: `note ${machineId.slice(0, 4)}` });
      expect(res.status).toBe(201);
    }
    const contact = await createUser(server, { role: 'client_end_user', clientId: ids.clientA, name: 'Carl Contact' });
    u.contact = contact.id;
    await assignMachine(server, contact.id, m.a1, ['view_only'], new Date(Date.now() - 60_000));
  });
  afterAll(async () => {
    await server?.close();
  });

  it('defaults to JSON: {generatedAt, rows} as an attachment, audited with format and row count', async () => {
    const res = await admin.get('/api/v1/reports/assignments');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="machine-assignments-${today()}.json"`);
    expect(Date.parse(res.body.generatedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(res.body.rows).toHaveLength(4);
    expect(res.body.rows[0]).toEqual({
      client: 'Acme',
      site: 'A1',
      machine: 'a1-desk',
      machineId: m.a1,
      user: 'Carl Contact',
      email: expect.stringContaining('client_end_user-'),
      rights: ['view_only'],
      assignedBy: null,
      assignedAt: expect.any(String),
      expiresAt: expect.any(String),
      note: null,
      expired: true,
    });
    expect(res.body.rows[1]).toMatchObject({ machine: 'a1-desk', user: 'Rita Remote', rights: ['terminal', 'view_only'], assignedBy: 'admin@example.test', expired: false, expiresAt: null });
    const [event] = await db().select().from(auditEvents).where(and(eq(auditEvents.action, 'report.assignments'), eq(auditEvents.actorId, adminId)));
    expect(event.details).toMatchObject({ format: 'json', rows: 4 });
  });

  it('writes CSV (header row, CRLF), XML and HTML with the right types and file names', async () => {
    const csv = await admin.get('/api/v1/reports/assignments?format=csv');
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(csv.headers.get('content-disposition')).toBe(`attachment; filename="machine-assignments-${today()}.csv"`);
    expect(csv.body.split('\r\n')[0]).toBe('"Client","Site","Machine","Machine ID","User","Email","Rights","Assigned by","Assigned at","Expires at","Note","Expired"');
    const records = parse(csv.body, { columns: true }) as Record<string, string>[];
    expect(records).toHaveLength(4);
    expect(records[1]).toMatchObject({ Client: 'Acme', Machine: 'a1-desk', User: 'Rita Remote', Rights: 'terminal; view_only', 'Assigned by': 'admin@example.test', Expired: 'false' });

    const xml = await admin.get('/api/v1/reports/assignments?format=xml');
    expect(xml.headers.get('content-type')).toBe('application/xml; charset=utf-8');
    expect(xml.headers.get('content-disposition')).toBe(`attachment; filename="machine-assignments-${today()}.xml"`);
    expect(xml.body.startsWith('<?xml version="1.0" encoding="UTF-8"?>')).toBe(true);
    const root = create(xml.body).root().node as unknown as Element;
    expect(root.nodeName).toBe('machineAssignments');
    const rows = Array.from(root.getElementsByTagName('assignment'));
    expect(rows).toHaveLength(4);
    expect(Array.from(rows[1].getElementsByTagName('right')).map((r) => r.textContent)).toEqual(['terminal', 'view_only']);
    expect(rows[1].getElementsByTagName('machineId')[0].textContent).toBe(m.a1);

    const html = await admin.get('/api/v1/reports/assignments?format=html');
    expect(html.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(html.headers.get('content-disposition')).toBe(`attachment; filename="machine-assignments-${today()}.html"`);
    expect(html.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(html.body).toMatch(/^<!DOCTYPE html>/);
    expect(html.body).toContain('<title>Machine assignments</title>');
    expect(html.body).toContain('<thead><tr><th scope="col">Client</th>');
    expect(html.body.match(/<tr><td>/g)).toHaveLength(4);

    const formats = (await db().select().from(auditEvents).where(eq(auditEvents.action, 'report.assignments'))).map((e) => (e.details as { format: string }).format);
    expect(formats).toEqual(expect.arrayContaining(['csv', 'xml', 'html']));
    expect((await admin.get('/api/v1/reports/assignments?format=pdf')).status).toBe(400);
    expect((await admin.get('/api/v1/reports/assignments?orderBy=1')).status).toBe(400);
    expect((await admin.get("/api/v1/reports/assignments?clientId=x' or 1=1 --")).status).toBe(400);
  });

  it('filters by client, site and user', async () => {
    const byClient = await admin.get(`/api/v1/reports/assignments?clientId=${ids.clientB}`);
    expect(byClient.body.rows.map((r: { machineId: string }) => r.machineId)).toEqual([m.b1]);
    const bySite = await admin.get(`/api/v1/reports/assignments?siteId=${ids.siteA2}`);
    expect(bySite.body.rows.map((r: { machineId: string }) => r.machineId)).toEqual([m.a2]);
    const byUser = await admin.get(`/api/v1/reports/assignments?userId=${u.contact}`);
    expect(byUser.body.rows.map((r: { user: string }) => r.user)).toEqual(['Carl Contact']);
  });

  it('a technician who reaches 1 site of 2 sees only that site\'s rows, in both reports', async () => {
    const techUser = await createUser(server, { role: 'technician' });
    await grantSiteAccess(server, techUser.id, ids.siteA1, 'all');
    const tech = await loginAs(server, techUser.email);
    const report = await tech.get('/api/v1/reports/assignments');
    expect(report.status).toBe(200);
    expect(report.body.rows.length).toBe(2);
    expect(report.body.rows.every((r: { site: string }) => r.site === 'A1')).toBe(true);
    // A filter cannot widen the scope.
    expect((await tech.get(`/api/v1/reports/assignments?siteId=${ids.siteA2}`)).body.rows).toEqual([]);

    const review = await tech.get('/api/v1/reports/access-review');
    expect(review.status).toBe(200);
    expect(new Set(review.body.rows.map((r: { machineId: string }) => r.machineId))).toEqual(new Set([m.a1]));
    const [event] = await db().select().from(auditEvents).where(and(eq(auditEvents.action, 'report.access_review'), eq(auditEvents.actorId, techUser.id)));
    expect(event.details).toMatchObject({ format: 'json', rows: review.body.rows.length });
  });

  it('limited site access shows only the listed machines\' rows (the SQL pre-filter alone would show the whole site)', async () => {
    const extra = await createMachine(server, ids.siteA1, 'a1-extra');
    await assignMachine(server, u.rw, extra.id, ['terminal']);
    const techUser = await createUser(server, { role: 'technician' });
    await grantSiteAccess(server, techUser.id, ids.siteA1, 'limited', [m.a1]);
    const tech = await loginAs(server, techUser.email);
    const report = await tech.get('/api/v1/reports/assignments');
    expect(report.body.rows.map((r: { machine: string }) => r.machine)).toEqual(['a1-desk', 'a1-desk']);
    const review = await tech.get('/api/v1/reports/access-review');
    expect(new Set(review.body.rows.map((r: { machine: string }) => r.machine))).toEqual(new Set(['a1-desk']));
    expect((await admin.get('/api/v1/reports/assignments')).body.rows.some((r: { machine: string }) => r.machine === 'a1-extra')).toBe(true);
  });

  it('without reports.view: 403 and an access.denied audit row, for both reports', async () => {
    const rw = await loginAs(server, u.rwEmail);
    for (const path of ['/api/v1/reports/assignments?format=csv', '/api/v1/reports/access-review']) {
      const res = await rw.get(path);
      expect(res.status).toBe(403);
      expect(res.body.error.message).toContain('reports.view');
    }
    const denied = await db().select().from(auditEvents).where(and(eq(auditEvents.action, 'access.denied'), eq(auditEvents.actorId, u.rw)));
    expect(denied).toHaveLength(2);
    expect(denied[0]).toMatchObject({ outcome: 'failure', targetType: 'collection', targetId: 'reports' });
    expect((await apiClient(server.url).get('/api/v1/reports/assignments')).status).toBe(401);
  });

  it('access review: every grant kind, with last login, last use and stale reasons', async () => {
    const clientTech = await createUser(server, { role: 'technician', name: 'Cleo Client' });
    await grantClientAccess(server, clientTech.id, ids.clientB);
    await db().update(users).set({ lastLoginAt: new Date() }).where(eq(users.id, clientTech.id));
    const siteTech = await createUser(server, { role: 'technician', name: 'Sam Site' });
    await grantSiteAccess(server, siteTech.id, ids.siteB1, 'limited', [m.b1]);
    await db().update(users).set({ lastLoginAt: new Date(Date.now() - 100 * 86400_000) }).where(eq(users.id, siteTech.id));
    const gone = await createUser(server, { role: 'technician', name: 'Dora Disabled' });
    await grantSiteAccess(server, gone.id, ids.siteB1, 'all');
    await db().update(users).set({ disabledAt: new Date(), lastLoginAt: new Date() }).where(eq(users.id, gone.id));
    // Rita's assignment on b1: granted long ago and never used.
    await db().update(assignments).set({ assignedAt: new Date(Date.now() - 120 * 86400_000) }).where(and(eq(assignments.userId, u.rw), eq(assignments.machineId, m.b1)));
    await db().update(users).set({ lastLoginAt: new Date() }).where(eq(users.id, u.rw));

    const res = await admin.get(`/api/v1/reports/access-review?siteId=${ids.siteB1}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="access-review-${today()}.json"`);
    const rows = res.body.rows as Record<string, any>[];
    const row = (name: string, grant: string) => rows.find((r) => r.user === name && r.grant === grant);
    expect(rows.every((r) => r.machineId === m.b1)).toBe(true);

    expect(row('Ada Admin', 'role')).toMatchObject({ role: 'Super Admin', enabled: true, stale: false, staleReasons: [], lastUsedAt: null, grantedAt: null });
    expect(row('Cleo Client', 'client_access')).toMatchObject({ stale: false, staleReasons: [], rights: [] });
    expect(row('Sam Site', 'site_access_limited')).toMatchObject({ stale: true, staleReasons: ['no login in 90 days'] });
    expect(row('Dora Disabled', 'site_access_all')).toMatchObject({ enabled: false, stale: true, staleReasons: ['user disabled'] });
    expect(row('Rita Remote', 'assignment')).toMatchObject({
      rights: ['terminal', 'view_only'],
      expiresAt: null,
      lastUsedAt: null,
      stale: true,
      staleReasons: ['grant older than 90 days and unused'],
    });
    // A grant the role's scope ignores is listed as having no effect.
    const rwSite = await createUser(server, { role: 'remote_workforce', name: 'Ravi Unscoped' });
    await grantSiteAccess(server, rwSite.id, ids.siteB1, 'all');
    const again = await admin.get(`/api/v1/reports/access-review?siteId=${ids.siteB1}&userId=${rwSite.id}`);
    expect(again.body.rows).toEqual([
      expect.objectContaining({ user: 'Ravi Unscoped', grant: 'site_access_all', stale: true, staleReasons: ['user never logged in', expect.stringMatching(/^grant has no effect: machine is not assigned/)] }),
    ]);

    // The expired assignment of the contact on a1.
    const a1 = await admin.get(`/api/v1/reports/access-review?siteId=${ids.siteA1}&userId=${u.contact}&format=csv`);
    const records = parse(a1.body, { columns: true }) as Record<string, string>[];
    expect(records).toEqual([expect.objectContaining({ User: 'Carl Contact', Grant: 'assignment', Stale: 'true', 'Stale reasons': 'assignment expired; user never logged in' })]);
    const xml = await admin.get(`/api/v1/reports/access-review?siteId=${ids.siteA1}&userId=${u.contact}&format=xml`);
    const root = create(xml.body).root().node as unknown as Element;
    expect(root.nodeName).toBe('accessReview');
    expect(Array.from(root.getElementsByTagName('reason')).map((r) => r.textContent)).toEqual(['assignment expired', 'user never logged in']);
  });
});
