import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxMessages, roles } from '../../server/db/schema.ts';
import { apiClient, createSiteWithToken, setupAdmin, waitFor, type Api } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { awaitStepHeadroom, enrollTotp, forgetLastStep, totpCode } from '../helpers/totp.ts';
import { assignMachine, createMachine, createUser, TEST_PASSWORD } from '../helpers/users.ts';

/**
 * The Teleport 15.3 lesson: an auth policy enforced on one login path but not another is not enforced. Every way to
 * get or use a credential — bearer login, console cookie, API tokens minted before and after, password reset, tokens
 * issued before the policy — is refused (or asks for the code) while MFA is required and no second factor was shown.
 * A sweep over every route in the OpenAPI document backs the hand-picked cases.
 */
const MFA_REASON = /multi-factor/i;
const NEW_PASSWORD = 'a brand new password 42';

describe.each(backends())('MFA on every login path and token type on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  const db = () => server.running.ctx.db;
  const anon = () => apiClient(server.url);
  const login = (email: string, extra: Record<string, unknown> = {}) => anon().post('/api/v1/auth/login', { email, password: TEST_PASSWORD, ...extra });
  const setPolicy = (requireMfa: boolean) => db().update(roles).set({ requireMfa }).where(eq(roles.id, 'policy_role'));

  /** A console session as a browser holds it: the cookie, and the CSRF token for writes. */
  async function cookieSession(email: string, extra: Record<string, unknown> = {}) {
    const res = await login(email, { session: 'cookie', ...extra });
    if (res.status !== 200) return { status: res.status, body: res.body, api: null };
    const cookie = /^steward_session=([^;]+)/.exec(res.headers.getSetCookie().find((c) => c.startsWith('steward_session='))!)![1];
    const headers = { cookie: `steward_session=${cookie}`, 'x-csrf-token': res.body.csrfToken as string };
    const api = { call: (method: string, path: string, body?: unknown) => anon().call(method, path, body, headers) };
    return { status: res.status, body: res.body, api };
  }
  const bearer = async (email: string, extra: Record<string, unknown> = {}) => {
    const res = await login(email, extra);
    expect(res.status).toBe(200);
    return apiClient(server.url, res.body.token);
  };

  /** Work this role may do once MFA is satisfied; refused with the MFA reason while it is not. */
  async function expectRefused(api: { call: Api['call'] }, what: string) {
    for (const [method, path, body] of [
      ['GET', '/api/v1/machines'],
      ['GET', '/api/v1/clients'],
      ['POST', '/api/v1/clients', { name: `made by ${what}` }],
    ] as const) {
      const res = await api.call(method, path, body);
      expect(res.status, `${what}: ${method} ${path}`).toBe(403);
      expect(res.body.error.message, `${what}: ${method} ${path}`).toMatch(MFA_REASON);
    }
  }
  async function expectWorks(api: { call: Api['call'] }, what: string) {
    expect((await api.call('GET', '/api/v1/machines')).status, what).toBe(200);
    expect((await api.call('GET', '/api/v1/clients')).status, what).toBe(200);
  }

  /** The reset link from the newest queued email to `email` (the body is sealed in the outbox). */
  async function resetPassword(email: string) {
    expect((await anon().post('/api/v1/auth/password-reset', { email })).status).toBe(202);
    const token = await waitFor(async () => {
      const rows = await db().select().from(outboxMessages).where(eq(outboxMessages.recipient, email));
      const texts = rows.map((r) => Buffer.from(server.running.ctx.secrets.open(r.bodySealed)).toString('utf8'));
      return texts.map((t) => /#token=([A-Za-z0-9_-]+)/.exec(t)?.[1]).find(Boolean);
    }, 10_000, 'the reset email');
    const confirm = await anon().post('/api/v1/auth/password-reset/confirm', { token, newPassword: NEW_PASSWORD });
    expect(confirm.status).toBe(204);
    expect(confirm.body).toBeNull();
  }

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api: admin } = await setupAdmin(server));
    await db().insert(roles).values({ id: 'policy_role', name: 'Policy Role', permissions: ['machines.view', 'tenancy.manage', 'reports.view'], scope: 'global' });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('a role starting to require MFA cuts every credential issued without a second factor, on every login path', async () => {
    await setPolicy(false);
    const user = await createUser(server, { role: 'policy_role' });
    const loginToken = await bearer(user.email);
    const console0 = (await cookieSession(user.email)).api!;
    const early = await loginToken.post('/api/v1/me/tokens', { name: 'before the policy', permissions: ['machines.view', 'tenancy.manage'] });
    expect(early.status).toBe(201);
    const apiToken = apiClient(server.url, early.body.token);
    for (const [api, what] of [[loginToken, 'login token'], [console0, 'cookie session'], [apiToken, 'API token']] as const) await expectWorks(api, what);

    await setPolicy(true);
    await expectRefused(loginToken, 'login token issued before the policy');
    await expectRefused(console0, 'cookie session issued before the policy');
    await expectRefused(apiToken, 'API token created before the policy');
    // A fresh sign-in on either path gets only as far as setting MFA up.
    const fresh = await login(user.email);
    expect(fresh.body.mfa).toEqual({ enabled: false, required: true, verified: false });
    await expectRefused(apiClient(server.url, fresh.body.token), 'new login token');
    const freshCookie = await cookieSession(user.email);
    expect(freshCookie.body.mfa).toEqual({ enabled: false, required: true, verified: false });
    await expectRefused(freshCookie.api!, 'new cookie session');
    // No way around it by minting a token, and an API token cannot set MFA up to make itself verified.
    const minted = await loginToken.post('/api/v1/me/tokens', { name: 'escape hatch', permissions: ['machines.view'] });
    expect(minted.status).toBe(403);
    expect(minted.body.error.message).toMatch(MFA_REASON);
    for (const path of ['/api/v1/me/mfa/totp', '/api/v1/me/mfa/totp/confirm']) {
      const res = await apiToken.post(path, path.endsWith('confirm') ? { code: '123456' } : undefined);
      expect(res.status, path).toBe(403);
      expect(res.body.error.message, path).toMatch(/API token/);
    }
    expect((await apiToken.get('/api/v1/me/mfa')).body).toMatchObject({ enabled: false, required: true, verified: false });

    // Enrolling through the old login token verifies that token (it proved the code) — and nothing else.
    const { secret, recoveryCodes } = await enrollTotp(loginToken);
    await expectWorks(loginToken, 'the session that enrolled');
    await expectRefused(console0, 'old cookie session after enrollment');
    await expectRefused(apiToken, 'old API token after enrollment');
    await expectRefused(apiClient(server.url, fresh.body.token), 'other login token after enrollment');

    // Now both login paths ask for the code.
    for (const session of ['token', 'cookie']) {
      const res = await login(user.email, { session });
      expect(res.status, session).toBe(401);
      expect(res.body.error.code, session).toBe('mfa_required');
      const wrong = await login(user.email, { session, totpCode: '000000' === (await totpCode(secret)) ? '000001' : '000000' });
      expect(wrong.body.error.code, session).toBe('mfa_invalid');
    }
    await forgetLastStep(server, user.id);
    await awaitStepHeadroom();
    const withCode = await bearer(user.email, { totpCode: await totpCode(secret) });
    await expectWorks(withCode, 'login with a code');
    const cookieWithCode = await cookieSession(user.email, { recoveryCode: recoveryCodes[0] });
    await expectWorks(cookieWithCode.api!, 'cookie login with a recovery code');
    const late = await withCode.post('/api/v1/me/tokens', { name: 'after MFA', permissions: ['machines.view'] });
    expect(late.status).toBe(201);
    expect((await apiClient(server.url, late.body.token).get('/api/v1/machines')).status).toBe(200);
    await expectRefused(apiToken, 'API token created before the policy, still');

    // A password reset ends every token and does not sign in; the next login still needs the code.
    await resetPassword(user.email);
    expect((await withCode.get('/api/v1/machines')).status).toBe(401);
    expect((await apiClient(server.url, late.body.token).get('/api/v1/machines')).status).toBe(401);
    const afterReset = await anon().post('/api/v1/auth/login', { email: user.email, password: NEW_PASSWORD });
    expect(afterReset.status).toBe(401);
    expect(afterReset.body.error.code).toBe('mfa_required');
    const cookieAfterReset = await anon().post('/api/v1/auth/login', { email: user.email, password: NEW_PASSWORD, session: 'cookie' });
    expect(cookieAfterReset.body.error.code).toBe('mfa_required');
    await setPolicy(false);
  });

  it('a password reset of a user who owes MFA but never enrolled yields only a restricted session', async () => {
    await setPolicy(true);
    const user = await createUser(server, { role: 'policy_role' });
    await resetPassword(user.email);
    const res = await anon().post('/api/v1/auth/login', { email: user.email, password: NEW_PASSWORD });
    expect(res.status).toBe(200);
    expect(res.body.mfa).toEqual({ enabled: false, required: true, verified: false });
    await expectRefused(apiClient(server.url, res.body.token), 'login after a password reset');
    await setPolicy(false);
  });

  it('a user turning MFA on themselves shuts out the API tokens and sessions minted before', async () => {
    const user = await createUser(server, { role: 'policy_role' });
    const loginToken = await bearer(user.email);
    const other = await bearer(user.email);
    const early = await loginToken.post('/api/v1/me/tokens', { name: 'before MFA', permissions: ['machines.view'] });
    expect((await apiClient(server.url, early.body.token).get('/api/v1/machines')).status).toBe(200);
    await enrollTotp(loginToken);
    expect((await loginToken.get('/api/v1/machines')).status).toBe(200);
    for (const [api, what] of [[apiClient(server.url, early.body.token), 'API token'], [other, 'second login token']] as const) {
      const res = await api.get('/api/v1/machines');
      expect(res.status, what).toBe(403);
      expect(res.body.error.message, what).toMatch(MFA_REASON);
    }
  });

  it("a client's MFA policy shuts out its client users' API tokens minted before", async () => {
    const client = await admin.post('/api/v1/clients', { name: 'Policy Client' });
    const user = await createUser(server, { role: 'client_end_user', clientId: client.body.id });
    const token = await (await bearer(user.email)).post('/api/v1/me/tokens', { name: 'portal script', permissions: ['machines.view'] });
    expect(token.status).toBe(201);
    const api = apiClient(server.url, token.body.token);
    expect((await api.get('/api/v1/machines')).status).toBe(200);
    expect((await admin.patch(`/api/v1/clients/${client.body.id}`, { requireMfa: true })).status).toBe(200);
    const res = await api.get('/api/v1/machines');
    expect(res.status).toBe(403);
    expect(res.body.error.message).toMatch(MFA_REASON);
  });

  it('sweep: while MFA is owed, no route in the OpenAPI document does or shows anything but the own MFA setup and GET /api/v1/me', async () => {
    await setPolicy(false);
    const user = await createUser(server, { role: 'policy_role' });
    // An assigned machine, so "My Assigned Machines" has something it must not show.
    const site = await createSiteWithToken(admin);
    await assignMachine(server, user.id, (await createMachine(server, site.siteId, 'owed-mfa-desk')).id, ['terminal']);
    const early = await (await bearer(user.email)).post('/api/v1/me/tokens', { name: 'sweep', permissions: ['machines.view', 'tenancy.manage', 'reports.view'] });
    await setPolicy(true);
    const credentials = [
      { what: 'login token', api: await bearer(user.email) },
      { what: 'cookie session', api: (await cookieSession(user.email)).api! },
      { what: 'API token', api: apiClient(server.url, early.body.token) },
    ];
    const spec = (await anon().get('/api/openapi.json')).body as OpenApi;
    const operations = Object.entries(spec.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ path, method: method.toUpperCase(), op })));
    const swept = operations.filter(({ path, op }) => !(Array.isArray(op.security) && op.security.length === 0) && path !== '/api/v1/auth/logout');
    expect(swept.length).toBeGreaterThan(20);
    let refused = 0;
    const other: string[] = [];
    for (const { what, api } of credentials) {
      expect((await api.call('GET', '/api/v1/me')).body.mfa, what).toEqual({ enabled: false, required: true, verified: false });
      // Reachable (it is the caller's own page), but every machine on it is put to the authorizer: none shows.
      expect((await api.call('GET', '/api/v1/me/machines')).body, what).toEqual({ machines: [] });
      for (const { path, method, op } of swept) {
        if (path.startsWith('/api/v1/me/mfa') || (method === 'GET' && ['/api/v1/me', '/api/v1/me/machines'].includes(path))) continue;
        const query = (op.parameters ?? []).filter((p) => p.in === 'query' && p.required).map((p) => `${p.name}=${encodeURIComponent(String(sample(p.schema)))}`);
        const param = (name: string) => (op.parameters ?? []).find((p) => p.in === 'path' && p.name === name)?.schema ?? { type: 'string', format: 'uuid' };
        const url = path.replace(/\{([^}]+)\}/g, (_, name: string) => String(sample(param(name)))) + (query.length ? `?${query.join('&')}` : '');
        const body = op.requestBody?.content?.['application/json']?.schema;
        const res = await api.call(method, url, body ? sample(body) : undefined);
        const label = `${what}: ${method} ${path} → ${res.status} ${JSON.stringify(res.body)}`;
        // A 2xx is only acceptable as a list whose every item the authorizer filtered out: nothing done, nothing shown.
        if (res.status >= 200 && res.status < 300) {
          expect(method, label).toBe('GET');
          expect(isEmptyListing(res.body), label).toBe(true);
        }
        expect(res.status, label).not.toBe(500);
        if (res.status === 403) {
          // An API token is refused its own account's MFA setup for being an API token; everything else names MFA.
          expect(res.body.error.message, label).toMatch(/multi-factor|an API token cannot change its own account/i);
          refused++;
        } else other.push(label);
      }
    }
    await setPolicy(false);
    expect((await credentials[0].api.call('GET', '/api/v1/me/machines')).body.machines.map((m: { hostname: string }) => m.hostname)).toEqual(['owed-mfa-desk']);
    // Most requests are well-formed enough to reach the authorizer: the sweep is not passing on 400s alone.
    expect(other.length, other.join('\n')).toBeLessThan(refused / 5);
  });
});

interface JsonSchema {
  type?: string;
  format?: string;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  default?: unknown;
  minLength?: number;
  minimum?: number;
  minItems?: number;
  minProperties?: number;
  items?: JsonSchema;
  required?: string[];
  properties?: Record<string, JsonSchema>;
}
interface OpenApi {
  paths: Record<string, Record<string, { security?: unknown[]; parameters?: { in: string; name: string; required?: boolean; schema: JsonSchema }[]; requestBody?: { content?: Record<string, { schema: JsonSchema }> } }>>;
}

const isEmptyListing = (body: unknown) =>
  typeof body === 'object' && body !== null && Object.values(body).length > 0 && Object.values(body).every((v) => Array.isArray(v) && v.length === 0);

/** A small valid value for a JSON schema (required properties only), so requests get past validation. */
function sample(schema: JsonSchema): unknown {
  if (schema.default !== undefined) return schema.default;
  if (schema.enum) return schema.enum[0];
  if (schema.anyOf) return sample(schema.anyOf[0]);
  switch (schema.type) {
    case 'object': {
      // Required keys, plus optional ones up to minProperties (a PATCH body must change something).
      const optional = Object.keys(schema.properties ?? {}).filter((key) => !schema.required?.includes(key));
      const keys = [...(schema.required ?? []), ...optional.slice(0, Math.max(0, (schema.minProperties ?? 0) - (schema.required?.length ?? 0)))];
      return Object.fromEntries(keys.map((key) => [key, sample(schema.properties?.[key] ?? {})]));
    }
    case 'array':
      return Array.from({ length: schema.minItems ?? 0 }, () => sample(schema.items ?? {}));
    case 'integer':
    case 'number':
      return Math.max(schema.minimum ?? 1, 1);
    case 'boolean':
      return false;
    case 'string':
      if (schema.format === 'uuid') return randomUUID();
      if (schema.format === 'email') return `sweep-${randomUUID().slice(0, 8)}@example.test`;
      if (schema.format === 'date-time') return new Date(Date.now() + 86_400_000).toISOString();
      return 'x'.repeat(Math.max(schema.minLength ?? 1, 12));
    default:
      return null;
  }
}
