import { count } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../../server/db/schema.ts';
import { setupAdmin, type Api, type ApiResponse } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * Hostile input through every filter of `GET /api/v1/audit`: SQL fragments, LIKE wildcards, quotes, unicode, NUL,
 * malformed percent-encoding and very long values. Each answer is a 400 from the schema or a 200 whose events match
 * the value literally — never a 500, never SQL in an error, and the table is intact afterwards (same row count, chain
 * verifies). Unknown parameters and any sort other than asc|desc are 400.
 */
const HOSTILE = [
  "'",
  "''",
  '"',
  '`',
  '\\',
  '%',
  '_',
  '%%',
  '_%',
  '\\%',
  "' OR 1=1 --",
  "' OR '1'='1",
  '" OR ""="',
  "1; DROP TABLE audit_events; --",
  "'; DROP TABLE audit_events; --",
  "auth.login' UNION SELECT * FROM users --",
  '$1',
  '?',
  ':name',
  '/* comment */',
  'auth.login\n',
  '\r\n\t',
  'ü漢字🔒',
  '\u202eevil',
  'zero\u200bwidth',
  'e\u0301',
  '\uFFFD',
  '{"$ne": null}',
  '[object Object]',
  'a'.repeat(200),
];
const TOO_LONG = ['a'.repeat(201), 'x'.repeat(10_000)];
const TEXT_FILTERS = ['actorId', 'targetType', 'targetId', 'action'] as const;
const FIELD_OF = { actorId: 'actorId', targetType: 'targetType', targetId: 'targetId', action: 'action' } as const;

interface Event {
  id: number;
  action: string;
  actorId: string | null;
  targetType: string | null;
  targetId: string | null;
}

describe.each(backends())('audit filters under hostile input on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  let rowsBefore: number;
  const rowCount = async () => (await server.running.ctx.db.select({ n: count() }).from(auditEvents))[0].n;
  const query = (params: [string, string][]) => admin.get(`/api/v1/audit?${new URLSearchParams(params)}`);
  /** 400 with a plain message (no SQL, no stack), or 200: anything else fails. */
  const expectSafe = (res: ApiResponse, what: string) => {
    expect([200, 400], `${what}: ${res.status} ${JSON.stringify(res.body)}`).toContain(res.status);
    if (res.status === 400) {
      expect(res.body.error.code).toBe('invalid');
      expect(res.body.error.message).not.toMatch(/syntax error|relation "|sqlstate|postgres|drizzle|\bat .*\.ts/i);
    }
  };
  const actionsOf = async (params: [string, string][]) => {
    const res = await query(params);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return (res.body.events as Event[]).map((e) => e.action).sort();
  };

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api: admin } = await setupAdmin(server));
    // Rows whose values look like wildcards, quotes and SQL: filters must match them literally.
    const plant = (action: string, extra: Record<string, string> = {}) =>
      server.running.ctx.audit.record(server.running.ctx.db, { actorType: 'system', outcome: 'success', action, ...extra });
    for (const action of ['inj.a_b', 'inj.aXb', 'inj.100%', 'inj.1000', "inj.o'brien", 'inj.back\\slash', 'inj.backXslash']) await plant(action);
    await plant('inj.target', { targetType: '%', targetId: "O'Brien'; DROP TABLE audit_events; --", actorId: 'ü漢字🔒' });
    await plant('inj.other', { targetType: 'machine', targetId: 'plain', actorId: 'plain' });
    rowsBefore = await rowCount();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('matches wildcard characters, quotes and backslashes literally, in exact and prefix filters', async () => {
    expect(await actionsOf([['action', 'inj.a_*']])).toEqual(['inj.a_b']);
    expect(await actionsOf([['action', 'inj.100%*']])).toEqual(['inj.100%']);
    expect(await actionsOf([['action', 'inj.back\\*']])).toEqual(['inj.back\\slash']);
    expect(await actionsOf([['action', "inj.o'*"]])).toEqual(["inj.o'brien"]);
    expect(await actionsOf([['action', "inj.o'brien"]])).toEqual(["inj.o'brien"]);
    expect(await actionsOf([['action', 'inj.a_b']])).toEqual(['inj.a_b']);
    expect(await actionsOf([['action', 'inj._']])).toEqual([]);
    expect(await actionsOf([['action', 'inj.%']])).toEqual([]);
    expect(await actionsOf([['action', '%*']])).toEqual([]);
    expect(await actionsOf([['action', '_*']])).toEqual([]);
    // Only a trailing `*` means "prefix"; elsewhere it is a plain character.
    expect(await actionsOf([['action', 'inj.*b']])).toEqual([]);
    expect(await actionsOf([['action', 'inj.*']])).toHaveLength(9);
    expect(await actionsOf([['targetType', '%']])).toEqual(['inj.target']);
    expect(await actionsOf([['targetId', "O'Brien'; DROP TABLE audit_events; --"]])).toEqual(['inj.target']);
    expect(await actionsOf([['actorId', 'ü漢字🔒']])).toEqual(['inj.target']);
    expect(await actionsOf([['actorId', 'ü漢字']])).toEqual([]);
  });

  it('answers every hostile value in every text filter with 400 or a literal match, never a 500', async () => {
    for (const filter of TEXT_FILTERS) {
      for (const value of [...HOSTILE, ...HOSTILE.map((v) => `${v}*`)]) {
        const res = await query([[filter, value]]);
        expectSafe(res, `${filter}=${JSON.stringify(value)}`);
        expect(res.status, `${filter}=${JSON.stringify(value)}`).toBe(value.length > 200 ? 400 : 200);
        for (const event of (res.body.events ?? []) as Event[]) {
          const field = event[FIELD_OF[filter]];
          if (filter === 'action' && value.endsWith('*')) expect(field?.startsWith(value.slice(0, -1))).toBe(true);
          else expect(field).toBe(value);
        }
      }
      for (const value of [...TOO_LONG, 'nul\u0000byte', '\u0000', '']) {
        const res = await query([[filter, value]]);
        expectSafe(res, `${filter}=${JSON.stringify(value.slice(0, 20))}`);
        expect(res.status).toBe(400);
      }
    }
  });

  it('refuses hostile values in the enumerated, numeric and date filters with 400', async () => {
    const refused: Record<string, string[]> = {
      actorType: [...HOSTILE, 'USER', 'user ', 'users', ''],
      outcome: [...HOSTILE, 'SUCCESS', 'success OR 1=1', ''],
      order: [...HOSTILE, 'random', 'ASC', 'Desc', 'id', 'at desc', 'desc nulls first', 'asc;drop table audit_events', ''],
      limit: [...HOSTILE, '0', '-1', '1001', '1.5', 'abc', '1e309', 'Infinity', 'NaN', '1 OR 1=1', ''],
      before: [...HOSTILE, '0', ' ', '-1', '1.5', 'abc', '99999999999999999999', '9007199254740992', "1' OR '1'='1", ''],
      after: [...HOSTILE, '-1', '1.5', '99999999999999999999', '1 OR 1=1', ''],
      from: [...HOSTILE, 'yesterday', '2020-01-01', '2020-13-01T00:00:00Z', '0000-01-01T00:00:00Z', '2016-12-31T23:59:60Z', "2020-01-01T00:00:00Z' OR 1=1 --", ''],
      to: [...HOSTILE, 'now', '2020-02-30T00:00:00Z', '0000-01-01T00:00:00Z', '20200101T000000Z', ''],
    };
    for (const [param, values] of Object.entries(refused)) {
      for (const value of values) {
        const res = await query([[param, value]]);
        expectSafe(res, `${param}=${JSON.stringify(value)}`);
        expect(res.status, `${param}=${JSON.stringify(value)}`).toBe(400);
      }
    }
    const inverted = await query([['from', '2021-01-01T00:00:00Z'], ['to', '2020-01-01T00:00:00Z']]);
    expect(inverted.status).toBe(400);
    expect(inverted.body.error.message).toMatch(/from must be earlier than/);
    for (const [param, value] of [['order', 'asc'], ['order', 'desc'], ['limit', '1000'], ['before', '1'], ['after', '1'], ['before', '9007199254740991'], ['from', '9999-12-31T23:59:59.999Z']]) {
      expect((await query([[param, value]])).status, `${param}=${value}`).toBe(200);
    }
  });

  it('refuses unknown parameters (no free-form sort or column selection), repeated filters and the same on /verify', async () => {
    for (const param of ['sort', 'sortBy', 'orderBy', 'order_by', 'columns', 'select', 'where', 'q', 'filter', 'ACTION', 'action[]', 'actor', 'constructor', 'toString']) {
      const res = await query([[param, 'id']]);
      expectSafe(res, param);
      expect(res.status, param).toBe(400);
      expect(res.body.error.message).toContain('is not allowed');
    }
    expect((await query([['action', 'inj.a_b'], ['action', 'inj.aXb']])).status).toBe(400);
    expect((await admin.get('/api/v1/audit/verify?sort=id')).status).toBe(400);
    expect((await admin.get('/api/v1/audit/verify?limit=1')).status).toBe(400);
  });

  it('survives malformed percent-encoding and an oversized query string', async () => {
    for (const raw of ['actorId=%', 'actorId=%zz', 'actorId=%FF', 'actorId=%ED%A0%80', 'actorId=%00', 'action=%25%27%20OR%201%3D1%20--', 'targetId=a%26b%3Dc', '__proto__=x', '__proto__[x]=1', 'actorId=a&&&&', '=x', '&']) {
      const res = await admin.get(`/api/v1/audit?${raw}`);
      expect(res.status, raw).toBeLessThan(500);
      if (res.status === 200) for (const e of res.body.events as Event[]) expect(e).toHaveProperty('id');
    }
    const huge = await admin.get(`/api/v1/audit?targetId=${'a'.repeat(50_000)}`);
    expect(huge.status).toBeGreaterThanOrEqual(400);
    expect(huge.status).toBeLessThan(500);
  });

  it('leaves the table intact: same rows, unbroken chain', async () => {
    expect(await rowCount()).toBe(rowsBefore);
    const verified = await admin.get('/api/v1/audit/verify');
    expect(verified.body).toMatchObject({ ok: true, checked: rowsBefore });
    expect(await actionsOf([['action', 'inj.*']])).toHaveLength(9);
  });
});
