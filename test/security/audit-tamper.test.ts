import { asc, eq, gte } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainHash } from '../../server/audit/audit-chain.ts';
import { insertAuditEvents } from '../../server/audit/audit-store.ts';
import { auditEvents } from '../../server/db/schema.ts';
import { apiClient, setupAdmin, type Api } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createUser, loginAs } from '../helpers/users.ts';

/**
 * Someone with write access to the database edits the audit log behind the server's back. `GET /api/v1/audit/verify`
 * must name the first row where the chain breaks — for an edited field, a deleted row, a forged row (with a made-up
 * or even a correctly recomputed hash) and a removed hash — and report the failure in the audit log itself. After
 * each case the original row is put back, and the chain verifies again: the check is exact, not merely suspicious.
 * The last case documents the limit: deleting the newest rows leaves a valid chain, which only a `lastHash` kept
 * outside the database exposes.
 */
type Row = typeof auditEvents.$inferSelect;

describe.each(backends())('audit chain tampering on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  const db = () => server.running.ctx.db;
  const allRows = () => db().select().from(auditEvents).orderBy(asc(auditEvents.id));
  const verify = async () => {
    const res = await admin.get('/api/v1/audit/verify');
    expect(res.status).toBe(200);
    return res.body as { ok: boolean; checked: number; firstBrokenId: number | null; reason: string | null; lastId: number | null; lastHash: string | null };
  };
  const expectIntact = async () => expect(await verify()).toMatchObject({ ok: true, firstBrokenId: null, reason: null });
  /** The row currently at this position of the chain, and the ones around it. */
  const around = async (pick: (rows: Row[]) => number) => {
    const rows = await allRows();
    const i = pick(rows);
    return { before: rows[i - 1], row: rows[i], after: rows[i + 1] };
  };
  const restore = async (row: Row) => {
    await db().delete(auditEvents).where(eq(auditEvents.id, row.id));
    await db().insert(auditEvents).values(row);
  };

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api: admin } = await setupAdmin(server));
    for (let i = 0; i < 3; i++) await apiClient(server.url).post('/api/v1/auth/login', { email: 'intruder@example.test', password: `guess ${i}` });
    for (const name of ['Tamper One', 'Tamper Two']) expect((await admin.post('/api/v1/clients', { name })).status).toBe(201);
    await loginAs(server, (await createUser(server, { role: 'technician' })).email);
    await expectIntact();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('names a row whose details were edited, audits the failed check, and verifies again once restored', async () => {
    const { before, row } = await around((rows) => rows.findIndex((r) => r.action === 'auth.login' && r.outcome === 'failure'));
    await db().update(auditEvents).set({ details: { reason: 'nothing to see' } }).where(eq(auditEvents.id, row.id));
    const result = await verify();
    expect(result).toMatchObject({ ok: false, firstBrokenId: row.id, lastId: before.id, lastHash: before.hash });
    expect(result.reason).toMatch(/modified or forged/);
    const [audited] = (await admin.get('/api/v1/audit?action=audit.verify&limit=1')).body.events;
    expect(audited).toMatchObject({ outcome: 'failure', details: { firstBrokenId: row.id, reason: result.reason } });
    await restore(row);
    await expectIntact();
  });

  it('names a row whose outcome, actor, action, target, address or time (by one millisecond) was changed', async () => {
    const { row } = await around((rows) => rows.findIndex((r) => r.action === 'client.create'));
    const edits: Partial<Row>[] = [
      { outcome: 'failure' },
      { actorId: 'someone-else' },
      { actorType: 'system' },
      { action: 'client.update' },
      { targetId: 'another-client' },
      { targetType: null },
      { address: '10.0.0.1' },
      { at: new Date(row.at.getTime() + 1) },
      { details: { ...(row.details as object), extra: true } },
    ];
    for (const edit of edits) {
      await db().update(auditEvents).set(edit).where(eq(auditEvents.id, row.id));
      expect(await verify(), JSON.stringify(edit)).toMatchObject({ ok: false, firstBrokenId: row.id });
      await restore(row);
    }
    await expectIntact();
  });

  it('names the row after a deleted middle row, and the second row when the first is deleted', async () => {
    const middle = await around((rows) => Math.floor(rows.length / 2));
    await db().delete(auditEvents).where(eq(auditEvents.id, middle.row.id));
    const gap = await verify();
    expect(gap).toMatchObject({ ok: false, firstBrokenId: middle.after.id, lastId: middle.before.id });
    expect(gap.reason).toMatch(/deleted or inserted/);
    await db().insert(auditEvents).values(middle.row);
    await expectIntact();

    const first = await around(() => 0);
    await db().delete(auditEvents).where(eq(auditEvents.id, first.row.id));
    const headless = await verify();
    expect(headless).toMatchObject({ ok: false, firstBrokenId: first.after.id, lastId: null, lastHash: null });
    expect(headless.reason).toMatch(/first row/);
    await db().insert(auditEvents).values(first.row);
    await expectIntact();
  });

  it('names a row whose hash (or both chain columns) was removed', async () => {
    const { row } = await around((rows) => rows.length - 3);
    for (const edit of [{ hash: null }, { hash: null, prevHash: null }, { prevHash: null }]) {
      await db().update(auditEvents).set(edit).where(eq(auditEvents.id, row.id));
      const result = await verify();
      expect(result).toMatchObject({ ok: false, firstBrokenId: row.id });
      expect(result.reason).toMatch(/no hash/);
      await restore(row);
    }
    await expectIntact();
  });

  it('names a forged replacement row, and the next row when the forger recomputed the hash correctly', async () => {
    const { row, after } = await around((rows) => rows.findIndex((r) => r.action === 'client.create'));
    const forged = { ...row, details: { name: 'Forged Client' } };
    await db().delete(auditEvents).where(eq(auditEvents.id, row.id));
    await db().insert(auditEvents).values({ ...forged, hash: 'f'.repeat(64) });
    expect(await verify()).toMatchObject({ ok: false, firstBrokenId: row.id });
    // A forger who knows the algorithm makes the row itself consistent, but the next row still links to the original.
    await db().update(auditEvents).set({ hash: chainHash(row.prevHash!, forged) }).where(eq(auditEvents.id, row.id));
    const result = await verify();
    expect(result).toMatchObject({ ok: false, firstBrokenId: after.id, lastId: row.id });
    await restore(row);
    await expectIntact();
  });

  it('walks a log larger than one page (5000 rows) and finds an edit on the second page', async () => {
    // One call, one transaction: more rows than one INSERT may carry bind parameters for (chunked inside).
    const events = Array.from({ length: 6000 }, (_, i) => ({ actorType: 'agent' as const, actorId: `m-${i % 50}`, action: 'agent.connect', outcome: 'success' as const, details: { i } }));
    await insertAuditEvents(db(), events);
    const rows = await allRows();
    const intact = await verify();
    expect(intact).toMatchObject({ ok: true, checked: rows.length, lastId: rows[rows.length - 1].id });
    const row = rows[5500];
    await db().update(auditEvents).set({ actorId: 'm-999' }).where(eq(auditEvents.id, row.id));
    expect(await verify()).toMatchObject({ ok: false, firstBrokenId: row.id, checked: 5501 });
    await restore(row);
    await expectIntact();
  });

  it('names a forged row appended with a made-up hash; truncating the newest rows is caught only by an anchored lastHash', async () => {
    const anchor = await verify();
    expect(anchor.ok).toBe(true);
    const rows = await allRows();
    const last = rows[rows.length - 1];
    const [forged] = await db()
      .insert(auditEvents)
      .values({ actorType: 'user', actorId: last.actorId, action: 'auth.login', outcome: 'success', at: new Date(), prevHash: last.hash, hash: 'ab'.repeat(32) })
      .returning();
    const result = await verify();
    expect(result).toMatchObject({ ok: false, firstBrokenId: forged.id, lastId: last.id });
    expect(result.reason).toMatch(/modified or forged/);

    // Deleting the newest rows (the anchored one, the verify events and the forgery) leaves a chain that verifies...
    await db().delete(auditEvents).where(gte(auditEvents.id, anchor.lastId!));
    const truncated = await verify();
    expect(truncated.ok).toBe(true);
    // ...so the operator's recorded anchor is what shows it: that row is gone and the chain ends elsewhere.
    expect(truncated.lastId).toBeLessThan(anchor.lastId!);
    expect(truncated.lastHash).not.toBe(anchor.lastHash);
    expect(await db().select().from(auditEvents).where(eq(auditEvents.id, anchor.lastId!))).toEqual([]);
  });
});
