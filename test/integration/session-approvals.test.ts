import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, sessions } from '../../server/db/schema.ts';
import { enrollAgent, startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { createSiteWithToken, setupAdmin, waitFor, type Api } from '../helpers/api.ts';
import { attachConsole } from '../helpers/console.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createUser, grantSiteAccess, loginAs } from '../helpers/users.ts';

/**
 * Site session policy and approvals: on a server of a site that requires approval, a session request waits for a
 * user with sessions.approve over the machine (never the requester), approval sets a maximum duration that the
 * grant carries to the agent, and a denied or expired request cannot start.
 */
describe.each(backends())('session approvals on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  let tech: Api & { token: string };
  let approver: Api & { token: string };
  let agent: AgentProcess;
  let machineId: string;
  let siteId: string;

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api: admin } = await setupAdmin(server));
    const site = await createSiteWithToken(admin);
    siteId = site.siteId;
    const enrolled = await enrollAgent(server.url, site.token);
    machineId = enrolled.machineId;
    agent = startAgent(enrolled.stateDir, { STEWARD_AGENT_KIND: 'server' });
    await waitFor(async () => {
      const m = (await admin.get(`/api/v1/machines/${machineId}`)).body;
      return m.online && m.kind === 'server';
    }, 20_000, 'server agent online');
    const techUser = await createUser(server, { role: 'technician' });
    await grantSiteAccess(server, techUser.id, siteId, 'all');
    tech = await loginAs(server, techUser.email);
    const approverUser = await createUser(server, { role: 'admin' });
    approver = await loginAs(server, approverUser.email);
  });
  afterAll(async () => {
    await agent?.stop();
    await server?.close();
  });

  it('reads the defaults, validates and audits a policy change, and only site administrators may change it', async () => {
    expect((await tech.get(`/api/v1/sites/${siteId}/session-policy`)).body).toMatchObject({ serverApproval: false, desktopConsent: 'none', runAs: 'agent', updatedAt: null });
    const policy = { desktopConsent: 'none', serverApproval: true, approvalMaxMinutes: 30, runAs: 'agent', recordInput: true };
    expect((await tech.put(`/api/v1/sites/${siteId}/session-policy`, policy)).status).toBe(403);
    const bad = await admin.put(`/api/v1/sites/${siteId}/session-policy`, { ...policy, approvalMaxMinutes: 0 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/approvalMaxMinutes/);
    const saved = await admin.put(`/api/v1/sites/${siteId}/session-policy`, policy);
    expect(saved.status).toBe(200);
    expect(saved.body).toMatchObject(policy);
    const [audit] = await server.running.ctx.db.select().from(auditEvents).where(eq(auditEvents.action, 'site.session_policy'));
    expect(audit.details).toMatchObject({ before: { serverApproval: false }, after: { serverApproval: true } });
  });

  it('holds a request on a server until someone else approves it, then the requester starts it within the approved time', async () => {
    const requested = await tech.post(`/api/v1/machines/${machineId}/sessions`, { kind: 'terminal', cols: 80, rows: 24 });
    expect(requested.status).toBe(202);
    expect(requested.body.status).toBe('awaiting_approval');
    const id = requested.body.id as string;
    expect((await tech.post(`/api/v1/sessions/${id}/start`, { cols: 80, rows: 24 })).status).toBe(409);
    expect((await tech.get('/api/v1/session-requests')).status).toBe(403); // technicians do not hold sessions.approve
    const pending = await approver.get('/api/v1/session-requests');
    expect(pending.body.requests.map((r: { id: string }) => r.id)).toContain(id);

    const approved = await approver.post(`/api/v1/session-requests/${id}/approve`, { reason: 'change window CHG-1', maxMinutes: 10 });
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ status: 'approved', decisionReason: 'change window CHG-1' });
    const minutes = (Date.parse(approved.body.endsAt) - Date.now()) / 60_000;
    expect(minutes).toBeGreaterThan(9);
    expect(minutes).toBeLessThanOrEqual(10);
    expect((await approver.post(`/api/v1/session-requests/${id}/deny`, { reason: 'too late' })).status).toBe(409);
    expect((await approver.post(`/api/v1/sessions/${id}/start`, { cols: 80, rows: 24 })).status).toBe(403); // not the requester

    const started = await tech.post(`/api/v1/sessions/${id}/start`, { cols: 80, rows: 24 });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    expect(started.body.status).toBe('active');
    const term = await attachConsole(server.url, id, { token: tech.token });
    term.type('echo approved-$((1+1))\r');
    await term.waitForOutput('approved-2');
    term.type('exit\r');
    await term.waitForMessage('ended');
    // Connection events (start, join) are audited in batches a few milliseconds later.
    const expected = ['session.request', 'session.approve', 'session.start', 'session.join'];
    const actions = await waitFor(async () => {
      const rows = (await server.running.ctx.db.select().from(auditEvents).where(eq(auditEvents.targetId, id))).map((r) => r.action);
      return expected.every((a) => rows.includes(a)) ? rows : null;
    }, 5000, 'session audit rows');
    expect(actions).toEqual(expect.arrayContaining(expected));
  });

  it('nobody approves their own request; a denied request never starts', async () => {
    const own = await approver.post(`/api/v1/machines/${machineId}/sessions`, { kind: 'terminal', cols: 80, rows: 24 });
    expect(own.status).toBe(202);
    const self = await approver.post(`/api/v1/session-requests/${own.body.id}/approve`, {});
    expect(self.status).toBe(403);
    expect(self.body.error.message).toMatch(/own session request/);
    const denied = await admin.post(`/api/v1/session-requests/${own.body.id}/deny`, { reason: 'no ticket' });
    expect(denied.body).toMatchObject({ status: 'denied', decisionReason: 'no ticket' });
    expect((await approver.post(`/api/v1/sessions/${own.body.id}/start`, { cols: 80, rows: 24 })).status).toBe(409);
  });

  it('ends an approved session when its approved time is over (the agent enforces the grant)', async () => {
    const requested = await tech.post(`/api/v1/machines/${machineId}/sessions`, { kind: 'terminal', cols: 80, rows: 24 });
    await approver.post(`/api/v1/session-requests/${requested.body.id}/approve`, {});
    // Shorten the approval to a few seconds (the API's minimum is a minute).
    await server.running.ctx.db.update(sessions).set({ endsAt: sql`now() + interval '3 seconds'` }).where(eq(sessions.id, requested.body.id));
    const started = await tech.post(`/api/v1/sessions/${requested.body.id}/start`, { cols: 80, rows: 24 });
    expect(started.status).toBe(201);
    const term = await attachConsole(server.url, requested.body.id, { token: tech.token });
    await term.waitForMessage('joined');
    const ended = await term.waitForMessage('ended', 8000);
    expect(ended.reason).toMatch(/approved time|maximum duration/);
    const expired = await tech.post(`/api/v1/machines/${machineId}/sessions`, { kind: 'terminal', cols: 80, rows: 24 });
    await approver.post(`/api/v1/session-requests/${expired.body.id}/approve`, {});
    await server.running.ctx.db.update(sessions).set({ endsAt: sql`now() - interval '1 second'` }).where(eq(sessions.id, expired.body.id));
    const late = await tech.post(`/api/v1/sessions/${expired.body.id}/start`, { cols: 80, rows: 24 });
    expect(late.status).toBe(409);
    expect(late.body.error.message).toMatch(/expired/);
  });
});
