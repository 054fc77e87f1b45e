import { createHash } from 'node:crypto';
import { asc, count } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../../server/db/schema.ts';
import { apiClient, setupAdmin, type Api } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createUser, loginAs } from '../helpers/users.ts';

/**
 * The audit log as an operator uses it: every event is a link of one hash chain (checked here against an
 * independent implementation of the documented format), `GET /api/v1/audit/verify` walks it, concurrent writers —
 * including two server replicas on one PostgreSQL database — still produce one unbroken chain, and the list filters
 * and pages exactly. Tampering is in test/security/audit-tamper.test.ts, hostile filters in audit-filter-injection.
 */
const GENESIS = '0'.repeat(64);

/** The chain format, written again from its description: SHA-256 hex of prevHash, '\n', sorted-key JSON of the content. */
function expectedHash(row: typeof auditEvents.$inferSelect): string {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sorted) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])])) : v;
  const content = {
    action: row.action,
    actorId: row.actorId,
    actorType: row.actorType,
    address: row.address,
    at: row.at.toISOString(),
    details: sorted(row.details ?? null),
    outcome: row.outcome,
    targetId: row.targetId,
    targetType: row.targetType,
  };
  return createHash('sha256').update(`${row.prevHash}\n${JSON.stringify(content)}`).digest('hex');
}

describe.each(backends())('audit log on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  let adminToken: string;
  let technician: Api;
  const anon = () => apiClient(server.url);
  const rows = () => server.running.ctx.db.select().from(auditEvents).orderBy(asc(auditEvents.id));
  const rowCount = async () => (await server.running.ctx.db.select({ n: count() }).from(auditEvents))[0].n;
  const verify = async (api: Api = admin) => {
    const res = await api.get('/api/v1/audit/verify');
    expect(res.status).toBe(200);
    return res.body;
  };
  const list = async (query: Record<string, string | number>) => {
    const res = await admin.get(`/api/v1/audit?${new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]))}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as { events: { id: number; action: string; actorId: string | null; actorType: string; outcome: string; targetType: string | null; targetId: string | null; at: string }[]; nextBefore: number | null; nextAfter: number | null };
  };

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api: admin, token: adminToken } = await setupAdmin(server));
    const tech = await createUser(server, { role: 'technician' });
    technician = await loginAs(server, tech.email);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('chains every event after logins, failures, client creation and batched events, and verifies', async () => {
    for (let i = 0; i < 3; i++) expect((await anon().post('/api/v1/auth/login', { email: 'nobody@example.test', password: `wrong ${i}` })).status).toBe(401);
    expect((await admin.post('/api/v1/clients', { name: 'Chained Client' })).status).toBe(201);
    for (let i = 0; i < 25; i++) server.running.ctx.audit.enqueue({ actorType: 'system', action: 'test.batched', outcome: 'success', details: { i, nested: { z: 1, a: [{ y: 2, b: 'ü' }] } } });
    await server.running.ctx.audit.flush();

    const all = await rows();
    expect(all.length).toBeGreaterThan(30);
    expect(all[0].prevHash).toBe(GENESIS);
    all.forEach((row, i) => {
      expect(row.hash).toMatch(/^[0-9a-f]{64}$/);
      if (i > 0) expect(row.prevHash).toBe(all[i - 1].hash);
      expect(row.hash).toBe(expectedHash(row));
    });
    // A batch keeps its order: the chain follows the enqueue order.
    expect(all.filter((r) => r.action === 'test.batched').map((r) => (r.details as { i: number }).i)).toEqual([...Array(25).keys()]);

    const last = all[all.length - 1];
    expect(await verify()).toEqual({ ok: true, checked: all.length, firstBrokenId: null, reason: null, lastId: last.id, lastHash: last.hash });
    // The verification is itself audited, with its outcome, and chained like everything else.
    const [audited] = (await list({ action: 'audit.verify' })).events;
    expect(audited).toMatchObject({ actorType: 'user', outcome: 'success', targetType: 'audit_log', details: { checked: all.length, lastId: last.id, lastHash: last.hash, firstBrokenId: null } });
    expect((await verify()).checked).toBe(all.length + 1);
  });

  it('stores hostile text (NUL, lone surrogates) and awkward JSON so that the row still verifies', async () => {
    await server.running.ctx.audit.record(server.running.ctx.db, {
      actorType: 'anonymous',
      actorId: '\ud800lone',
      action: 'test.hostile',
      outcome: 'failure',
      targetId: 'nul\u0000byte',
      details: { 'key\u0000': 'value\udc00', sum: 0.1 + 0.2, big: 1e21, tiny: 5e-324, negZero: -0, list: [undefined, null, 'ü'], when: new Date(0), gone: undefined },
    });
    const [event] = (await list({ action: 'test.hostile' })).events as any[];
    expect(event).toMatchObject({ actorId: '\uFFFDlone', targetId: 'nul\uFFFDbyte' });
    expect(event.details).toEqual({ 'key\uFFFD': 'value\uFFFD', sum: 0.30000000000000004, big: 1e21, tiny: 5e-324, negZero: 0, list: [null, null, 'ü'], when: '1970-01-01T00:00:00.000Z' });
    expect((await list({ targetId: 'nul\uFFFDbyte' })).events).toHaveLength(1);
    expect((await verify()).ok).toBe(true);
  });

  it('refuses the log and its verification to someone without audit.view (403, audited) and to anonymous callers (401)', async () => {
    for (const path of ['/api/v1/audit', '/api/v1/audit/verify', '/api/v1/audit?action=auth.*']) {
      const res = await technician.get(path);
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('forbidden');
      expect((await anon().get(path)).status).toBe(401);
    }
    const denied = (await list({ action: 'access.denied', targetType: 'installation' })).events;
    expect(denied.filter((e: any) => e.details.action === 'audit.view')).toHaveLength(3);
    expect((await verify()).ok).toBe(true);
  });

  it('filters by actor, target, action (exact and prefix), outcome and time range', async () => {
    const record = (e: Record<string, unknown>) =>
      server.running.ctx.audit.record(server.running.ctx.db, { actorType: 'user', outcome: 'success', action: 'filt.one', ...e } as never);
    await record({ actorId: 'alice', targetType: 'machine', targetId: 'm-1', at: new Date('2020-01-01T00:00:00Z') });
    await record({ actorId: 'alice', targetType: 'machine', targetId: 'm-2', action: 'filt.two', outcome: 'failure', at: new Date('2020-06-01T00:00:00Z') });
    await record({ actorId: 'bob', actorType: 'agent', targetType: 'site', targetId: 'm-1', action: 'filt.two', at: new Date('2021-01-01T00:00:00Z') });
    await record({ actorId: 'carol', actorType: 'anonymous', action: 'filtx.one', at: new Date('2021-06-01T00:00:00.123Z') });

    const actions = async (q: Record<string, string>) => (await list(q)).events.map((e) => `${e.action}/${e.actorId}/${e.targetId}`);
    expect(await actions({ actorId: 'alice' })).toEqual(['filt.two/alice/m-2', 'filt.one/alice/m-1']);
    expect(await actions({ actorType: 'agent', action: 'filt.*' })).toEqual(['filt.two/bob/m-1']);
    expect(await actions({ targetId: 'm-1' })).toEqual(['filt.two/bob/m-1', 'filt.one/alice/m-1']);
    expect(await actions({ targetType: 'machine', targetId: 'm-1' })).toEqual(['filt.one/alice/m-1']);
    expect(await actions({ action: 'filt.two' })).toEqual(['filt.two/bob/m-1', 'filt.two/alice/m-2']);
    expect(await actions({ action: 'filt.*', outcome: 'failure' })).toEqual(['filt.two/alice/m-2']);
    // `filt.*` is a prefix of `filt.` only: `filtx.one` does not match; `filt*` matches both.
    expect(await actions({ action: 'filt*', order: 'asc' })).toEqual(['filt.one/alice/m-1', 'filt.two/alice/m-2', 'filt.two/bob/m-1', 'filtx.one/carol/null']);
    // from is inclusive, to exclusive; times are kept to the millisecond.
    expect(await actions({ action: 'filt*', from: '2020-06-01T00:00:00Z', to: '2021-01-01T00:00:00Z' })).toEqual(['filt.two/alice/m-2']);
    expect(await actions({ action: 'filt*', from: '2021-06-01T00:00:00.123Z' })).toEqual(['filtx.one/carol/null']);
    expect(await actions({ action: 'filt*', from: '2021-06-01T00:00:00.124Z' })).toEqual([]);
    expect(await actions({ action: 'filt*', to: '2020-01-01T00:00:00Z' })).toEqual([]);
    expect(await actions({ action: 'filt*', from: '2021-06-01T02:00:00.123+02:00', to: '2021-06-01T00:00:01Z' })).toEqual(['filtx.one/carol/null']);
    expect(await actions({ actorId: 'alice', actorType: 'agent' })).toEqual([]);
    const [event] = (await list({ actorId: 'carol' })).events;
    expect(event.at).toBe('2021-06-01T00:00:00.123Z');
    expect((await verify()).ok).toBe(true);
  });

  it('pages newest first with before/nextBefore and oldest first with after/nextAfter, without gaps or repeats', async () => {
    for (let i = 0; i < 25; i++) server.running.ctx.audit.enqueue({ actorType: 'system', action: 'page.event', outcome: 'success', details: { i } });
    await server.running.ctx.audit.flush();
    const ids = (await list({ action: 'page.event', limit: 1000, order: 'asc' })).events.map((e) => e.id);
    expect(ids).toHaveLength(25);

    const desc: number[] = [];
    let cursor: number | null | undefined;
    const pages: number[] = [];
    do {
      const page = await list({ action: 'page.event', limit: 10, ...(cursor ? { before: cursor } : {}) });
      desc.push(...page.events.map((e) => e.id));
      pages.push(page.events.length);
      expect(page.nextAfter).toBeNull();
      cursor = page.nextBefore;
    } while (cursor);
    expect(pages).toEqual([10, 10, 5]);
    expect(desc).toEqual([...ids].reverse());

    const ascending: number[] = [];
    cursor = undefined;
    do {
      const page = await list({ action: 'page.event', limit: 12, order: 'asc', ...(cursor ? { after: cursor } : {}) });
      ascending.push(...page.events.map((e) => e.id));
      expect(page.nextBefore).toBeNull();
      cursor = page.nextAfter;
    } while (cursor);
    expect(ascending).toEqual(ids);
    // Exactly a full last page: no cursor to an empty page.
    expect((await list({ action: 'page.event', limit: 25 })).nextBefore).toBeNull();
    expect((await list({ action: 'page.event', limit: 24 })).nextBefore).toBe(ids[1]);
    // A window between two ids.
    expect((await list({ action: 'page.event', after: ids[3], before: ids[7], order: 'asc' })).events.map((e) => e.id)).toEqual(ids.slice(4, 7));
  });

  it('stays one unbroken chain under concurrent writes (failed logins, client creation, batches)', async () => {
    const before = await rowCount();
    const [logins, created] = await Promise.all([
      Promise.all(Array.from({ length: 50 }, (_, i) => anon().post('/api/v1/auth/login', { email: `spray${i}@example.test`, password: 'password spray' }))),
      Promise.all(Array.from({ length: 20 }, (_, i) => admin.post('/api/v1/clients', { name: `Concurrent ${i}` }))),
      (async () => {
        for (let i = 0; i < 300; i++) server.running.ctx.audit.enqueue({ actorType: 'system', action: 'test.concurrent', outcome: 'success', details: { i } });
        await server.running.ctx.audit.flush();
      })(),
    ]);
    // The address lock starts after 30 failures: the rest are refused (429) and audited as throttled.
    expect(logins.every((r) => r.status === 401 || r.status === 429)).toBe(true);
    expect(created.map((r) => r.status)).toEqual(created.map(() => 201));
    expect(await rowCount()).toBe(before + 50 + 20 + 300);
    const result = await verify();
    expect(result).toMatchObject({ ok: true, checked: before + 370, firstBrokenId: null });
    // Without a limit, a page holds 100 events.
    expect((await list({})).events).toHaveLength(100);
  });

  if (backend === 'postgres') {
    it('keeps one chain when two server instances write to one PostgreSQL database at the same time', async () => {
      const second = await startTestServer({ backend, db: server.db });
      try {
        const secondAdmin = apiClient(second.url, adminToken);
        const before = await rowCount();
        const batch = (s: TestServer, tag: string) => {
          for (let i = 0; i < 400; i++) s.running.ctx.audit.enqueue({ actorType: 'system', action: 'test.replicas', outcome: 'success', details: { tag, i } });
          return s.running.ctx.audit.flush();
        };
        const results = await Promise.all([
          ...Array.from({ length: 25 }, (_, i) => admin.post('/api/v1/clients', { name: `Replica one ${i}` })),
          ...Array.from({ length: 25 }, (_, i) => secondAdmin.post('/api/v1/clients', { name: `Replica two ${i}` })),
          ...Array.from({ length: 20 }, (_, i) => apiClient(i % 2 ? second.url : server.url).post('/api/v1/auth/login', { email: `replica${i}@example.test`, password: 'nope nope' })),
          batch(server, 'one'),
          batch(second, 'two'),
        ]);
        expect(results.slice(0, 50).map((r) => (r as { status: number }).status)).toEqual(Array(50).fill(201));
        expect(await rowCount()).toBe(before + 50 + 20 + 800);
        // Each replica's batch kept its own order inside the shared chain.
        const replicaRows = (await rows()).filter((r) => r.action === 'test.replicas');
        for (const tag of ['one', 'two']) {
          expect(replicaRows.filter((r) => (r.details as { tag: string }).tag === tag).map((r) => (r.details as { i: number }).i)).toEqual([...Array(400).keys()]);
        }
        const fromFirst = await verify();
        expect(fromFirst).toMatchObject({ ok: true, checked: before + 870 });
        const fromSecond = await verify(secondAdmin);
        expect(fromSecond).toMatchObject({ ok: true, checked: before + 871 });
      } finally {
        await second.close();
      }
    });
  }
});
