import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, credentialAccounts, credentialJobs, credentialPolicies } from '../../server/db/schema.ts';
import { setupAdmin, type Api } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createMachine, createUser, grantSiteAccess, loginAs } from '../helpers/users.ts';

/**
 * Site credential policies over the real API and database: "apply to all my sites" reaches exactly the sites the
 * caller may manage, setup locks a site's settings, desktop credentials can start enabled on future sites, and the
 * server-side qualification explains itself per machine.
 */
const body = (changes: { server?: object; desktop?: object; rotation?: object } = {}) => ({
  server: { enabled: false, username: 'NOC_HelpDesk', nocAccessLevel: 1, serviceLevel: 'elite', ...changes.server },
  desktop: { enabled: false, ...changes.desktop },
  rotation: { mode: 'characters', length: 20, classes: ['lower', 'upper', 'digit', 'symbol'], passphraseWords: 6, maxAgeDays: 30, rotateAfterUseMinutes: 60, historyDepth: 5, rotateOnAccessRevoked: true, ...changes.rotation },
});
const { username: _u, ...bulkServer } = body().server;

describe.each(backends())('credential policies on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  const siteIds: string[] = [];

  beforeAll(async () => {
    server = await startTestServer({ backend, env: { STEWARD_CREDENTIAL_TICK_SECONDS: '3600' } });
    ({ api: admin } = await setupAdmin(server));
    for (let c = 0; c < 5; c++) {
      const client = await admin.post('/api/v1/clients', { name: `Client ${c}` });
      for (let s = 0; s < 10; s++) siteIds.push((await admin.post(`/api/v1/clients/${client.body.id}/sites`, { name: `Site ${s}` })).body.id);
    }
  }, 60_000);
  afterAll(() => server?.close());

  it('"apply to all my sites" by a technician who reaches 3 of 50 sites changes exactly those 3', async () => {
    const tech = await createUser(server, { role: 'technician' });
    const mine = [siteIds[3], siteIds[17], siteIds[42]];
    for (const siteId of mine) await grantSiteAccess(server, tech.id, siteId, 'all');
    const api = await loginAs(server, tech.email);
    const res = await api.post('/api/v1/credential-policy/apply-to-my-sites', { server: bulkServer, desktop: { enabled: true }, rotation: body().rotation });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect([...res.body.applied].sort()).toEqual([...mine].sort());
    const enabled = (await server.running.ctx.db.select().from(credentialPolicies).where(eq(credentialPolicies.desktopEnabled, true))).map((p) => p.siteId);
    expect(enabled.sort()).toEqual([...mine].sort());
    // And a site outside their reach cannot be changed one by one either.
    expect((await api.put(`/api/v1/sites/${siteIds[0]}/credential-policy`, body({ desktop: { enabled: true } }))).status).toBe(403);
  });

  it('a Super Admin applies to all 50; sites whose setup is in progress are left alone and listed', async () => {
    const res = await admin.post('/api/v1/credential-policy/apply-to-my-sites', { server: bulkServer, desktop: { enabled: true }, rotation: body().rotation });
    expect(res.status).toBe(200);
    // The technician's three sites started setup above and are still in progress (no machine has reported back).
    expect(res.body.locked.length + res.body.applied.length).toBe(50);
    expect(res.body.applied.length).toBe(47);
  });

  it('keeps each site\'s own NOC account name: the name changes per site only', async () => {
    const siteId = siteIds[5];
    await server.running.ctx.db.update(credentialPolicies).set({ setupCompletedAt: new Date() }).where(eq(credentialPolicies.siteId, siteId));
    expect((await admin.put(`/api/v1/sites/${siteId}/credential-policy`, body({ server: { username: 'NOC_Acme' } }))).status).toBe(200);
    await server.running.ctx.db.update(credentialPolicies).set({ setupCompletedAt: new Date() });
    await admin.post('/api/v1/credential-policy/apply-to-my-sites', { server: bulkServer, desktop: { enabled: true }, rotation: { ...body().rotation, length: 24 } });
    const policy = (await admin.get(`/api/v1/sites/${siteId}/credential-policy`)).body;
    expect(policy.server.username).toBe('NOC_Acme');
    expect(policy.rotation.length).toBe(24);
  });

  it('explains, per machine, why a server is not qualified before any agent is asked', async () => {
    const siteId = siteIds[7];
    const srv = await createMachine(server, siteId, 'srv-7', 'server');
    const member = await createMachine(server, siteId, 'member-7', 'server');
    await server.running.ctx.db.update(credentialPolicies).set({ setupCompletedAt: new Date() });
    const { machines } = await import('../../server/db/schema.ts');
    await server.running.ctx.db.update(machines).set({ domainRole: 'member', inventory: { domain: 'corp.test' } }).where(eq(machines.id, member.id));
    const put = await admin.put(`/api/v1/sites/${siteId}/credential-policy`, body({ server: { enabled: true, nocAccessLevel: 0, serviceLevel: 'standard' } }));
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    const status = (await admin.get(`/api/v1/sites/${siteId}/credential-status`)).body;
    const own = status.machines.find((m: { machineId: string }) => m.machineId === srv.id);
    expect(own.status).toBe('not_qualified');
    expect(own.reasons.join(' ')).toMatch(/NOC access level 0/);
    expect(own.reasons.join(' ')).toMatch(/service level 'standard' is not eligible/);
    const memberRow = status.machines.find((m: { machineId: string }) => m.machineId === member.id);
    expect(memberRow.reasons.join(' ')).toMatch(/member of domain 'corp.test', but no agent in this site runs on a domain controller/);
    expect(status.server.status).toBe('not_qualified');
  });

  it('member servers are covered by the domain account of their DC; only the DC gets a job', async () => {
    const siteId = siteIds[8];
    const dc = await createMachine(server, siteId, 'dc-8', 'server');
    const member = await createMachine(server, siteId, 'member-8', 'server');
    const { machines } = await import('../../server/db/schema.ts');
    await server.running.ctx.db.update(machines).set({ domainRole: 'domain_controller', inventory: { domain: 'corp.test' } }).where(eq(machines.id, dc.id));
    await server.running.ctx.db.update(machines).set({ domainRole: 'member', inventory: { domain: 'CORP.TEST' } }).where(eq(machines.id, member.id));
    await server.running.ctx.db.update(credentialPolicies).set({ setupCompletedAt: new Date() });
    expect((await admin.put(`/api/v1/sites/${siteId}/credential-policy`, body({ server: { enabled: true, nocAccessLevel: 2 } }))).status).toBe(200);
    const [dcAccount] = await server.running.ctx.db.select().from(credentialAccounts).where(eq(credentialAccounts.machineId, dc.id));
    const [memberAccount] = await server.running.ctx.db.select().from(credentialAccounts).where(eq(credentialAccounts.machineId, member.id));
    expect(dcAccount).toMatchObject({ scope: 'domain', status: 'in_progress', coveredBy: null });
    expect(memberAccount).toMatchObject({ scope: 'domain', coveredBy: dcAccount.id });
    expect(memberAccount.reasons[0]).toContain('covered by the domain account corp.test\\NOC_HelpDesk created on domain controller dc-8');
    const jobs = await server.running.ctx.db.select().from(credentialJobs);
    expect(jobs.filter((j) => j.machineId === dc.id)).toHaveLength(1);
    expect(jobs.filter((j) => j.machineId === member.id)).toHaveLength(0);
  });

  it('plans a machine enrolled later into an enabled site at the next round, with no one asking', async () => {
    const siteId = siteIds[11];
    await server.running.ctx.db.update(credentialPolicies).set({ setupCompletedAt: new Date() });
    expect((await admin.put(`/api/v1/sites/${siteId}/credential-policy`, body({ desktop: { enabled: true } }))).status).toBe(200);
    const late = await createMachine(server, siteId, 'late-desk', 'desktop');
    expect(await server.running.ctx.db.select().from(credentialAccounts).where(eq(credentialAccounts.machineId, late.id))).toEqual([]);
    await server.running.rotations.tick();
    const [account] = await server.running.ctx.db.select().from(credentialAccounts).where(eq(credentialAccounts.machineId, late.id));
    expect(account).toMatchObject({ purpose: 'remote_support', username: 'remote-support', status: 'in_progress' });
    const jobs = await server.running.ctx.db.select().from(credentialJobs).where(eq(credentialJobs.machineId, late.id));
    expect(jobs.map((j) => [j.reason, j.state])).toEqual([['setup', 'queued']]);
  });

  it('fails a setup job whose agent never came before its deadline, with the reason, the account and the audit saying so', async () => {
    const siteId = siteIds[12];
    await server.running.ctx.db.update(credentialPolicies).set({ setupCompletedAt: new Date() });
    const offline = await createMachine(server, siteId, 'never-online', 'desktop');
    expect((await admin.put(`/api/v1/sites/${siteId}/credential-policy`, body({ desktop: { enabled: true } }))).status).toBe(200);
    await server.running.rotations.tick();
    const [job] = await server.running.ctx.db.select().from(credentialJobs).where(eq(credentialJobs.machineId, offline.id));
    expect([job.reason, job.state]).toEqual(['setup', 'queued']);
    expect((await server.running.ctx.db.select().from(credentialJobs).where(eq(credentialJobs.id, job.id)))[0].state, 'before its deadline it waits').toBe('queued');
    await server.running.ctx.db.update(credentialJobs).set({ deadlineAt: new Date(Date.now() - 1000) }).where(eq(credentialJobs.id, job.id));
    await server.running.rotations.tick();
    const [failed] = await server.running.ctx.db.select().from(credentialJobs).where(eq(credentialJobs.id, job.id));
    expect(failed.state).toBe('failed');
    expect(failed.lastError).toMatch(/the agent was not online to run the job before/);
    const status = await admin.get(`/api/v1/sites/${siteId}/credential-status`);
    const machine = status.body.machines.find((m: { machineId: string }) => m.machineId === offline.id);
    expect(machine).toMatchObject({ status: 'failed', rotation: null });
    expect(machine.reasons[0]).toMatch(/not online/);
    const audit = await server.running.ctx.db.select().from(auditEvents).where(and(eq(auditEvents.action, 'credential.create'), eq(auditEvents.targetId, offline.id)));
    expect(audit.map((a) => a.outcome)).toEqual(['failure']);
  });

  it('a new site starts with desktop credentials enabled once a Super Admin said so for future sites; others may not say so', async () => {
    const tech = await createUser(server, { role: 'technician' });
    const api = await loginAs(server, tech.email);
    expect((await api.put('/api/v1/credential-settings', { eligibleServiceLevels: ['elite'], desktopEnabledForFutureSites: true })).status).toBe(403);
    expect((await admin.put('/api/v1/credential-settings', { eligibleServiceLevels: ['elite', 'premium'], desktopEnabledForFutureSites: true })).status).toBe(200);
    const client = await admin.post('/api/v1/clients', { name: 'Future client' });
    const site = await admin.post(`/api/v1/clients/${client.body.id}/sites`, { name: 'Future site' });
    const policy = (await admin.get(`/api/v1/sites/${site.body.id}/credential-policy`)).body;
    expect(policy.desktop.enabled).toBe(true);
    expect(policy.setup.state).toBe('in_progress');
  });

  it('refuses bad input with a clear error and changes nothing', async () => {
    const siteId = siteIds[9];
    await server.running.ctx.db.update(credentialPolicies).set({ setupCompletedAt: new Date() });
    const before = (await admin.get(`/api/v1/sites/${siteId}/credential-policy`)).body;
    for (const [bad, pattern] of [
      [body({ rotation: { length: 8 } }), /length/],
      [body({ rotation: { maxAgeDays: 0 } }), /maxAgeDays/],
      [body({ server: { nocAccessLevel: 4 } }), /nocAccessLevel/],
      [body({ server: { username: 'has space' } }), /username/],
      [{ ...body(), extra: true }, /extra is not allowed/],
    ] as const) {
      const res = await admin.put(`/api/v1/sites/${siteId}/credential-policy`, bad);
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body.error.message).toMatch(pattern);
    }
    expect((await admin.get(`/api/v1/sites/${siteId}/credential-policy`)).body).toEqual(before);
  });
});
