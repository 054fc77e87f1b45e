import net from 'node:net';
import { eq, sql } from 'drizzle-orm';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxMessages } from '../../server/db/schema.ts';
import { enqueueMail } from '../../server/notify/mail.ts';
import { kickOutbox, OUTBOX_POLICY, startOutboxWorker, type OutboxWorker } from '../../server/notify/outbox-worker.ts';
import { apiClient, setupAdmin, waitFor } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createUser } from '../helpers/users.ts';

/**
 * Outbox delivery to a real SMTP server (the `smtp-server` package on a loopback port): retries with backoff while
 * the mail server is down, giving up visibly, and — with two server replicas on one PostgreSQL database — every
 * message sent exactly once.
 */
const SMTP_PASSWORD = 'smtp-Secret-Pa55';

interface Received {
  mailFrom: string;
  rcptTo: string[];
  to: string;
  subject: string;
  autoSubmitted: string;
  body: string;
}

const decodeQuotedPrintable = (text: string) =>
  Buffer.from(text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1').toString('utf8');

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** A real SMTP server that keeps what it receives; recipients at `reject.test` are refused with a 550. */
async function startSmtp(port: number, opts: { delayMs?: number } = {}) {
  const received: Received[] = [];
  const smtp = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === 'steward' && auth.password === SMTP_PASSWORD) callback(null, { user: auth.username });
      else callback(new Error('bad credentials'));
    },
    onRcptTo(address, _session, callback) {
      if (address.address.endsWith('@reject.test')) return callback(Object.assign(new Error('mailbox unavailable'), { responseCode: 550 }));
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const [head, ...rest] = raw.split('\r\n\r\n');
        const header = (key: string) => new RegExp(`^${key}: (.*)$`, 'mi').exec(head)?.[1]?.trim() ?? '';
        received.push({
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          to: header('To'),
          subject: header('Subject'),
          autoSubmitted: header('Auto-Submitted'),
          body: /quoted-printable/i.test(head) ? decodeQuotedPrintable(rest.join('\r\n\r\n')) : rest.join('\r\n\r\n'),
        });
        setTimeout(() => callback(), opts.delayMs ?? 0);
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(port, '127.0.0.1', () => resolve()));
  return { received, close: () => new Promise<void>((resolve) => smtp.close(() => resolve())) };
}

const smtpEnv = (port: number) => ({ STEWARD_SMTP_URL: `smtp://steward:${SMTP_PASSWORD}@127.0.0.1:${port}`, STEWARD_MAIL_FROM: 'Steward Test <noreply@steward.test>' });

describe.each(backends())('outbox delivery over SMTP on %s', (backend) => {
  let server: TestServer;
  let worker: OutboxWorker;
  let port: number;
  let smtp: Awaited<ReturnType<typeof startSmtp>> | null = null;
  const db = () => server.running.ctx.db;
  const rowOf = async (id: number) => (await db().select().from(outboxMessages).where(eq(outboxMessages.id, id)))[0];
  /** Polls the message's row until `ready` holds for it. */
  const rowWhen = (id: number, ready: (row: typeof outboxMessages.$inferSelect) => boolean, what: string) =>
    waitFor(async () => {
      const row = await rowOf(id);
      return ready(row) ? row : null;
    }, 10_000, what);
  const retryNow = async (id: number) => {
    await db().update(outboxMessages).set({ nextAttemptAt: sql`now()` }).where(eq(outboxMessages.id, id));
    kickOutbox(server.running.ctx);
  };
  const secondsUntil = (date: Date) => (date.getTime() - Date.now()) / 1000;

  beforeAll(async () => {
    port = await freePort();
    server = await startTestServer({ backend, env: smtpEnv(port) });
    await setupAdmin(server);
    worker = startOutboxWorker(server.running.ctx);
  });
  afterAll(async () => {
    await worker?.stop();
    await server?.close();
    await smtp?.close();
  });

  it('retries with backoff while the mail server is down, then delivers the reset link once', async () => {
    const user = await createUser(server, { role: 'technician', name: 'Sam Smtp' });
    expect((await apiClient(server.url).post('/api/v1/auth/password-reset', { email: user.email })).status).toBe(202);
    const { id } = await waitFor(async () => (await db().select().from(outboxMessages).where(eq(outboxMessages.recipient, user.email)))[0], 10_000, 'the queued mail');
    const row = await rowWhen(id, (r) => r.lastError !== null, 'a failed attempt');
    expect(row).toMatchObject({ attempts: 1, sentAt: null });
    expect(row.lastError).toMatch(/ECONNREFUSED/);
    expect(secondsUntil(row.nextAttemptAt)).toBeGreaterThan(OUTBOX_POLICY.backoffBaseSeconds - 5);
    expect(secondsUntil(row.nextAttemptAt)).toBeLessThanOrEqual(OUTBOX_POLICY.backoffBaseSeconds);

    await retryNow(row.id);
    const second = await rowWhen(row.id, (r) => r.attempts === 2 && r.lastError !== null, 'a second attempt');
    expect(second.sentAt).toBeNull();
    expect(secondsUntil(second.nextAttemptAt)).toBeGreaterThan(2 * OUTBOX_POLICY.backoffBaseSeconds - 5);
    await waitFor(async () => server.logs.filter((l) => l.msg === 'mail not delivered; will retry' && l.outboxId === row.id).length === 2, 5000, 'two log lines');

    smtp = await startSmtp(port);
    await retryNow(row.id);
    await waitFor(async () => smtp!.received.length > 0, 10_000, 'the message at the SMTP server');
    const sent = await rowWhen(row.id, (r) => r.sentAt !== null, 'sent_at');
    expect(sent).toMatchObject({ attempts: 3, lastError: null });
    expect(smtp.received).toHaveLength(1);
    const [mail] = smtp.received;
    expect(mail).toMatchObject({ mailFrom: 'noreply@steward.test', rcptTo: [user.email], to: user.email, subject: 'Reset your Steward password', autoSubmitted: 'auto-generated' });
    const token = /reset-password#token=([A-Za-z0-9_-]{43})\s/.exec(mail.body)?.[1];
    expect(mail.body).toContain('Hello Sam Smtp');
    expect((await apiClient(server.url).post('/api/v1/auth/password-reset/confirm', { token, newPassword: 'delivered by smtp 123' })).status).toBe(204);

    // Neither the SMTP password nor the link reached the logs or the stored errors.
    expect(server.logText()).not.toContain(SMTP_PASSWORD);
    expect(server.logText()).not.toContain(token);
    await waitFor(async () => server.logs.some((l) => l.msg === 'mail sent' && l.outboxId === row.id && l.to === user.email), 5000, 'the log line');
  });

  it('gives up after the last attempt and leaves the state in the row', async () => {
    smtp ??= await startSmtp(port);
    const [id] = await db().transaction((tx) => enqueueMail(server.running.ctx, tx, [{ to: 'bounce@reject.test', subject: 'Doomed', text: 'never arrives', purpose: 'test' }]));
    kickOutbox(server.running.ctx);
    const first = await rowWhen(id, (r) => r.lastError !== null, 'a refused attempt');
    expect(first).toMatchObject({ attempts: 1, sentAt: null });
    expect(first.lastError).toMatch(/550/);

    await db().update(outboxMessages).set({ attempts: OUTBOX_POLICY.maxAttempts - 1 }).where(eq(outboxMessages.id, id));
    await retryNow(id);
    const last = await rowWhen(id, (r) => r.attempts === OUTBOX_POLICY.maxAttempts && Boolean(r.lastError?.startsWith('gave up')), 'the last attempt');
    expect(last.lastError).toMatch(new RegExp(`^gave up after ${OUTBOX_POLICY.maxAttempts} attempts: .*550`));
    expect(last.sentAt).toBeNull();
    await waitFor(async () => server.logs.some((l) => l.msg === 'mail undeliverable; gave up' && l.outboxId === id), 5000, 'the log line');

    // Due again by the clock, but out of attempts: no worker claims it any more.
    await retryNow(id);
    await new Promise((r) => setTimeout(r, OUTBOX_POLICY.pollMs * 2));
    expect(await rowOf(id)).toMatchObject({ attempts: OUTBOX_POLICY.maxAttempts, sentAt: null });
    expect(smtp.received.filter((m) => m.subject === 'Doomed')).toEqual([]);
  });
});

describe.each(backends().filter((b) => b === 'postgres'))('two replicas on one %s database', (backend) => {
  let first: TestServer;
  let second: TestServer;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  const workers: OutboxWorker[] = [];

  beforeAll(async () => {
    const port = await freePort();
    // A slow mail server, so each replica is still sending while the other claims.
    smtp = await startSmtp(port, { delayMs: 20 });
    first = await startTestServer({ backend, env: smtpEnv(port) });
    second = await startTestServer({ backend, env: smtpEnv(port), db: first.db });
    for (const server of [first, second]) workers.push(startOutboxWorker(server.running.ctx));
  });
  afterAll(async () => {
    for (const worker of workers) await worker.stop();
    await second?.close();
    await first?.close();
    await smtp?.close();
  });

  it('delivers every message exactly once', async () => {
    const count = 60;
    await first.running.ctx.db.transaction(async (tx) => {
      for (let i = 0; i < count; i++) await enqueueMail(first.running.ctx, tx, [{ to: `r${i}@example.test`, subject: `Message ${i}`, text: `body ${i}`, purpose: 'test' }]);
    });
    kickOutbox(first.running.ctx);
    kickOutbox(second.running.ctx);
    await waitFor(async () => smtp.received.length >= count, 30_000, `${count} messages`);
    // A double send would arrive after the last first send: give stragglers time to show up.
    await new Promise((r) => setTimeout(r, OUTBOX_POLICY.pollMs * 2));
    expect(smtp.received).toHaveLength(count);
    expect(new Set(smtp.received.map((m) => m.subject)).size).toBe(count);
    const rows = await first.running.ctx.db.select().from(outboxMessages);
    expect(rows).toHaveLength(count);
    expect(rows.every((r) => r.sentAt !== null && r.attempts === 1 && r.lastError === null)).toBe(true);
    const sentBy = [first, second].map((s) => s.logs.filter((l) => l.msg === 'mail sent').length);
    expect(sentBy[0] + sentBy[1]).toBe(count);
    expect(sentBy[0]).toBeGreaterThan(0);
    expect(sentBy[1]).toBeGreaterThan(0);
  });
});
