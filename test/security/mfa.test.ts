import http from 'node:http';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILT_IN_ROLES } from '../../server/access/roles.ts';
import { auditEvents, authTokens, loginThrottle, mfaRecoveryCodes, roles, users } from '../../server/db/schema.ts';
import { apiClient, setupAdmin, type Api } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { awaitStepHeadroom, enrollTotp, forgetLastStep, parseOtpauthUri, totpCode } from '../helpers/totp.ts';
import { createUser, loginAs, TEST_PASSWORD } from '../helpers/users.ts';

/**
 * TOTP MFA end to end: enrollment (otpauth:// URI, QR, confirmation checked against oathtool, an implementation
 * independent of the server's), login with a code (missing, wrong, replayed, one step old, two steps old), recovery
 * codes, lockout, disabling, admin reset, MFA required by a role or a client policy, and secrets sealed at rest.
 */
const MFA_REASON = /multi-factor/i;

describe.each(backends())('TOTP MFA on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  const anon = () => apiClient(server.url);
  const login = (email: string, extra: Record<string, unknown> = {}) => anon().post('/api/v1/auth/login', { email, password: TEST_PASSWORD, ...extra });
  const technician = (email?: string) => createUser(server, { role: 'technician', email });

  /** A login sent from another loopback source address (a different client address for the throttle). */
  const loginFrom = (localAddress: string, body: Record<string, unknown>) =>
    new Promise<{ status: number; body: any; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
      const text = JSON.stringify(body);
      const req = http.request(
        `${server.url}/api/v1/auth/login`,
        { method: 'POST', localAddress, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } },
        (res) => {
          let out = '';
          res.on('data', (c: Buffer) => (out += c.toString('utf8')));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(out), headers: res.headers }));
        },
      );
      req.on('error', reject);
      req.end(text);
    });

  /** A technician enrolled in TOTP; returns the user, the secret and the recovery codes. */
  async function enrolledUser() {
    const user = await technician();
    const api = await loginAs(server, user.email);
    return { user, api, ...(await enrollTotp(api)) };
  }

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api: admin } = await setupAdmin(server));
  });
  afterAll(async () => {
    await server?.close();
  });

  it('enrollment returns an otpauth:// URI and a QR code; a code from oathtool confirms it and yields 10 recovery codes', async () => {
    const user = await technician('enrolling.tech@example.test');
    const api = await loginAs(server, user.email);
    expect((await api.get('/api/v1/me/mfa')).body).toEqual({ enabled: false, required: false, verified: false, recoveryCodesLeft: 0 });

    const start = await api.post('/api/v1/me/mfa/totp');
    expect(start.status).toBe(200);
    const uri = parseOtpauthUri(start.body.otpauthUri);
    expect(uri).toMatchObject({ protocol: 'otpauth:', type: 'totp', issuer: 'Steward', algorithm: 'SHA1', digits: '6', period: '30' });
    expect(uri.label).toBe(`Steward:${user.email}`);
    expect(uri.secret).toBe(start.body.secret);
    expect(start.body.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(start.body.qrSvg).toMatch(/<svg[\s\S]*<\/svg>\s*$/);

    const wrong = await api.post('/api/v1/me/mfa/totp/confirm', { code: (Number(await totpCode(uri.secret!)) + 1).toString().padStart(6, '0').slice(-6) });
    expect(wrong.status).toBe(400);
    expect((await api.get('/api/v1/me/mfa')).body.enabled).toBe(false);

    await awaitStepHeadroom();
    const confirm = await api.post('/api/v1/me/mfa/totp/confirm', { code: await totpCode(uri.secret!) });
    expect(confirm.status).toBe(200);
    expect(confirm.body.recoveryCodes).toHaveLength(10);
    expect(new Set(confirm.body.recoveryCodes).size).toBe(10);
    // Confirming with a code proved the second factor: this very session is now verified.
    expect((await api.get('/api/v1/me/mfa')).body).toEqual({ enabled: true, required: true, verified: true, recoveryCodesLeft: 10 });
    expect((await api.post('/api/v1/me/mfa/totp')).status).toBe(409);
    expect((await api.post('/api/v1/me/mfa/totp/confirm', { code: await totpCode(uri.secret!) })).status).toBe(409);
  });

  it('confirming without a started enrollment is 409; a malformed code is 400', async () => {
    const api = await loginAs(server, (await technician()).email);
    const res = await api.post('/api/v1/me/mfa/totp/confirm', { code: '123456' });
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(/start one first/);
    expect((await api.post('/api/v1/me/mfa/totp/confirm', { code: '12345' })).status).toBe(400);
    expect((await api.post('/api/v1/me/mfa/totp/confirm', { code: '123456', extra: 1 })).status).toBe(400);
  });

  it('login then needs a code: missing is mfa_required, wrong is mfa_invalid and counts as a failure', async () => {
    const { user, secret } = await enrolledUser();
    const missing = await login(user.email);
    expect(missing.status).toBe(401);
    expect(missing.body.error.code).toBe('mfa_required');
    const wrong = await login(user.email, { totpCode: '000000' === (await totpCode(secret)) ? '111111' : '000000' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('mfa_invalid');
    const [row] = await server.running.ctx.db.select().from(loginThrottle).where(eq(loginThrottle.key, `account:${user.email}`));
    expect(row.failures).toBe(1);

    await forgetLastStep(server, user.id);
    await awaitStepHeadroom();
    const ok = await login(user.email, { totpCode: await totpCode(secret) });
    expect(ok.status).toBe(200);
    expect(ok.body.mfa).toEqual({ enabled: true, required: true, verified: true });
    expect((await apiClient(server.url, ok.body.token).get('/api/v1/me/mfa')).body.verified).toBe(true);
    // Success clears the account's failures.
    expect(await server.running.ctx.db.select().from(loginThrottle).where(eq(loginThrottle.key, `account:${user.email}`))).toEqual([]);
  });

  it('a code works once; one step old is accepted, two steps old is not', async () => {
    const { user, secret } = await enrolledUser();
    await forgetLastStep(server, user.id);
    await awaitStepHeadroom(8);
    const twoOld = await login(user.email, { totpCode: await totpCode(secret, { stepsAgo: 2 }) });
    expect(twoOld.status).toBe(401);
    expect(twoOld.body.error.code).toBe('mfa_invalid');

    const previous = await totpCode(secret, { stepsAgo: 1 });
    expect((await login(user.email, { totpCode: previous })).status).toBe(200);
    const replay = await login(user.email, { totpCode: previous });
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('mfa_invalid');
    expect((await login(user.email, { totpCode: await totpCode(secret) })).status).toBe(200);
    // Once a step is used, older steps are closed too.
    expect((await login(user.email, { totpCode: previous })).status).toBe(401);
  });

  it('five wrong codes lock the account: the sixth attempt, with a right code, is 429', async () => {
    // The attacker has the password and tries codes from an address the account never signed in from (a familiar
    // address is exempt from the account lock, so the owner cannot be locked out from afar).
    const { user, secret } = await enrolledUser();
    await forgetLastStep(server, user.id);
    await awaitStepHeadroom();
    const right = await totpCode(secret);
    const wrongCode = right === '999999' ? '999998' : '999999';
    for (let i = 0; i < 5; i++) {
      const res = await loginFrom('127.0.0.3', { email: user.email, password: TEST_PASSWORD, totpCode: wrongCode });
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('mfa_invalid');
    }
    const [row] = await server.running.ctx.db.select().from(loginThrottle).where(eq(loginThrottle.key, `account:${user.email}`));
    expect(row.failures).toBe(5);
    const locked = await loginFrom('127.0.0.3', { email: user.email, password: TEST_PASSWORD, totpCode: right });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    expect((await loginFrom('127.0.0.4', { email: user.email, password: TEST_PASSWORD, totpCode: right })).status).toBe(429);
    expect(await server.running.ctx.db.select().from(authTokens).where(eq(authTokens.userId, user.id))).toHaveLength(1);
  });

  it('a recovery code signs in once (any case, with or without the dash)', async () => {
    const { user, api, recoveryCodes } = await enrolledUser();
    const first = await login(user.email, { recoveryCode: recoveryCodes[0] });
    expect(first.status).toBe(200);
    expect(first.body.mfa.verified).toBe(true);
    const again = await login(user.email, { recoveryCode: recoveryCodes[0] });
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe('mfa_invalid');
    expect((await login(user.email, { recoveryCode: recoveryCodes[1].replace('-', '').toUpperCase() })).status).toBe(200);
    expect((await api.get('/api/v1/me/mfa')).body.recoveryCodesLeft).toBe(8);
    // Only hashes are stored.
    const rows = await server.running.ctx.db.select().from(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, user.id));
    expect(rows).toHaveLength(10);
    const stored = JSON.stringify(rows);
    for (const code of recoveryCodes) expect(stored).not.toContain(code.replace('-', ''));
  });

  it('disabling MFA needs the password and a code', async () => {
    const { user, api, secret } = await enrolledUser();
    await forgetLastStep(server, user.id);
    await awaitStepHeadroom();
    const code = await totpCode(secret);
    expect((await api.post('/api/v1/me/mfa/disable', { password: 'not the password' , totpCode: code })).status).toBe(401);
    const noCode = await api.post('/api/v1/me/mfa/disable', { password: TEST_PASSWORD });
    expect(noCode.status).toBe(401);
    expect(noCode.body.error.code).toBe('mfa_invalid');
    expect((await api.post('/api/v1/me/mfa/disable', { password: TEST_PASSWORD, totpCode: code === '123456' ? '654321' : '123456' })).status).toBe(401);
    expect((await api.get('/api/v1/me/mfa')).body.enabled).toBe(true);

    const off = await api.post('/api/v1/me/mfa/disable', { password: TEST_PASSWORD, totpCode: code });
    expect(off.status).toBe(204);
    expect((await api.get('/api/v1/me/mfa')).body).toMatchObject({ enabled: false, required: false, recoveryCodesLeft: 0 });
    const plain = await login(user.email);
    expect(plain.status).toBe(200);
    expect(plain.body.mfa).toEqual({ enabled: false, required: false, verified: false });
  });

  it('an admin reset clears MFA and ends every token of that user; a technician cannot reset', async () => {
    const { user, api } = await enrolledUser();
    const apiToken = await api.post('/api/v1/me/tokens', { name: 'script', permissions: ['machines.view'] });
    expect(apiToken.status).toBe(201);
    // Even a token minted by a verified session cannot turn MFA off or take over its recovery codes.
    const asToken = apiClient(server.url, apiToken.body.token);
    for (const [path, body] of [['/api/v1/me/mfa/disable', { password: TEST_PASSWORD, totpCode: '123456' }], ['/api/v1/me/mfa/recovery-codes', { totpCode: '123456' }]] as const) {
      expect((await asToken.post(path, body)).body.error.message, path).toMatch(/API token cannot/);
    }
    const other = await enrolledUser();
    expect((await other.api.post(`/api/v1/users/${user.id}/mfa/reset`)).status).toBe(403);
    expect((await api.get('/api/v1/me/mfa')).status).toBe(200);

    expect((await admin.post(`/api/v1/users/${user.id}/mfa/reset`)).status).toBe(204);
    expect((await api.get('/api/v1/me/mfa')).status).toBe(401);
    expect((await apiClient(server.url, apiToken.body.token).get('/api/v1/machines')).status).toBe(401);
    const live = await server.running.ctx.db.select().from(authTokens).where(eq(authTokens.userId, user.id));
    expect(live.every((t) => t.revokedAt)).toBe(true);
    const [row] = await server.running.ctx.db.select().from(users).where(eq(users.id, user.id));
    expect(row).toMatchObject({ mfaSecretSealed: null, mfaPendingSecretSealed: null, mfaEnabledAt: null });
    expect(await server.running.ctx.db.select().from(mfaRecoveryCodes).where(eq(mfaRecoveryCodes.userId, user.id))).toEqual([]);
    const plain = await login(user.email);
    expect(plain.status).toBe(200);
    expect(plain.body.mfa.enabled).toBe(false);
    expect((await admin.post(`/api/v1/users/00000000-0000-4000-8000-000000000000/mfa/reset`)).status).toBe(404);
  });

  it('a role requiring MFA: until enrolled, the token reaches only its own MFA setup; then the same token works', async () => {
    const { permissions, scope } = BUILT_IN_ROLES.technician;
    await server.running.ctx.db.insert(roles).values({ id: 'mfa_technician', name: 'MFA Technician', permissions: [...permissions], scope, requireMfa: true });
    const user = await createUser(server, { role: 'mfa_technician' });
    const res = await login(user.email);
    expect(res.status).toBe(200);
    expect(res.body.mfa).toEqual({ enabled: false, required: true, verified: false });
    const api = apiClient(server.url, res.body.token);
    await expectOnlyMfaSetup(api);
    expect(JSON.stringify(await server.running.ctx.db.select().from(authTokens).where(eq(authTokens.userId, user.id)))).not.toContain('"kind":"api"');

    const { secret } = await enrollTotp(api);
    expect((await api.get('/api/v1/machines')).status).toBe(200);
    expect((await api.post('/api/v1/me/tokens', { name: 'now allowed', permissions: ['machines.view'] })).status).toBe(201);
    // The role's policy also means it cannot be switched off, even with the password and a good code.
    await forgetLastStep(server, user.id);
    const off = await api.post('/api/v1/me/mfa/disable', { password: TEST_PASSWORD, totpCode: await totpCode(secret) });
    expect(off.status).toBe(409);
    expect((await api.get('/api/v1/me/mfa')).body.enabled).toBe(true);
  });

  it('a client requiring MFA (PATCH requireMfa) holds its client users to the same rule, existing tokens included', async () => {
    const client = await admin.post('/api/v1/clients', { name: 'Strict Client' });
    const user = await createUser(server, { role: 'client_end_user', clientId: client.body.id });
    const before = await loginAs(server, user.email);
    expect((await before.get('/api/v1/machines')).status).toBe(200);

    const patched = await admin.patch(`/api/v1/clients/${client.body.id}`, { requireMfa: true });
    expect(patched.status).toBe(200);
    expect(patched.body.requireMfa).toBe(true);
    await expectOnlyMfaSetup(before);
    const fresh = await login(user.email);
    expect(fresh.body.mfa).toEqual({ enabled: false, required: true, verified: false });
    await expectOnlyMfaSetup(apiClient(server.url, fresh.body.token));

    await enrollTotp(before);
    expect((await before.get('/api/v1/machines')).status).toBe(200);
    // The other, unverified session stays locked out: enrolling elsewhere proves nothing about it.
    expect((await apiClient(server.url, fresh.body.token).get('/api/v1/machines')).status).toBe(403);
  });

  it('keeps the TOTP secret sealed: never in the users table, the API after enrollment, the audit log or the logs', async () => {
    const user = await technician();
    const api = await loginAs(server, user.email);
    const start = await api.post('/api/v1/me/mfa/totp');
    const secret = start.body.secret as string;
    const pending = await server.running.ctx.db.select().from(users).where(eq(users.id, user.id));
    expect(pending[0].mfaPendingSecretSealed).not.toBeNull();
    expect(JSON.stringify(pending)).not.toContain(secret);
    expect(Buffer.from(pending[0].mfaPendingSecretSealed!).toString('latin1')).not.toContain(secret);
    await awaitStepHeadroom();
    const confirm = await api.post('/api/v1/me/mfa/totp/confirm', { code: await totpCode(secret) });
    expect(confirm.status).toBe(200);
    const [row] = await server.running.ctx.db.select().from(users).where(eq(users.id, user.id));
    expect(row.mfaSecretSealed).not.toBeNull();
    expect(row.mfaPendingSecretSealed).toBeNull();
    for (const text of [JSON.stringify(row), Buffer.from(row.mfaSecretSealed!).toString('latin1'), Buffer.from(row.mfaSecretSealed!).toString('hex')]) {
      expect(text).not.toContain(secret);
    }
    expect(JSON.stringify((await api.get('/api/v1/me/mfa')).body)).not.toContain(secret);
    const audit = JSON.stringify(await server.running.ctx.db.select().from(auditEvents));
    expect(audit).toContain('mfa.enable');
    for (const text of [server.logText(), audit]) {
      expect(text).not.toContain(secret);
      for (const code of confirm.body.recoveryCodes as string[]) expect(text).not.toContain(code);
    }
  });

  /** The token may look at itself and set MFA up; anything else is 403 with the MFA reason. */
  async function expectOnlyMfaSetup(api: Api) {
    expect((await api.get('/api/v1/me/mfa')).status).toBe(200);
    for (const [method, path, body] of [
      ['GET', '/api/v1/machines'],
      ['GET', '/api/v1/clients'],
      ['POST', '/api/v1/clients', { name: 'Should not exist' }],
      ['POST', '/api/v1/me/tokens', { name: 'sneaky', permissions: ['machines.view'] }],
      ['GET', '/api/v1/me/tokens'],
      ['POST', '/api/v1/me/mfa/disable', { password: TEST_PASSWORD, totpCode: '123456' }],
    ] as const) {
      const res = await api.call(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body.error.message, `${method} ${path}`).toMatch(MFA_REASON);
    }
  }
});
