import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnrollmentToken } from '../../protocol/enrollment-token.ts';
import { authTokens, enrollmentTokens, installation, users } from '../../server/db/schema.ts';
import { ADMIN, apiClient, createSiteWithToken, setupAdmin } from '../helpers/api.ts';
import { enrollAgent, newStateDir, runAgentCommand, startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * Secrets never reach logs or plain columns: after a full first-run (setup, good and bad logins, token creation,
 * agent enrollment and a connected agent), neither the server log nor the agent's stderr holds any of them.
 */
const WRONG_PASSWORD = 'a wrong password that is secret too';

describe.each(backends())('secrets stay out of logs on %s', (backend) => {
  let server: TestServer;
  let agent: AgentProcess | null = null;
  const secrets: Record<string, string> = {};
  let agentOutput = '';

  beforeAll(async () => {
    server = await startTestServer({ backend });
    secrets.setupToken = server.running.setupToken as string;
    secrets.adminPassword = ADMIN.password;
    secrets.wrongPassword = WRONG_PASSWORD;

    const anon = apiClient(server.url);
    // A failed setup first: the body carries both the password and a (wrong) setup token.
    expect((await anon.post('/api/v1/setup', { ...ADMIN, setupToken: `${secrets.setupToken}-nope` })).status).toBe(403);
    const { api, token } = await setupAdmin(server);
    secrets.bearerToken = token;
    expect((await anon.post('/api/v1/setup', { ...ADMIN, setupToken: secrets.setupToken })).status).toBe(409);
    expect((await anon.post('/api/v1/auth/login', { email: ADMIN.email, password: WRONG_PASSWORD })).status).toBe(401);
    expect((await anon.post('/api/v1/auth/login', { email: 'ghost@example.test', password: ADMIN.password })).status).toBe(401);
    expect((await anon.call('POST', '/api/v1/auth/login', `{"email":"${ADMIN.email}","password":"${ADMIN.password}`)).status).toBe(400);
    expect((await apiClient(server.url, `${token}`).get('/api/v1/clients')).status).toBe(200);
    expect((await apiClient(server.url, `${token}x`).get('/api/v1/clients')).status).toBe(401);

    const site = await createSiteWithToken(api, { maxUses: 1 });
    secrets.enrollmentToken = site.token;
    secrets.enrollmentSecret = parseEnrollmentToken(site.token)!.secret;
    const enrolled = await enrollAgent(server.url, site.token);
    agentOutput += enrolled.stdout + enrolled.stderr;
    // Used up now: the refusal path must not echo the token either, nor must the agent's local malformed check.
    const refused = await runAgentCommand(['enroll', '--server', server.url, '--token', site.token, '--state-dir', newStateDir()]);
    expect(refused.code).toBe(3);
    const mangled = await runAgentCommand(['enroll', '--server', server.url, '--token', `${site.token}!`, '--state-dir', newStateDir()]);
    expect(mangled.code).toBe(1);
    agentOutput += refused.stdout + refused.stderr + mangled.stdout + mangled.stderr;

    agent = startAgent(enrolled.stateDir);
    await agent.waitForLog((l) => l.msg === 'connected to server');
    await agent.waitForLog((l) => l.msg === 'inventory sent');
    await agent.stop();
    agentOutput += agent.logs.map((l) => JSON.stringify(l)).join('\n');
    agent = null;
    await server.running.ctx.audit.flush();
  });
  afterAll(async () => {
    await agent?.stop();
    await server?.close();
  });

  it('the server log records the activity but none of the secrets', () => {
    const text = server.logText();
    // The log is not empty: the events under test were logged.
    expect(text).toContain('server listening');
    const requests = server.logs.filter((l) => l.msg === 'request');
    expect(requests.filter((l) => l.url === '/api/v1/auth/login').map((l) => l.status)).toEqual(expect.arrayContaining([200, 401, 400]));
    expect(requests.some((l) => l.url === '/api/v1/setup' && l.status === 409)).toBe(true);
    for (const [name, value] of Object.entries(secrets)) {
      expect({ name, leaked: text.includes(value) }).toEqual({ name, leaked: false });
    }
  });

  it("the agent's output records the enrollment but not the enrollment token", () => {
    expect(agentOutput).toContain('enrolled as machine');
    expect(agentOutput).toContain('token used up');
    expect(agentOutput).toContain('malformed');
    expect(agentOutput).toContain('connected to server');
    expect(agentOutput).not.toContain(secrets.enrollmentToken);
    expect(agentOutput).not.toContain(secrets.enrollmentSecret);
  });

  it('the database keeps an argon2id hash, never the password, and no token in clear', async () => {
    const db = server.running.ctx.db;
    const rows = await db.select().from(users);
    expect(rows).toHaveLength(1);
    expect(rows[0].passwordHash?.startsWith('$argon2id$')).toBe(true);
    expect(JSON.stringify(rows)).not.toContain(ADMIN.password);

    const tokens = JSON.stringify(await db.select().from(authTokens));
    expect(tokens).toContain('"kind":"login"');
    expect(tokens).not.toContain(secrets.bearerToken);
    const enrollment = JSON.stringify(await db.select().from(enrollmentTokens));
    expect(enrollment).not.toContain(secrets.enrollmentSecret);
    const [install] = await db.select().from(installation);
    expect(install.setupCompletedAt).toBeInstanceOf(Date);
    expect(JSON.stringify({ ...install, serverPublicKey: null, serverSecretKeySealed: null })).not.toContain(secrets.setupToken);
  });
});
