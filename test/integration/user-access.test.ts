import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupAdmin, type Api } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { assignMachine, createMachine, createUser, loginAs } from '../helpers/users.ts';

/**
 * Grants of scope through the API: site access (all / limited to listed machines of that site) and client access
 * (technicians), shown with an assignment summary, audited with before and after, effective on the next request.
 */
describe.each(backends())('user access grants on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  const ids = {} as Record<'clientA' | 'clientB' | 'siteA1' | 'siteA2' | 'siteB1' | 'm1' | 'm2' | 'm3' | 'm4', string>;
  let tech: { id: string; email: string };
  let techApi: Api;
  let contact: { id: string; email: string };
  const machinesSeen = async (api: Api) => ((await api.get('/api/v1/machines')).body.machines as { hostname: string }[]).map((m) => m.hostname).sort();
  const audit = async (action: string, targetId: string) =>
    (await admin.get(`/api/v1/audit?action=${action}&targetId=${targetId}`)).body.events as { outcome: string; details: any }[];

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api: admin } = await setupAdmin(server));
    ids.clientA = (await admin.post('/api/v1/clients', { name: 'Acme' })).body.id;
    ids.clientB = (await admin.post('/api/v1/clients', { name: 'Globex' })).body.id;
    ids.siteA1 = (await admin.post(`/api/v1/clients/${ids.clientA}/sites`, { name: 'HQ' })).body.id;
    ids.siteA2 = (await admin.post(`/api/v1/clients/${ids.clientA}/sites`, { name: 'Branch' })).body.id;
    ids.siteB1 = (await admin.post(`/api/v1/clients/${ids.clientB}/sites`, { name: 'HQ' })).body.id;
    ids.m1 = (await createMachine(server, ids.siteA1, 'a1-one')).id;
    ids.m2 = (await createMachine(server, ids.siteA1, 'a1-two', 'server')).id;
    ids.m3 = (await createMachine(server, ids.siteA2, 'a2-one')).id;
    ids.m4 = (await createMachine(server, ids.siteB1, 'b1-one')).id;
    tech = await createUser(server, { role: 'technician' });
    techApi = await loginAs(server, tech.email);
    contact = await createUser(server, { role: 'client_end_user', clientId: ids.clientA });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('site access "all" opens every machine of the site on the next request, and shows in the access view', async () => {
    expect(await machinesSeen(techApi)).toEqual([]);
    const res = await admin.put(`/api/v1/users/${tech.id}/site-access/${ids.siteA1}`, { resourceAccess: 'all' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ siteId: ids.siteA1, siteName: 'HQ', clientId: ids.clientA, clientName: 'Acme', resourceAccess: 'all', machines: [] });
    expect(await machinesSeen(techApi)).toEqual(['a1-one', 'a1-two']);

    const view = await admin.get(`/api/v1/users/${tech.id}/access`);
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({ userId: tech.id, kind: 'technician', clientAccess: [], assignments: { total: 0, active: 0, expired: 0 } });
    expect(view.body.siteAccess).toHaveLength(1);
    const [event] = await audit('user.site_access.put', tech.id);
    expect(event.details).toMatchObject({ siteId: ids.siteA1, before: null, after: { resourceAccess: 'all', machineIds: [] } });
  });

  it('replacing it with "limited" narrows to the listed machines at once; before and after are audited', async () => {
    const res = await admin.put(`/api/v1/users/${tech.id}/site-access/${ids.siteA1}`, { resourceAccess: 'limited', machineIds: [ids.m2, ids.m2] });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ resourceAccess: 'limited', machines: [{ id: ids.m2, hostname: 'a1-two' }] });
    expect(await machinesSeen(techApi)).toEqual(['a1-two']);
    const [latest] = await audit('user.site_access.put', tech.id);
    expect(latest.details).toMatchObject({ before: { resourceAccess: 'all', machineIds: [] }, after: { resourceAccess: 'limited', machineIds: [ids.m2] } });
  });

  it.each([
    ['limited without machines', { resourceAccess: 'limited' }, 'limited site access needs machineIds (at least one machine of the site)'],
    ['limited with an empty list', { resourceAccess: 'limited', machineIds: [] }, 'limited site access needs machineIds (at least one machine of the site)'],
    ['all with machines', { resourceAccess: 'all', machineIds: ['M1'] }, "site access 'all' covers every machine of the site; do not list machineIds"],
    ['a machine of another site', { resourceAccess: 'limited', machineIds: ['M1', 'M3'] }, 'machine M3 not in this site'],
    ['an unknown machine', { resourceAccess: 'limited', machineIds: ['00000000-0000-4000-8000-000000000009'] }, 'unknown machine 00000000-0000-4000-8000-000000000009'],
    ['an unknown field', { resourceAccess: 'all', expiresAt: '2030-01-01T00:00:00Z' }, 'body/expiresAt is not allowed'],
    ['a bad resourceAccess', { resourceAccess: 'some' }, 'body/resourceAccess must be equal to one of the allowed values'],
  ])('refuses %s with 400 and changes nothing', async (_what, body, message) => {
    const fill = (s: string) => s.replace('M1', ids.m1).replace('M3', ids.m3);
    const res = await admin.put(`/api/v1/users/${tech.id}/site-access/${ids.siteA1}`, JSON.parse(fill(JSON.stringify(body))));
    expect(res.status).toBe(400);
    expect(res.body.error.message).toBe(fill(message));
    expect(await machinesSeen(techApi)).toEqual(['a1-two']);
  });

  it('404 for an unknown user or site', async () => {
    const nobody = '00000000-0000-4000-8000-000000000001';
    expect((await admin.put(`/api/v1/users/${nobody}/site-access/${ids.siteA1}`, { resourceAccess: 'all' })).status).toBe(404);
    expect((await admin.put(`/api/v1/users/${tech.id}/site-access/${nobody}`, { resourceAccess: 'all' })).status).toBe(404);
    expect((await admin.get(`/api/v1/users/${nobody}/access`)).status).toBe(404);
  });

  it('removing site access takes effect at once; removing it again is 404', async () => {
    expect((await admin.delete(`/api/v1/users/${tech.id}/site-access/${ids.siteA1}`)).status).toBe(204);
    expect(await machinesSeen(techApi)).toEqual([]);
    const again = await admin.delete(`/api/v1/users/${tech.id}/site-access/${ids.siteA1}`);
    expect(again.status).toBe(404);
    expect(again.body.error.message).toBe('the user has no access to this site');
    const [event] = await audit('user.site_access.delete', tech.id);
    expect(event.details).toMatchObject({ siteId: ids.siteA1, before: { resourceAccess: 'limited', machineIds: [ids.m2] }, after: null });
  });

  it('client access covers every site of the client, present and future, and is idempotent', async () => {
    const res = await admin.put(`/api/v1/users/${tech.id}/client-access/${ids.clientA}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ clientId: ids.clientA, clientName: 'Acme' });
    expect((await admin.put(`/api/v1/users/${tech.id}/client-access/${ids.clientA}`)).status).toBe(200);
    expect(await machinesSeen(techApi)).toEqual(['a1-one', 'a1-two', 'a2-one']);
    const later = (await admin.post(`/api/v1/clients/${ids.clientA}/sites`, { name: 'New Branch' })).body.id;
    await createMachine(server, later, 'a3-new');
    expect(await machinesSeen(techApi)).toEqual(['a1-one', 'a1-two', 'a2-one', 'a3-new']);
    const view = await admin.get(`/api/v1/users/${tech.id}/access`);
    expect(view.body.clientAccess).toMatchObject([{ clientId: ids.clientA, clientName: 'Acme' }]);
    const events = await audit('user.client_access.put', tech.id);
    expect(events).toHaveLength(2);
    expect(events[1].details).toMatchObject({ clientId: ids.clientA, before: null, after: { clientId: ids.clientA } });

    expect((await admin.delete(`/api/v1/users/${tech.id}/client-access/${ids.clientA}`)).status).toBe(204);
    expect(await machinesSeen(techApi)).toEqual([]);
    expect((await admin.delete(`/api/v1/users/${tech.id}/client-access/${ids.clientA}`)).status).toBe(404);
    expect((await admin.put(`/api/v1/users/${tech.id}/client-access/00000000-0000-4000-8000-000000000002`)).status).toBe(404);
    expect(await audit('user.client_access.delete', tech.id)).toHaveLength(1);
  });

  it('a client user gets site access only within their own client, and never client access', async () => {
    const clientAccess = await admin.put(`/api/v1/users/${contact.id}/client-access/${ids.clientA}`);
    expect(clientAccess.status).toBe(400);
    expect(clientAccess.body.error.message).toBe('client access is for technicians; a client user belongs to their client and is given site access');
    expect((await admin.delete(`/api/v1/users/${contact.id}/client-access/${ids.clientA}`)).status).toBe(400);
    const foreign = await admin.put(`/api/v1/users/${contact.id}/site-access/${ids.siteB1}`, { resourceAccess: 'limited', machineIds: [ids.m4] });
    expect(foreign.status).toBe(400);
    expect(foreign.body.error.message).toBe('a client user may only get access to sites of their own client');

    const own = await admin.put(`/api/v1/users/${contact.id}/site-access/${ids.siteA1}`, { resourceAccess: 'limited', machineIds: [ids.m1] });
    expect(own.status).toBe(200);
    const contactApi = await loginAs(server, contact.email);
    expect(await machinesSeen(contactApi)).toEqual(['a1-one']);
  });

  it('the access view summarizes assignments, active and expired', async () => {
    await assignMachine(server, tech.id, ids.m1, ['terminal']);
    await assignMachine(server, tech.id, ids.m3, ['view_only'], new Date(Date.now() - 60_000));
    const view = await admin.get(`/api/v1/users/${tech.id}/access`);
    expect(view.body.assignments).toEqual({ total: 2, active: 1, expired: 1 });
  });

  it('only users.manage over the user opens these routes', async () => {
    for (const call of [
      () => techApi.get(`/api/v1/users/${contact.id}/access`),
      () => techApi.put(`/api/v1/users/${contact.id}/site-access/${ids.siteA1}`, { resourceAccess: 'all' }),
      () => techApi.delete(`/api/v1/users/${contact.id}/site-access/${ids.siteA1}`),
      () => techApi.put(`/api/v1/users/${tech.id}/client-access/${ids.clientA}`),
    ]) {
      const res = await call();
      expect(res.status).toBe(403);
      expect(res.body.error.message).toBe("role 'Technician' lacks permission users.manage");
    }
  });
});
