import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clients, enrollmentTokens } from '../../server/db/schema.ts';
import { apiClient, setupAdmin, type Api, type ApiResponse } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/** Bad input gets a clear `{error: {code, message}}` and changes nothing; the server never answers 500 or dies. */
describe.each(backends())('REST input validation on %s', (backend) => {
  let server: TestServer;
  let api: Api;
  let token: string;
  const seen: { what: string; status: number }[] = [];

  /** Every response goes through here, so the last test can check that none of them was a 500. */
  async function send(what: string, call: Promise<ApiResponse>): Promise<ApiResponse> {
    const res = await call;
    seen.push({ what, status: res.status });
    return res;
  }
  const expectError = (res: ApiResponse, status: number, code: string) => {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.body.error.code).toBe(code);
    expect(typeof res.body.error.message).toBe('string');
    expect(res.body.error.message.length).toBeGreaterThan(0);
    expect(JSON.stringify(res.body)).not.toMatch(/stack|select |insert |at .*\.ts:/i);
  };
  const clientRows = () => server.running.ctx.db.select().from(clients);

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api, token } = await setupAdmin(server));
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers malformed JSON with 400 and a code and message', async () => {
    const before = await clientRows();
    const res = await send('malformed json', api.call('POST', '/api/v1/clients', '{"name": "Acme'));
    expectError(res, 400, 'invalid');
    expect(res.body.error.message).toMatch(/json/i);
    expect(await clientRows()).toEqual(before);
  });

  it('names the missing field', async () => {
    const res = await send('missing name', api.post('/api/v1/clients', {}));
    expectError(res, 400, 'invalid');
    expect(res.body.error.message).toContain('name');
    const site = await send('site missing name', api.post(`/api/v1/clients/${randomUUID()}/sites`, { title: 'x' }));
    expectError(site, 400, 'invalid');
  });

  it('names the extra field', async () => {
    const before = await clientRows();
    const res = await send('extra field', api.post('/api/v1/clients', { name: 'Extra Ltd', isAdmin: true }));
    expectError(res, 400, 'invalid');
    expect(await clientRows()).toEqual(before);
    expect(res.body.error.message).toContain('isAdmin');
  });

  it.each([
    ['a number', 123],
    ['an array', ['Array Corp']],
    ['an object', { first: 'Object' }],
    ['a boolean', true],
    ['null', null],
  ])('refuses a client name that is %s, naming the field', async (_what, name) => {
    const before = await clientRows();
    const res = await send(`name as ${_what}`, api.post('/api/v1/clients', { name }));
    expectError(res, 400, 'invalid');
    expect(res.body.error.message).toContain('name');
    expect(await clientRows()).toEqual(before);
  });

  it('refuses wrong-typed enrollment-token fields, naming the field', async () => {
    const client = await send('client', api.post('/api/v1/clients', { name: 'Typed Inc' }));
    const site = await send('site', api.post(`/api/v1/clients/${client.body.id}/sites`, { name: 'HQ' }));
    expect(site.status).toBe(201);
    const answers: Record<string, string> = {};
    const expected: Record<string, string> = {};
    for (const [field, body] of [
      ['maxUses', { expiresInHours: 1, maxUses: '3' }],
      ['maxUses', { expiresInHours: 1, maxUses: 1.5 }],
      ['maxUses', { expiresInHours: 1, maxUses: {} }],
      ['expiresInHours', { expiresInHours: true, maxUses: 1 }],
      ['expiresInHours', { expiresInHours: [2], maxUses: 1 }],
    ] as const) {
      const res = await send(`token ${JSON.stringify(body)}`, api.post(`/api/v1/sites/${site.body.id}/enrollment-tokens`, body));
      answers[JSON.stringify(body)] = `${res.status} ${res.body.error?.message?.includes(field) ? `names ${field}` : 'does not name the field'}`;
      expected[JSON.stringify(body)] = `400 names ${field}`;
    }
    // One map, so a failure shows every accepted (coerced) value at once.
    expect(answers).toEqual(expected);
    expect(await server.running.ctx.db.select().from(enrollmentTokens).where(eq(enrollmentTokens.siteId, site.body.id))).toEqual([]);
  });

  it('refuses a non-uuid :id with 400 naming the parameter', async () => {
    for (const path of ['/api/v1/clients/not-a-uuid', '/api/v1/machines/1', '/api/v1/clients/00000000-0000-0000-0000-00000000000g/sites', "/api/v1/machines/1'or'1'='1/inventory/changes"]) {
      const res = await send(`param ${path}`, api.get(path));
      expectError(res, 400, 'invalid');
      expect(res.body.error.message).toContain('id');
    }
  });

  it('refuses a body over 1 MiB with 413', async () => {
    const before = await clientRows();
    const res = await send('huge body', api.post('/api/v1/clients', { name: 'x'.repeat(1024 * 1024 + 16) }));
    expectError(res, 413, 'too_large');
    expect(await clientRows()).toEqual(before);
  });

  it('refuses requests without a token, or with a garbage one, with 401', async () => {
    const before = await clientRows();
    const none = await send('no token', apiClient(server.url).get('/api/v1/clients'));
    expectError(none, 401, 'unauthenticated');
    for (const header of ['Bearer garbage', 'Bearer stwt_' + 'A'.repeat(43), `Basic ${Buffer.from('a:b').toString('base64')}`, 'Bearer', `Bearer ${token}x`]) {
      const res = await send(`auth ${header}`, apiClient(server.url).call('GET', '/api/v1/clients', undefined, { authorization: header }));
      expectError(res, 401, 'unauthenticated');
    }
    const write = await send('no token write', apiClient(server.url).post('/api/v1/clients', { name: 'Sneaky' }));
    expectError(write, 401, 'unauthenticated');
    expect(await clientRows()).toEqual(before);
  });

  it('answers an unknown route with a JSON 404', async () => {
    for (const path of ['/api/v1/nope', '/api/v2/clients', '/', '/api/v1/clients/' + randomUUID() + '/nothing']) {
      const res = await send(`unknown ${path}`, api.get(path));
      expectError(res, 404, 'not_found');
    }
    expectError(await send('unknown delete', api.delete('/api/v1/clients')), 404, 'not_found');
  });

  it('answers a duplicate client name, in any case, with 409 and keeps one row', async () => {
    const first = await send('dup first', api.post('/api/v1/clients', { name: 'Contoso' }));
    expect(first.status).toBe(201);
    for (const name of ['Contoso', 'CONTOSO', 'contoso', '  Contoso  ']) {
      const res = await send(`dup ${name}`, api.post('/api/v1/clients', { name }));
      expectError(res, 409, 'conflict');
    }
    const rows = await server.running.ctx.db.select().from(clients).where(sql`lower(${clients.name}) = 'contoso'`);
    expect(rows.map((r) => [r.id, r.name])).toEqual([[first.body.id, 'Contoso']]);
  });

  it('answers a site under an unknown client with 404 and creates nothing', async () => {
    const res = await send('site unknown client', api.post(`/api/v1/clients/${randomUUID()}/sites`, { name: 'Nowhere' }));
    expectError(res, 404, 'not_found');
    const tokens = await send('tokens unknown site', api.post(`/api/v1/sites/${randomUUID()}/enrollment-tokens`, { expiresInHours: 1, maxUses: 1 }));
    expectError(tokens, 404, 'not_found');
  });

  it('refuses enrollment-token settings out of range with 400', async () => {
    const client = await send('client range', api.post('/api/v1/clients', { name: 'Range Co' }));
    const site = await send('site range', api.post(`/api/v1/clients/${client.body.id}/sites`, { name: 'HQ' }));
    for (const [field, body] of [
      ['maxUses', { expiresInHours: 1, maxUses: 0 }],
      ['maxUses', { expiresInHours: 1, maxUses: -1 }],
      ['maxUses', { expiresInHours: 1, maxUses: 100_001 }],
      ['expiresInHours', { expiresInHours: 0, maxUses: 1 }],
      ['expiresInHours', { expiresInHours: 100_000, maxUses: 1 }],
    ] as const) {
      const res = await send(`range ${JSON.stringify(body)}`, api.post(`/api/v1/sites/${site.body.id}/enrollment-tokens`, body));
      expectError(res, 400, 'invalid');
      expect(res.body.error.message).toContain(field);
    }
    expect(await server.running.ctx.db.select().from(enrollmentTokens).where(eq(enrollmentTokens.siteId, site.body.id))).toEqual([]);
  });

  it('is still healthy afterwards and never answered 500', async () => {
    const health = await send('healthz', apiClient(server.url).get('/healthz'));
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('ok');
    expect(seen.length).toBeGreaterThan(30);
    expect(seen.filter((s) => s.status >= 500)).toEqual([]);
    expect(server.logs.filter((l) => (l.level as number) >= 50)).toEqual([]);
  });
});
