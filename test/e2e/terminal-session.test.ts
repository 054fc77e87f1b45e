import { eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, sessions } from '../../server/db/schema.ts';
import { enrollAgent, startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { createSiteWithToken, setupAdmin, waitFor, type Api } from '../helpers/api.ts';
import { attachConsole } from '../helpers/console.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * The product's main path with every part real: a server on a loopback port, an enrolled agent process, a pty with
 * the account's login shell, a console on the stream WebSocket. Keystrokes in, output out, resize, exit status.
 */
describe.each(backends())('terminal session on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  let adminToken: string;
  let agent: AgentProcess;
  let machineId: string;

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api: admin, token: adminToken } = await setupAdmin(server));
    const site = await createSiteWithToken(admin);
    const enrolled = await enrollAgent(server.url, site.token);
    machineId = enrolled.machineId;
    agent = startAgent(enrolled.stateDir);
    await waitFor(async () => (await admin.get(`/api/v1/machines/${machineId}`)).body.online, 20_000, 'agent online');
  });
  afterAll(async () => {
    await agent?.stop();
    await server?.close();
  });

  it('opens a shell, relays keystrokes and output both ways, resizes, and reports the exit status', async () => {
    const opened = await admin.post(`/api/v1/machines/${machineId}/sessions`, { kind: 'terminal', cols: 80, rows: 24 });
    expect(opened.status, JSON.stringify(opened.body)).toBe(201);
    expect(opened.body).toMatchObject({ machineId, status: 'active', kind: 'terminal', runAs: 'agent' });
    const term = await attachConsole(server.url, opened.body.id, { token: adminToken });
    const joined = await term.waitForMessage('joined');
    expect(joined.you.role).toBe('owner');

    term.type('echo relay-$((6*7))\r');
    await term.waitForOutput('relay-42');
    term.resize(101, 37);
    term.type('stty size\r');
    await term.waitForOutput('37 101');
    term.type('exit 3\r');
    const ended = await term.waitForMessage('ended');
    expect(ended.exitCode).toBe(3);
    await term.closed;

    const row = await waitFor(async () => {
      const [r] = await server.running.ctx.db.select().from(sessions).where(eq(sessions.id, opened.body.id));
      return r.status === 'ended' ? r : null;
    }, 5000, 'session row ended');
    expect(row.exitCode).toBe(3);
    const actions = await waitFor(async () => {
      const rows = await server.running.ctx.db.select().from(auditEvents).where(inArray(auditEvents.targetId, [opened.body.id]));
      const names = rows.map((r) => r.action);
      return names.includes('session.end') && names.includes('session.leave') ? names : null;
    }, 5000, 'session audit');
    expect(actions).toEqual(expect.arrayContaining(['session.request', 'session.start', 'session.join', 'session.leave', 'session.end']));
  });
});
