import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, type Api } from '../helpers/api.ts';
import { REPO_ROOT } from '../helpers/agent-process.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const PACKAGE_VERSION = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Every route the server registers, with its methods, as OpenAPI spells the path. */
const ROUTES: Record<string, string[]> = {
  '/healthz': ['get'],
  '/api/v1/setup': ['post'],
  '/api/v1/auth/login': ['post'],
  '/api/v1/auth/logout': ['post'],
  '/api/v1/clients': ['get', 'post'],
  '/api/v1/clients/{id}': ['get'],
  '/api/v1/clients/{id}/sites': ['get', 'post'],
  '/api/v1/sites/{id}/enrollment-tokens': ['get', 'post'],
  '/api/v1/enrollment-tokens/{id}': ['delete'],
  '/api/v1/machines': ['get'],
  '/api/v1/machines/{id}': ['get'],
  '/api/v1/machines/{id}/inventory/changes': ['get'],
  '/api/v1/machines/{id}/inventory/refresh': ['post'],
  '/api/v1/audit': ['get'],
};

type Operation = { summary?: string; tags?: string[]; responses?: Record<string, unknown>; parameters?: { in: string; name: string }[] };

describe.each(backends())('health and OpenAPI on %s', (backend) => {
  let server: TestServer;
  let anon: Api;

  beforeAll(async () => {
    server = await startTestServer({ backend });
    anon = apiClient(server.url);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('GET /healthz reports ok, the database backend and the package version, without a token', async () => {
    const res = await anon.get('/healthz');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.body).toEqual({ status: 'ok', db: backend, version: PACKAGE_VERSION });
    expect(PACKAGE_VERSION).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('GET /api/openapi.json is an OpenAPI 3 document listing every route', async () => {
    const res = await anon.get('/api/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.body as { openapi: string; info: { title: string; version: string }; paths: Record<string, Record<string, Operation>>; components: Record<string, any> };
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info.version).toBe(PACKAGE_VERSION);
    expect(doc.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' });

    const listed = Object.fromEntries(Object.entries(doc.paths).map(([p, ops]) => [p, Object.keys(ops).filter((m) => m !== 'parameters').sort()]));
    expect(listed).toEqual(Object.fromEntries(Object.entries(ROUTES).map(([p, methods]) => [p, [...methods].sort()])));
    expect(Object.keys(doc.paths).some((p) => p.includes(':'))).toBe(false);
    expect(doc.paths['/api/openapi.json']).toBeUndefined();

    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        expect({ p, method, summary: typeof op.summary }).toEqual({ p, method, summary: 'string' });
        expect(Object.keys(op.responses ?? {}).length).toBeGreaterThan(0);
        if (p.includes('{id}')) expect(op.parameters?.some((x) => x.in === 'path' && x.name === 'id')).toBe(true);
      }
    }
    expect(Object.keys(doc.paths['/api/v1/auth/login'].post.responses!)).toEqual(expect.arrayContaining(['200', '401', '429']));
  });

  it('serves every documented operation: none answers route-not-found', async () => {
    const doc = (await anon.get('/api/openapi.json')).body as { paths: Record<string, Record<string, Operation>> };
    const answers: Record<string, number> = {};
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) {
        const url = p.replaceAll('{id}', '00000000-0000-4000-8000-000000000000');
        const body = method === 'get' || method === 'delete' ? undefined : p.endsWith('/clients') || p.endsWith('/sites') ? { name: 'Probe' } : {};
        const res = await anon.call(method.toUpperCase(), url, body);
        answers[`${method.toUpperCase()} ${p}`] = res.status;
      }
    }
    // Without a token: public routes answer (healthz) or validate (setup, login); every other route demands auth.
    // (Bodies are valid where a route has required fields: validation currently runs before authentication.)
    const expected: Record<string, number> = {};
    for (const [p, methods] of Object.entries(ROUTES)) {
      for (const m of methods) expected[`${m.toUpperCase()} ${p}`] = p === '/healthz' ? 200 : p === '/api/v1/setup' || p === '/api/v1/auth/login' ? 400 : 401;
    }
    expect(answers).toEqual(expected);
  });
});
