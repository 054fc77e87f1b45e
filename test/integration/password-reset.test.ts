import fs from 'node:fs';
import path from 'node:path';
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPasswordLinkToken, issuePasswordLink } from '../../server/auth/password-link.ts';
import { auditEvents, outboxMessages, passwordResetTokens, users } from '../../server/db/schema.ts';
import { kickOutbox, startOutboxWorker, type OutboxWorker } from '../../server/notify/outbox-worker.ts';
import { apiClient, setupAdmin, waitFor } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { awaitStepHeadroom, totpCode } from '../helpers/totp.ts';
import { createUser, loginAs, TEST_PASSWORD } from '../helpers/users.ts';

/**
 * Forgot password end to end, with no SMTP server configured: the emailed link lands as an .eml file under the data
 * directory, the test reads it there like an operator would, and uses the token in it through the public API.
 */
const NEW_PASSWORD = 'a brand new password 42';
const INVALID_LINK = { error: { code: 'invalid', message: 'this password link is invalid, expired or already used; ask for a new one' } };

interface Mail {
  file: string;
  to: string;
  subject: string;
  body: string;
  token: string | null;
}

/** Undoes quoted-printable (nodemailer's encoding for lines longer than 76 characters, such as the link's). */
const decodeQuotedPrintable = (text: string) =>
  Buffer.from(text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1').toString('utf8');

function readMails(server: TestServer): Mail[] {
  const dir = path.join(server.db.dataDir, 'outbox');
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.eml'))
    .map((name) => {
      const file = path.join(dir, name);
      const raw = fs.readFileSync(file, 'utf8');
      const [head, ...rest] = raw.split('\r\n\r\n');
      const header = (key: string) => new RegExp(`^${key}: (.*)$`, 'mi').exec(head)?.[1]?.trim() ?? '';
      const body = /quoted-printable/i.test(head) ? decodeQuotedPrintable(rest.join('\r\n\r\n')) : rest.join('\r\n\r\n');
      return { file, to: header('To'), subject: header('Subject'), body, token: /#token=([A-Za-z0-9_-]+)/.exec(body)?.[1] ?? null };
    });
}

describe.each(backends())('forgot password on %s', (backend) => {
  let server: TestServer;
  let worker: OutboxWorker;
  const anon = () => apiClient(server.url);
  const db = () => server.running.ctx.db;
  const mailsTo = (email: string) => readMails(server).filter((m) => m.to === email);
  const resetRequests = async () => (await db().select().from(auditEvents).where(eq(auditEvents.action, 'auth.password_reset_request'))).length;

  /** Asks for a reset and waits until the request was acted on (its audit event is written). */
  async function requestReset(email: string) {
    const before = await resetRequests();
    const res = await anon().post('/api/v1/auth/password-reset', { email });
    await waitFor(async () => (await resetRequests()) > before, 10_000, 'the reset request to be handled');
    return res;
  }

  /** Asks for a reset and returns the token of the mail that arrives for it. */
  async function resetToken(email: string): Promise<string> {
    const known = new Set(mailsTo(email).map((m) => m.file));
    expect((await requestReset(email)).status).toBe(202);
    const mail = await waitFor(async () => mailsTo(email).find((m) => !known.has(m.file)), 10_000, `a mail to ${email}`);
    expect(mail.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    return mail.token!;
  }

  beforeAll(async () => {
    server = await startTestServer({ backend });
    await setupAdmin(server);
    // Started here until server/app.ts starts it; a second start returns the server's own worker.
    worker = startOutboxWorker(server.running.ctx);
  });
  afterAll(async () => {
    await worker?.stop();
    await server?.close();
  });

  it('answers a known and an unknown email identically, and mails only the known one', async () => {
    const user = await createUser(server, { role: 'technician', name: 'Kim Known' });
    const known = await requestReset(user.email.toUpperCase());
    const unknown = await requestReset('nobody-here@example.test');
    expect(known.status).toBe(202);
    expect(unknown.status).toBe(202);
    expect(known.body).toEqual({ status: 'accepted' });
    expect(unknown.body).toEqual(known.body);
    expect(unknown.headers.get('content-length')).toBe(known.headers.get('content-length'));

    const mail = await waitFor(async () => mailsTo(user.email)[0], 10_000, 'the reset mail');
    expect(mail.subject).toBe('Reset your Steward password');
    expect(mail.body).toContain(`${server.config.publicUrl}/reset-password#token=${mail.token}`);
    expect(mail.body).toContain('Hello Kim Known');
    expect(fs.statSync(mail.file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(mail.file)).mode & 0o077).toBe(0);
    expect(readMails(server).filter((m) => m.to.includes('nobody-here'))).toEqual([]);
    expect((await db().select().from(outboxMessages)).map((m) => m.recipient)).toEqual([user.email]);

    const events = await db().select().from(auditEvents).where(eq(auditEvents.action, 'auth.password_reset_request'));
    expect(events.find((e) => e.targetId === user.id)).toMatchObject({ outcome: 'success', actorType: 'anonymous', address: '127.0.0.1' });
    const miss = events.find((e) => e.targetId !== user.id)!;
    expect(miss).toMatchObject({ outcome: 'failure', targetId: null, details: { reason: 'no such account' } });
    expect(JSON.stringify(miss)).not.toContain('nobody-here');

    // One log line names the recipient and the file; neither the token nor the body is ever logged.
    const line = await waitFor(async () => server.logs.find((l) => l.msg === 'mail written to file (no SMTP server configured)' && l.to === user.email));
    expect(line).toMatchObject({ file: mail.file, subject: 'Reset your Steward password' });
    expect(server.logText()).not.toContain(mail.token);
    expect(server.logText()).not.toContain('someone asked to reset');
  });

  it('sets the password with the link once, revokes old tokens, and does not sign in', async () => {
    const user = await createUser(server, { role: 'technician' });
    const before = await loginAs(server, user.email);
    expect((await before.get('/api/v1/me')).status).toBe(200);

    const token = await resetToken(user.email);
    const done = await anon().post('/api/v1/auth/password-reset/confirm', { token, newPassword: NEW_PASSWORD });
    expect(done.status).toBe(204);
    expect(done.body).toBeNull();
    const again = await anon().post('/api/v1/auth/password-reset/confirm', { token, newPassword: 'yet another password 1' });
    expect(again.status).toBe(400);
    expect(again.body).toEqual(INVALID_LINK);

    expect((await before.get('/api/v1/me')).status).toBe(401);
    expect((await anon().post('/api/v1/auth/login', { email: user.email, password: TEST_PASSWORD })).status).toBe(401);
    const login = await anon().post('/api/v1/auth/login', { email: user.email, password: NEW_PASSWORD });
    expect(login.status).toBe(200);
    expect((await apiClient(server.url, login.body.token).get('/api/v1/me')).status).toBe(200);

    const [row] = await db().select().from(users).where(eq(users.id, user.id));
    expect(row.passwordHash).toMatch(/^\$argon2id\$/);
    expect(row.passwordChangedAt).toBeInstanceOf(Date);
    const [changed] = await db()
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, 'auth.password_reset'), eq(auditEvents.targetId, user.id)));
    expect(changed).toMatchObject({ outcome: 'success', actorId: user.id, details: { purpose: 'reset', tokensRevoked: 1 } });
    expect(server.logText()).not.toContain(token);
  });

  it('ends older links when one is used, and refuses an expired link', async () => {
    const user = await createUser(server, { role: 'technician' });
    const older = await resetToken(user.email);
    const newer = await resetToken(user.email);
    expect((await anon().post('/api/v1/auth/password-reset/confirm', { token: newer, newPassword: NEW_PASSWORD })).status).toBe(204);
    const stale = await anon().post('/api/v1/auth/password-reset/confirm', { token: older, newPassword: NEW_PASSWORD });
    expect(stale.status).toBe(400);
    expect(stale.body).toEqual(INVALID_LINK);

    const expiring = await createUser(server, { role: 'technician' });
    const token = await resetToken(expiring.email);
    await db()
      .update(passwordResetTokens)
      .set({ expiresAt: sql`now() - interval '1 second'` })
      .where(eq(passwordResetTokens.tokenHash, hashPasswordLinkToken(token)));
    const expired = await anon().post('/api/v1/auth/password-reset/confirm', { token, newPassword: NEW_PASSWORD });
    expect(expired.status).toBe(400);
    expect(expired.body).toEqual(INVALID_LINK);
    expect((await anon().post('/api/v1/auth/login', { email: expiring.email, password: TEST_PASSWORD })).status).toBe(200);
  });

  it('lets exactly one of two concurrent confirmations win', async () => {
    const user = await createUser(server, { role: 'technician' });
    const token = await resetToken(user.email);
    const passwords = ['first racer password', 'second racer password'];
    const results = await Promise.all(passwords.map((newPassword) => anon().post('/api/v1/auth/password-reset/confirm', { token, newPassword })));
    expect(results.map((r) => r.status).sort()).toEqual([204, 400]);
    const winner = passwords[results.findIndex((r) => r.status === 204)];
    const loser = passwords[results.findIndex((r) => r.status === 400)];
    expect((await anon().post('/api/v1/auth/login', { email: user.email, password: loser })).status).toBe(401);
    expect((await anon().post('/api/v1/auth/login', { email: user.email, password: winner })).status).toBe(200);
  });

  it('still demands the MFA code at the next login after a reset', async () => {
    const user = await createUser(server, { role: 'technician' });
    const me = await loginAs(server, user.email);
    const enroll = await me.post('/api/v1/me/mfa/totp');
    expect(enroll.status).toBe(200);
    await awaitStepHeadroom();
    const confirm = await me.post('/api/v1/me/mfa/totp/confirm', { code: await totpCode(enroll.body.secret) });
    expect(confirm.status).toBe(200);

    const token = await resetToken(user.email);
    expect((await anon().post('/api/v1/auth/password-reset/confirm', { token, newPassword: NEW_PASSWORD })).status).toBe(204);
    const withoutCode = await anon().post('/api/v1/auth/login', { email: user.email, password: NEW_PASSWORD });
    expect(withoutCode.status).toBe(401);
    expect(withoutCode.body.error.code).toBe('mfa_required');
    // The enrollment used this step's code; the next step's code is fresh and within the accepted window.
    const login = await anon().post('/api/v1/auth/login', { email: user.email, password: NEW_PASSWORD, totpCode: await totpCode(enroll.body.secret, { stepsAgo: -1 }) });
    expect(login.status).toBe(200);
    expect(login.body.mfa).toMatchObject({ enabled: true, verified: true });
  });

  it('sets a first password with an invitation link', async () => {
    const user = await createUser(server, { role: 'technician' });
    await db().update(users).set({ passwordHash: null }).where(eq(users.id, user.id));
    await db().transaction((tx) => issuePasswordLink(server.running.ctx, tx, user, 'invite'));
    kickOutbox(server.running.ctx);
    const mail = await waitFor(async () => mailsTo(user.email)[0], 10_000, 'the invitation');
    expect(mail.subject).toBe('Your Steward account');
    expect((await anon().post('/api/v1/auth/password-reset/confirm', { token: mail.token, newPassword: NEW_PASSWORD })).status).toBe(204);
    expect((await anon().post('/api/v1/auth/login', { email: user.email, password: NEW_PASSWORD })).status).toBe(200);
    const [changed] = await db()
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, 'auth.password_reset'), eq(auditEvents.targetId, user.id)));
    expect(changed.details).toMatchObject({ purpose: 'invite' });
  });

  it('sends at most 3 reset emails per account per hour, and none to a disabled user', async () => {
    const user = await createUser(server, { role: 'technician' });
    // In parallel: the user row is locked while links are counted, so racing requests cannot exceed the budget.
    const before = await resetRequests();
    const answers = await Promise.all(Array.from({ length: 5 }, () => anon().post('/api/v1/auth/password-reset', { email: user.email })));
    expect(answers.map((r) => r.status)).toEqual([202, 202, 202, 202, 202]);
    await waitFor(async () => (await resetRequests()) === before + 5, 10_000, 'five handled requests');
    expect(await db().select().from(passwordResetTokens).where(eq(passwordResetTokens.userId, user.id))).toHaveLength(3);
    await waitFor(async () => mailsTo(user.email).length === 3, 10_000, 'three mails');
    expect(await db().select().from(outboxMessages).where(eq(outboxMessages.recipient, user.email))).toHaveLength(3);
    const outcomes = await db()
      .select({ outcome: auditEvents.outcome, details: auditEvents.details })
      .from(auditEvents)
      .where(and(eq(auditEvents.action, 'auth.password_reset_request'), eq(auditEvents.targetId, user.id)));
    expect(outcomes.filter((e) => e.outcome === 'failure').map((e) => e.details)).toEqual([{ reason: 'rate limited' }, { reason: 'rate limited' }]);

    const disabled = await createUser(server, { role: 'technician' });
    await db().update(users).set({ disabledAt: new Date() }).where(eq(users.id, disabled.id));
    expect((await requestReset(disabled.email)).body).toEqual({ status: 'accepted' });
    expect(await db().select().from(passwordResetTokens).where(eq(passwordResetTokens.userId, disabled.id))).toEqual([]);
  });

  it('refuses made-up links, short passwords and unknown fields', async () => {
    const made = await anon().post('/api/v1/auth/password-reset/confirm', { token: 'A'.repeat(43), newPassword: NEW_PASSWORD });
    expect(made.status).toBe(400);
    expect(made.body).toEqual(INVALID_LINK);
    const short = await anon().post('/api/v1/auth/password-reset/confirm', { token: 'A'.repeat(43), newPassword: 'too short' });
    expect(short.status).toBe(400);
    expect(short.body.error.message).toMatch(/newPassword/);
    expect((await anon().post('/api/v1/auth/password-reset', { email: 'a@example.test', admin: true })).status).toBe(400);
    expect((await anon().post('/api/v1/auth/password-reset', { email: 'not an email' })).status).toBe(400);
  });

  it('never stores the link token or the mail body in clear', async () => {
    const user = await createUser(server, { role: 'technician', name: 'Zed Zebra-Unique' });
    const token = await resetToken(user.email);
    const dump = await databaseDump(server);
    expect(dump.length).toBeGreaterThan(1000);
    for (const needle of [token, 'Hello Zed Zebra-Unique', 'someone asked to reset']) {
      expect(dump).not.toContain(needle);
      expect(dump).not.toContain(Buffer.from(needle, 'utf8').toString('hex'));
    }
    expect(dump).toContain(hashPasswordLinkToken(token));
    expect(server.logText()).not.toContain(token);
  });

  it('stops mailing an address that asked too often, without locking its sign-in', async () => {
    const user = await createUser(server, { role: 'technician' });
    const asked = await db().select().from(auditEvents).where(eq(auditEvents.action, 'auth.password_reset_request'));
    // 30 requests per address in 15 minutes (the address policy of the login throttle); earlier tests used some.
    for (let i = asked.length; i < 30; i++) await requestReset(`spray-${i}@example.test`);
    const res = await requestReset(user.email);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ status: 'accepted' });
    expect(await db().select().from(passwordResetTokens).where(eq(passwordResetTokens.userId, user.id))).toEqual([]);
    const [last] = await db().select().from(auditEvents).where(eq(auditEvents.action, 'auth.password_reset_request')).orderBy(sql`${auditEvents.id} desc`).limit(1);
    expect(last.details).toEqual({ reason: 'address throttled' });
    expect((await anon().post('/api/v1/auth/login', { email: user.email, password: TEST_PASSWORD })).status).toBe(200);
  });
});

/** Every row of every table as JSON text (bytea columns appear as hex). */
async function databaseDump(server: TestServer): Promise<string> {
  const db = server.running.ctx.db;
  const rowsOf = (result: unknown) => (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as Record<string, unknown>[];
  const tables = rowsOf(await db.execute(sql`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`));
  let dump = '';
  for (const { table_name } of tables) {
    dump += JSON.stringify(rowsOf(await db.execute(sql`select row_to_json(t)::text as row from ${sql.identifier(String(table_name))} t`)));
  }
  return dump;
}
