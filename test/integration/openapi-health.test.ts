import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, type Api } from '../helpers/api.ts';
import { REPO_ROOT } from '../helpers/agent-process.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const PACKAGE_VERSION = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/**
 * The only operations anyone may call without signing in (they say so with `security: []` in the document). Every
 * other operation must answer an anonymous caller 401 before it looks at the body.
 */
const PUBLIC = new Set([
  'get /healthz',
  'post /api/v1/setup',
  'post /api/v1/auth/login',
  'post /api/v1/auth/password-reset',
  'post /api/v1/auth/password-reset/confirm',
]);

type Operation = { summary?: string; tags?: string[]; security?: unknown[]; responses?: Record<string, unknown>; parameters?: { in: string; name: string }[] };

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

    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/healthz', '/api/v1/setup', '/api/v1/auth/login', '/api/v1/machines', '/api/v1/audit']));
    expect(Object.keys(doc.paths).some((p) => p.includes(':'))).toBe(false);
    expect(doc.paths['/api/openapi.json']).toBeUndefined();

    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        expect({ p, method, summary: typeof op.summary }).toEqual({ p, method, summary: 'string' });
        const isPublic = Array.isArray(op.security) && op.security.length === 0;
        expect({ op: `${method} ${p}`, isPublic }).toEqual({ op: `${method} ${p}`, isPublic: PUBLIC.has(`${method} ${p}`) });
        expect(Object.keys(op.responses ?? {}).length).toBeGreaterThan(0);
        if (p.includes('{id}')) expect(op.parameters?.some((x) => x.in === 'path' && x.name === 'id')).toBe(true);
      }
    }
    expect(Object.keys(doc.paths['/api/v1/auth/login'].post.responses!)).toEqual(expect.arrayContaining(['200', '401', '429']));
  });

  it('serves every documented operation: anonymous callers get 401 before validation, except the public ones', async () => {
    const doc = (await anon.get('/api/openapi.json')).body as { paths: Record<string, Record<string, Operation>> };
    const answers: Record<string, number> = {};
    const expected: Record<string, number> = {};
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) {
        const url = p.replaceAll(/\{[a-zA-Z]+\}/g, '00000000-0000-4000-8000-000000000000');
        const res = await anon.call(method.toUpperCase(), url, method === 'get' || method === 'delete' ? undefined : {});
        const key = `${method.toUpperCase()} ${p}`;
        answers[key] = res.status;
        // Public: healthz answers; setup, login and password reset validate the (empty) body first.
        expected[key] = !PUBLIC.has(`${method} ${p}`) ? 401 : p === '/healthz' ? 200 : 400;
      }
    }
    expect(Object.keys(answers).length).toBeGreaterThan(20);
    expect(answers).toEqual(expected);
  });
});
