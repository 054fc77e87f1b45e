import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, users } from '../../server/db/schema.ts';
import { enrollAgent, startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { createSiteWithToken, setupAdmin, waitFor, type Api } from '../helpers/api.ts';
import { attachConsole } from '../helpers/console.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createUser, grantSiteAccess, loginAs } from '../helpers/users.ts';

/**
 * Two server replicas on one PostgreSQL database. The agent is connected to replica A, so A relays the session; a
 * console that reaches replica B is carried to A and works like a local one — typing, output, participants — and a
 * revocation made anywhere cuts it. Needs PostgreSQL (two processes cannot share an embedded database).
 */
const havePostgres = !!process.env.DATABASE_URL;
if (!havePostgres) console.warn('SKIPPED: cross-replica session tests: they need DATABASE_URL (two replicas on one PostgreSQL); CI sets it');

describe.skipIf(!havePostgres)('a session reached through another replica', () => {
  let db: TestDatabase;
  let a: TestServer;
  let b: TestServer;
  let admin: Api;
  let adminToken: string;
  let agent: AgentProcess;
  let machineId: string;
  let siteId: string;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    a = await startTestServer({ backend: 'postgres', db });
    ({ api: admin, token: adminToken } = await setupAdmin(a));
    b = await startTestServer({ backend: 'postgres', db });
    const site = await createSiteWithToken(admin);
    siteId = site.siteId;
    const enrolled = await enrollAgent(a.url, site.token);
    machineId = enrolled.machineId;
    agent = startAgent(enrolled.stateDir);
    await agent.waitForLog((l) => l.msg === 'connected to server', 20_000);
    await waitFor(async () => (await admin.get(`/api/v1/machines/${machineId}`)).body.online, 20_000, 'agent online');
  });
  afterAll(async () => {
    await agent?.stop();
    await b?.close();
    await a?.close();
    await db?.drop();
  });

  it('carries a console from replica B to the session relayed by A: keystrokes, output, participants', async () => {
    const opened = await admin.post(`/api/v1/machines/${machineId}/sessions`, { kind: 'terminal', cols: 80, rows: 24 });
    expect(opened.status, JSON.stringify(opened.body)).toBe(201);
    expect(a.running.ctx.sessions.get(opened.body.id)).toBeDefined();
    expect(b.running.ctx.sessions.get(opened.body.id)).toBeUndefined();

    const viaB = await attachConsole(b.url, opened.body.id, { token: adminToken });
    expect((await viaB.waitForMessage('joined')).you.role).toBe('owner');
    viaB.type('echo across-$((20+22))\r');
    await viaB.waitForOutput('across-42');

    const tech = await createUser(b, { role: 'technician', name: 'Remote Rita' });
    await grantSiteAccess(b, tech.id, siteId, 'all');
    const techToken = (await loginAs(b, tech.email)).token;
    const second = await attachConsole(b.url, opened.body.id, { token: techToken });
    await second.waitForMessage('joined');
    await waitFor(async () => viaB.messages.some((m) => m.type === 'participants' && m.participants.some((p) => p.name === 'Remote Rita')), 5000, 'Rita in the participant list');

    // Revoked on B's side of the database: A re-authorizes and cuts her, and B passes the close on.
    const started = Date.now();
    await b.running.ctx.db.update(users).set({ disabledAt: new Date() }).where(eq(users.id, tech.id));
    const cut = await second.closed;
    expect(cut.code).toBe(4403);
    expect(Date.now() - started).toBeLessThan(1500);

    const proxied = await waitFor(async () => (await b.running.ctx.db.select().from(auditEvents).where(eq(auditEvents.action, 'session.proxy'))).length >= 2, 5000, 'session.proxy audit rows');
    expect(proxied).toBe(true);
    viaB.type('exit 7\r');
    expect((await viaB.waitForMessage('ended')).exitCode).toBe(7);
  });

  it('opens a session through replica B although the agent is connected to A (the command is forwarded)', async () => {
    const adminOnB = (await import('../helpers/api.ts')).apiClient(b.url, adminToken);
    const opened = await adminOnB.post(`/api/v1/machines/${machineId}/sessions`, { kind: 'terminal', cols: 80, rows: 24 });
    expect(opened.status, JSON.stringify(opened.body)).toBe(201);
    const term = await attachConsole(b.url, opened.body.id, { token: adminToken });
    term.type('echo forwarded-ok\r');
    await term.waitForOutput('forwarded-ok');
    await adminOnB.delete(`/api/v1/sessions/${opened.body.id}`);
    await term.closed;
  });

  it('carries file transfers to the relaying replica: upload and download through B', async () => {
    const opened = await admin.post(`/api/v1/machines/${machineId}/sessions`, { kind: 'terminal', cols: 80, rows: 24 });
    expect(opened.status).toBe(201);
    const target = path.join(os.tmpdir(), `steward-xreplica-${Date.now()}.bin`);
    const content = randomBytes(300_000);
    const put = await fetch(`${b.url}/api/v1/sessions/${opened.body.id}/files?path=${encodeURIComponent(target)}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/octet-stream', 'x-content-sha256': createHash('sha256').update(content).digest('hex') },
      body: content,
    });
    expect(put.status, await put.clone().text()).toBe(201);
    expect(readFileSync(target).equals(content)).toBe(true);
    const get = await fetch(`${b.url}/api/v1/sessions/${opened.body.id}/files?path=${encodeURIComponent(target)}`, { headers: { authorization: `Bearer ${adminToken}` } });
    expect(get.status).toBe(200);
    expect(get.headers.get('x-file-size')).toBe(String(content.length));
    expect(Buffer.from(await get.arrayBuffer()).equals(content)).toBe(true);
    rmSync(target, { force: true });
    await admin.delete(`/api/v1/sessions/${opened.body.id}`);
  });

  it('refuses a forged replica request: only replicas (holding the master key) may forward commands', async () => {
    const res = await fetch(`${a.url}/api/v1/internal/agent-commands`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-steward-replica': `t=${Date.now()},sig=${'0'.repeat(64)}` },
      body: JSON.stringify({ machineId, name: 'agent.ping', params: { echo: 'x' }, timeoutMs: 1000 }),
    });
    expect(res.status).toBe(401);
    const admin401 = await fetch(`${a.url}/api/v1/internal/agent-commands`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ machineId, name: 'agent.ping', params: { echo: 'x' }, timeoutMs: 1000 }),
    });
    expect(admin401.status).toBe(401);
  });

  it('passes the relaying replica\'s refusal on: a stranger gets 403 through B too', async () => {
    const opened = await admin.post(`/api/v1/machines/${machineId}/sessions`, { kind: 'terminal', cols: 80, rows: 24 });
    const stranger = await createUser(b, { role: 'technician' });
    const token = (await loginAs(b, stranger.email)).token;
    await expect(attachConsole(b.url, opened.body.id, { token })).rejects.toThrow(/403/);
    await admin.delete(`/api/v1/sessions/${opened.body.id}`);
  });
});
