import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authTokens, outboxMessages, passwordResetTokens, users } from '../../server/db/schema.ts';
import { apiClient, setupAdmin, type Api } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createUser, grantClientAccess, loginAs, TEST_PASSWORD } from '../helpers/users.ts';

/**
 * The user API: create (with a password or by invitation), list with filters and scope, read, edit, disable (which
 * ends every token at once), re-enable, delete; unique case-insensitive emails; never a hash or secret in a reply.
 */
const PASSWORD = 'a long enough password';

describe.each(backends())('users API on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  let clientA: string;
  let clientB: string;
  const db = () => server.running.ctx.db;
  const audit = async (action: string, targetId: string) =>
    (await admin.get(`/api/v1/audit?action=${action}&targetId=${targetId}`)).body.events as { outcome: string; actorId: string; details: any }[];

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api: admin } = await setupAdmin(server));
    clientA = (await admin.post('/api/v1/clients', { name: 'Acme' })).body.id;
    clientB = (await admin.post('/api/v1/clients', { name: 'Globex' })).body.id;
  });
  afterAll(async () => {
    await server?.close();
  });

  it('creates a technician with a password who can then sign in; no hash or secret is ever returned', async () => {
    const res = await admin.post('/api/v1/users', { email: 'Tess.Tech@Example.test', name: ' Tess Tech ', kind: 'technician', role: 'technician', password: PASSWORD });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      email: 'tess.tech@example.test',
      name: 'Tess Tech',
      kind: 'technician',
      clientId: null,
      role: 'technician',
      allowRemoteControl: false,
      disabled: false,
      disabledAt: null,
      mfaEnabled: false,
      passwordSet: true,
    });
    const text = JSON.stringify(res.body);
    expect(text).not.toMatch(/argon2|passwordHash|mfaSecret/i);
    const login = await apiClient(server.url).post('/api/v1/auth/login', { email: 'TESS.tech@example.test', password: PASSWORD });
    expect(login.status).toBe(200);
    // No invitation for a user who has a password.
    expect(await db().select().from(passwordResetTokens).where(eq(passwordResetTokens.userId, res.body.id))).toEqual([]);
    const [event] = await audit('user.create', res.body.id);
    expect(event).toMatchObject({ outcome: 'success', details: { email: 'tess.tech@example.test', role: 'technician', kind: 'technician', invited: false } });
    expect(JSON.stringify(event)).not.toContain(PASSWORD);
  });

  it('invites a user created without a password, in the same transaction', async () => {
    const res = await admin.post('/api/v1/users', { email: 'cu1@acme.test', name: 'Carl User', kind: 'client_user', clientId: clientA, role: 'client_end_user', allowRemoteControl: true });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ kind: 'client_user', clientId: clientA, role: 'client_end_user', allowRemoteControl: true, passwordSet: false });
    const links = await db().select().from(passwordResetTokens).where(eq(passwordResetTokens.userId, res.body.id));
    expect(links).toHaveLength(1);
    expect(links[0].purpose).toBe('invite');
    expect(links[0].expiresAt.getTime()).toBeGreaterThan(Date.now() + 71 * 3600_000);
    const mail = await db().select().from(outboxMessages).where(eq(outboxMessages.recipient, 'cu1@acme.test'));
    expect(mail.map((m) => m.purpose)).toEqual(['invitation']);
    const body = Buffer.from(server.running.ctx.secrets.open(mail[0].bodySealed)).toString('utf8');
    expect(body).toContain('/reset-password#token=');
    expect(body).not.toContain(links[0].tokenHash);
    // Nobody can sign in to an invited account before the password is set.
    const login = await apiClient(server.url).post('/api/v1/auth/login', { email: 'cu1@acme.test', password: 'whatever password 1' });
    expect(login.status).toBe(401);
  });

  it('refuses a taken email whatever its case, with a clear 409, and writes nothing', async () => {
    const before = (await db().select().from(users)).length;
    const res = await admin.post('/api/v1/users', { email: 'TESS.TECH@example.TEST', name: 'Other', kind: 'technician', role: 'technician' });
    expect(res.status).toBe(409);
    expect(res.body.error).toEqual({ code: 'conflict', message: 'email tess.tech@example.test is already in use' });
    expect((await db().select().from(users)).length).toBe(before);
    expect(await db().select().from(outboxMessages).where(eq(outboxMessages.recipient, 'tess.tech@example.test'))).toEqual([]);
  });

  it.each([
    [{ email: 'x1@example.test', name: 'X', kind: 'client_user', role: 'client_end_user' }, 'a client user needs a client'],
    [{ email: 'x2@example.test', name: 'X', kind: 'technician', clientId: 'CLIENT_A', role: 'technician' }, 'a technician does not belong to a client'],
    [{ email: 'x3@example.test', name: 'X', kind: 'client_user', clientId: '00000000-0000-4000-8000-000000000000', role: 'client_end_user' }, 'client does not exist'],
    [{ email: 'x4@example.test', name: 'X', kind: 'client_user', clientId: 'CLIENT_A', role: 'admin' }, "a client user cannot hold role 'Admin' (its scope is global)"],
    [{ email: 'x5@example.test', name: 'X', kind: 'technician', role: 'no_such_role' }, "unknown role 'no_such_role'"],
    [{ email: 'x6@example.test', name: 'X', kind: 'technician', role: 'technician', password: 'short pw' }, 'body/password must NOT have fewer than 12 characters'],
    [{ email: 'not-an-email', name: 'X', kind: 'technician', role: 'technician' }, 'body/email must match format "email"'],
    [{ email: 'x7@example.test', name: 'X', kind: 'technician', role: 'technician', isAdmin: true }, 'body/isAdmin is not allowed'],
    [{ email: 'x8@example.test', name: 'X', kind: 'robot', role: 'technician' }, 'body/kind must be equal to one of the allowed values'],
  ])('refuses a bad create with 400: %j', async (body, message) => {
    const res = await admin.post('/api/v1/users', JSON.parse(JSON.stringify(body).replace('CLIENT_A', clientA)));
    expect(res.status).toBe(400);
    expect(res.body.error.message).toBe(message);
  });

  it('lists with filters, and a manager scoped to one client sees only that client’s users', async () => {
    const cuB = await createUser(server, { role: 'client_end_user', clientId: clientB, email: 'cu@globex.test' });
    const all = await admin.get('/api/v1/users');
    expect(all.status).toBe(200);
    expect(all.body.users.map((u: { email: string }) => u.email)).toEqual(expect.arrayContaining(['admin@example.test', 'tess.tech@example.test', 'cu1@acme.test', 'cu@globex.test']));
    expect(JSON.stringify(all.body)).not.toMatch(/argon2/);
    const byClient = await admin.get(`/api/v1/users?clientId=${clientB}`);
    expect(byClient.body.users.map((u: { id: string }) => u.id)).toEqual([cuB.id]);
    const techs = await admin.get('/api/v1/users?kind=technician&role=technician');
    expect(techs.body.users.map((u: { email: string }) => u.email)).toEqual(['tess.tech@example.test']);
    expect((await admin.get('/api/v1/users?disabled=true')).body.users).toEqual([]);
    expect((await admin.get('/api/v1/users?kind=robot')).status).toBe(400);

    // A custom role that manages users of the clients it has client access to.
    const role = await admin.post('/api/v1/roles', { name: 'Contact Manager', permissions: ['users.manage', 'machines.view', 'sessions.join', 'sessions.view_only'], scope: 'granted' });
    expect(role.status).toBe(201);
    const manager = await createUser(server, { role: role.body.id });
    await grantClientAccess(server, manager.id, clientA);
    const api = await loginAs(server, manager.email);
    const seen = await api.get('/api/v1/users');
    expect(seen.status).toBe(200);
    expect(seen.body.users.map((u: { email: string }) => u.email)).toEqual(['cu1@acme.test']);
    expect((await api.get(`/api/v1/users/${cuB.id}`)).status).toBe(403);
    // It can create a contact of its client, but not of another client, nor a technician.
    expect((await api.post('/api/v1/users', { email: 'cu2@acme.test', name: 'C2', kind: 'client_user', clientId: clientA, role: 'client_end_user' })).status).toBe(201);
    const other = await api.post('/api/v1/users', { email: 'cu3@globex.test', name: 'C3', kind: 'client_user', clientId: clientB, role: 'client_end_user' });
    expect(other.status).toBe(403);
    expect((await api.post('/api/v1/users', { email: 't3@example.test', name: 'T3', kind: 'technician', role: 'remote_workforce' })).status).toBe(403);
  });

  it('reads one user, 404 for an unknown id, 400 for a malformed one, 401 for anonymous callers', async () => {
    const [tess] = await db().select().from(users).where(eq(users.email, 'tess.tech@example.test'));
    const res = await admin.get(`/api/v1/users/${tess.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: tess.id, email: 'tess.tech@example.test', passwordSet: true });
    expect((await admin.get('/api/v1/users/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await admin.get('/api/v1/users/not-a-uuid')).status).toBe(400);
    expect((await apiClient(server.url).get('/api/v1/users')).status).toBe(401);
    expect((await apiClient(server.url).post('/api/v1/users', {})).status).toBe(401);
  });

  it('edits name, email, role and the remote-control switch; audits before and after', async () => {
    const u = await createUser(server, { role: 'remote_workforce', email: 'edit.me@example.test', allowRemoteControl: false });
    const res = await admin.patch(`/api/v1/users/${u.id}`, { name: 'Edited', email: 'Edited@Example.test', role: 'technician', allowRemoteControl: true });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'Edited', email: 'edited@example.test', role: 'technician', allowRemoteControl: true });
    const [event] = await audit('user.update', u.id);
    expect(event.details.before).toMatchObject({ email: 'edit.me@example.test', role: 'remote_workforce', allowRemoteControl: false });
    expect(event.details.after).toMatchObject({ email: 'edited@example.test', role: 'technician', allowRemoteControl: true });
    const taken = await admin.patch(`/api/v1/users/${u.id}`, { email: 'CU1@acme.test' });
    expect(taken.status).toBe(409);
    expect(taken.body.error.message).toBe('email cu1@acme.test is already in use');
    expect((await admin.patch(`/api/v1/users/${u.id}`, {})).status).toBe(400);
    expect((await admin.patch(`/api/v1/users/${u.id}`, { passwordHash: 'x' })).status).toBe(400);
    expect((await admin.patch(`/api/v1/users/${u.id}`, { role: 'nope' })).body.error.message).toBe("unknown role 'nope'");
  });

  it('disabling ends every token of the user at once; re-enabling lets them sign in again', async () => {
    const u = await createUser(server, { role: 'technician' });
    const first = await loginAs(server, u.email);
    const second = await loginAs(server, u.email);
    expect((await first.get('/api/v1/clients')).status).toBe(200);

    const res = await admin.patch(`/api/v1/users/${u.id}`, { disabled: true });
    expect(res.status).toBe(200);
    expect(res.body.disabled).toBe(true);
    expect(Date.parse(res.body.disabledAt)).toBeGreaterThan(Date.now() - 60_000);
    for (const api of [first, second]) expect((await api.get('/api/v1/clients')).status).toBe(401);
    const tokens = await db().select().from(authTokens).where(eq(authTokens.userId, u.id));
    expect(tokens.length).toBe(2);
    expect(tokens.every((t) => t.revokedAt)).toBe(true);
    expect((await apiClient(server.url).post('/api/v1/auth/login', { email: u.email, password: TEST_PASSWORD })).status).toBe(401);
    const [event] = await audit('user.disable', u.id);
    expect(event.details).toMatchObject({ revokedTokens: 2, before: { disabled: false }, after: { disabled: true } });
    expect((await admin.get(`/api/v1/users?disabled=true`)).body.users.map((x: { id: string }) => x.id)).toContain(u.id);

    const back = await admin.patch(`/api/v1/users/${u.id}`, { disabled: false });
    expect(back.status).toBe(200);
    expect(back.body).toMatchObject({ disabled: false, disabledAt: null });
    expect((await (await loginAs(server, u.email)).get('/api/v1/clients')).status).toBe(200);
    expect(await audit('user.enable', u.id)).toHaveLength(1);
  });

  it('deletes a user (their tokens go with them) and audits it', async () => {
    const u = await createUser(server, { role: 'technician' });
    const api = await loginAs(server, u.email);
    expect((await admin.delete(`/api/v1/users/${u.id}`)).status).toBe(204);
    expect((await admin.get(`/api/v1/users/${u.id}`)).status).toBe(404);
    expect((await api.get('/api/v1/clients')).status).toBe(401);
    expect((await admin.delete(`/api/v1/users/${u.id}`)).status).toBe(404);
    const [event] = await audit('user.delete', u.id);
    expect(event.details.before).toMatchObject({ email: u.email, role: 'technician' });
  });

  it('emails a password link: an invitation before the first password, a reset after', async () => {
    const [invited] = await db().select().from(users).where(eq(users.email, 'cu1@acme.test'));
    const again = await admin.post(`/api/v1/users/${invited.id}/password-link`);
    expect(again.status).toBe(202);
    expect(again.body).toEqual({ purpose: 'invite' });
    const [tess] = await db().select().from(users).where(eq(users.email, 'tess.tech@example.test'));
    expect((await admin.post(`/api/v1/users/${tess.id}/password-link`)).body).toEqual({ purpose: 'reset' });
    const links = await db().select().from(passwordResetTokens).where(eq(passwordResetTokens.userId, tess.id));
    expect(links.map((l) => l.purpose)).toEqual(['reset']);
    expect(await audit('user.password_link', tess.id)).toHaveLength(1);
  });
});
