import { randomUUID } from 'node:crypto';
import { and, desc, eq, gt } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSIONS } from '../../server/access/permissions.ts';
import { auditEvents, roles } from '../../server/db/schema.ts';
import { apiClient, createSiteWithToken, setupAdmin, type Api, type ApiResponse } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { assignMachine, createMachine, createUser, grantClientAccess, grantSiteAccess, loginAs } from '../helpers/users.ts';

/**
 * Proves every documented route goes through the one authorizer. The OpenAPI document is walked, so a route added
 * later is covered without touching this file: each operation is called with a schema-valid body and ids that exist
 * (so it reaches the authorizer instead of a 400 or 404), as users who may do nothing. Every answer must be 403 with
 * an `access.denied` audit row for that very request (proof that demand() refused it) — except the public and
 * self-service routes listed below, which are checked on their own terms.
 */

/** Reachable without signing in: exactly the operations whose schema says `security: []`. */
const PUBLIC = ['GET /healthz', 'POST /api/v1/setup', 'POST /api/v1/auth/login', 'POST /api/v1/auth/password-reset', 'POST /api/v1/auth/password-reset/confirm'];

/**
 * The caller's own account: open to a signed-in user with no permissions at all. While MFA is owed, only looking at
 * oneself and enrolling stay open (`open`); the rest waits for MFA (`mfa_first`). `own_list` routes list the caller's
 * own things: they may answer 403, or a list — but it must show nothing the caller may not see, so for users who may
 * see no machine (no permission, or MFA owed) it is empty even though each of them holds an assignment.
 */
const SELF: Record<string, 'open' | 'mfa_first' | 'own_list'> = {
  'POST /api/v1/auth/logout': 'open',
  'GET /api/v1/me': 'open',
  'GET /api/v1/me/machines': 'own_list',
  'GET /api/v1/assignments': 'own_list',
  'PUT /api/v1/me/password': 'mfa_first',
  'GET /api/v1/me/mfa': 'open',
  'POST /api/v1/me/mfa/totp': 'open',
  'POST /api/v1/me/mfa/totp/confirm': 'open',
  'POST /api/v1/me/mfa/recovery-codes': 'mfa_first',
  'POST /api/v1/me/mfa/disable': 'mfa_first',
  'POST /api/v1/me/tokens': 'mfa_first',
  'GET /api/v1/me/tokens': 'mfa_first',
  'DELETE /api/v1/me/tokens/{id}': 'mfa_first',
};
/** Self-service calls that end the session they are made with: made with a throwaway login. */
const ENDS_SESSION = new Set(['POST /api/v1/auth/logout']);

interface Operation {
  key: string;
  method: string;
  path: string;
  op: any;
}

// ---- A minimal valid example from a JSON schema ------------------------------------------------------------------

type Ids = Record<'client' | 'site' | 'machine' | 'user' | 'role' | 'assignment' | 'enrollmentToken', string>;
let serial = 0;

/** Ids by property or parameter name, so a request names things that exist. */
function idByName(name: string, ids: Ids): string | undefined {
  const table: Record<string, string> = { clientId: ids.client, siteId: ids.site, machineId: ids.machine, userId: ids.user, roleId: ids.role, role: ids.role, assignmentId: ids.assignment };
  return table[name];
}

function example(schema: any, ids: Ids, name = ''): unknown {
  if (!schema) return undefined;
  if (schema.const !== undefined) return schema.const;
  if (schema.default !== undefined) return schema.default;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  const union = schema.anyOf ?? schema.oneOf;
  if (union) return example(union.find((s: any) => s.type !== 'null') ?? union[0], ids, name);
  if (schema.allOf) return Object.assign({}, ...schema.allOf.map((s: any) => example(s, ids, name)));
  const type = Array.isArray(schema.type) ? schema.type.find((t: string) => t !== 'null') : schema.type;
  switch (type) {
    case 'object': {
      const props: Record<string, any> = schema.properties ?? {};
      const keys = [...(schema.required ?? [])];
      for (const k of Object.keys(props)) if (keys.length < (schema.minProperties ?? 0) && !keys.includes(k)) keys.push(k);
      return Object.fromEntries(keys.map((k) => [k, example(props[k], ids, k)]));
    }
    case 'array': {
      const one = name === 'permissions' ? 'machines.view' : example(schema.items, ids, name.replace(/s$/, ''));
      return Array.from({ length: Math.max(1, schema.minItems ?? 0) }, () => one);
    }
    case 'integer':
    case 'number':
      return schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : 1);
    case 'boolean':
      return false;
    case 'string':
      return stringExample(schema, ids, name);
    default:
      return null;
  }
}

function stringExample(schema: any, ids: Ids, name: string): string {
  const known = idByName(name, ids);
  if (known) return known;
  if (schema.format === 'uuid') return randomUUID();
  if (schema.format === 'email') return `probe-${++serial}@example.test`;
  if (schema.format === 'date-time') return new Date(Date.now() + 86_400_000).toISOString();
  if (schema.format === 'date') return '2030-01-01';
  const min = schema.minLength ?? 0;
  const candidates = ['probe value 1234567890', '123456', 'probe_value_1234567890', 'a'].map((c) => c.padEnd(min, 'x').slice(0, schema.maxLength ?? 10_000));
  const found = schema.pattern ? candidates.find((c) => new RegExp(schema.pattern, 'u').test(c)) : candidates[0];
  if (found === undefined) throw new Error(`no example for the string pattern ${schema.pattern} (${name}): teach stringExample one`);
  return found;
}

/** The URL and body of a call that passes validation and names existing things. */
function requestFor(o: Operation, ids: Ids) {
  const byPlural: Record<string, string> = { clients: ids.client, sites: ids.site, machines: ids.machine, users: ids.user, roles: ids.role, assignments: ids.assignment, 'enrollment-tokens': ids.enrollmentToken };
  const segments = o.path.split('/');
  const path = segments
    .map((seg, i) => {
      const param = /^\{(.+)\}$/.exec(seg)?.[1];
      if (!param) return seg;
      // Other parameters (an enum such as an installer's os) take an example from their schema.
      const schema = o.op.parameters?.find((p: any) => p.in === 'path' && p.name === param)?.schema;
      const fallback = schema ? String(example(schema, ids, param)) : randomUUID();
      return encodeURIComponent((param === 'id' ? byPlural[segments[i - 1]] : idByName(param, ids)) ?? fallback);
    })
    .join('/');
  const query = new URLSearchParams();
  for (const p of o.op.parameters ?? []) if (p.in === 'query' && p.required) query.set(p.name, String(example(p.schema, ids, p.name)));
  const json = o.op.requestBody?.content?.['application/json']?.schema;
  return { url: query.size ? `${path}?${query}` : path, body: json ? example(json, ids) : undefined };
}

const call = (api: Api, o: Operation, ids: Ids): Promise<ApiResponse> => {
  const { url, body } = requestFor(o, ids);
  return api.call(o.method, url, body);
};

// ---- The test ----------------------------------------------------------------------------------------------------

describe.each(backends())('every route goes through the authorizer (%s)', (backend) => {
  let server: TestServer;
  let admin: Api;
  let operations: Operation[];
  let ids: Ids;
  const actors: Record<'nothing' | 'nothingRemote' | 'mfaOwed', { id: string; email: string; api: Api }> = {} as never;

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api: admin } = await setupAdmin(server));
    const db = server.running.ctx.db;
    const world = await createSiteWithToken(admin);
    const machine = await createMachine(server, world.siteId, 'probe-desktop');
    await db.insert(roles).values([
      // A role that permits nothing; with every kind of grant on top, only the permission check can refuse.
      { id: 'probe_nothing', name: 'Probe Nothing', permissions: [], scope: 'granted' },
      // Everything, everywhere — but MFA is required and never done: the MFA gate alone must refuse.
      { id: 'probe_mfa', name: 'Probe MFA', permissions: [...PERMISSIONS], scope: 'global', requireMfa: true },
      { id: 'probe_victim', name: 'Probe Victim', permissions: ['machines.view'], scope: 'granted' },
    ]);
    const victim = await createUser(server, { role: 'probe_victim' });
    const assignment = await assignMachine(server, victim.id, machine.id, ['terminal']);
    ids = { client: world.clientId, site: world.siteId, machine: machine.id, user: victim.id, role: 'probe_victim', assignment: assignment.id, enrollmentToken: world.tokenId };
    const make = async (role: string, allowRemoteControl: boolean) => {
      const user = await createUser(server, { role, allowRemoteControl });
      await grantClientAccess(server, user.id, world.clientId);
      await grantSiteAccess(server, user.id, world.siteId, 'all');
      await assignMachine(server, user.id, machine.id, ['terminal', 'view_only', 'files']);
      return { id: user.id, email: user.email, api: await loginAs(server, user.email) };
    };
    actors.nothing = await make('probe_nothing', false);
    actors.nothingRemote = await make('probe_nothing', true);
    actors.mfaOwed = await make('probe_mfa', true);

    const doc = (await apiClient(server.url).get('/api/openapi.json')).body;
    operations = Object.entries<Record<string, any>>(doc.paths)
      .flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, method: method.toUpperCase(), path, op })))
      // Deletions last, so a route that wrongly lets one through cannot take the others' fixtures with it.
      .sort((a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'));
  });
  afterAll(async () => {
    await server?.close();
  });

  const isPublic = (o: Operation) => PUBLIC.includes(o.key);
  const guarded = () => operations.filter((o) => !isPublic(o) && !(o.key in SELF));

  /** Calls each operation as the actor; every answer must be a 403 that demand() audited for this very request. */
  async function expectRefusedAndAudited(who: keyof typeof actors, ops: Operation[], reason: RegExp = /\S/) {
    const { id, api } = actors[who];
    const failures: string[] = [];
    const demanded: string[] = [];
    for (const o of ops) {
      const [last] = await server.running.ctx.db.select({ id: auditEvents.id }).from(auditEvents).orderBy(desc(auditEvents.id)).limit(1);
      const res = await call(api, o, ids);
      if (res.status !== 403) {
        failures.push(`${o.key}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
        continue;
      }
      const message: string = res.body?.error?.message ?? '';
      if (!reason.test(message)) failures.push(`${o.key}: 403, but the reason "${message}" does not match ${reason}`);
      const rows = await server.running.ctx.db
        .select()
        .from(auditEvents)
        .where(and(gt(auditEvents.id, last?.id ?? 0), eq(auditEvents.action, 'access.denied'), eq(auditEvents.actorId, id)));
      const row = rows.find((r) => (r.details as { reason?: string } | null)?.reason === message);
      if (!row) failures.push(`${o.key}: 403 "${message}" without an access.denied audit row for it (not refused by demand()?)`);
      else demanded.push(`${o.key} → ${(row.details as { action: string }).action} on ${row.targetType}`);
    }
    return { failures, demanded };
  }

  it('finds the documented operations, with an example request for each', () => {
    expect(operations.length).toBeGreaterThan(20);
    for (const o of operations) expect(() => requestFor(o, ids), o.key).not.toThrow();
  });

  it('the public routes are exactly the allow-listed ones; every other route refuses anonymous callers with 401', async () => {
    const declaredPublic = operations.filter((o) => Array.isArray(o.op.security) && o.op.security.length === 0).map((o) => o.key);
    expect(declaredPublic.sort()).toEqual([...PUBLIC].sort());
    const anon = apiClient(server.url);
    const failures: string[] = [];
    for (const o of operations) {
      const res = await call(anon, o, ids);
      const refused = res.status === 401 && res.body?.error?.message === 'authentication required';
      if (isPublic(o) ? refused || res.status >= 500 : !refused) failures.push(`${o.key}: ${res.status} ${JSON.stringify(res.body).slice(0, 160)}`);
    }
    expect(failures, failures.join('\n')).toEqual([]);
  });

  it('every self-service route in the allow-list is documented', () => {
    const keys = new Set(operations.map((o) => o.key));
    expect(Object.keys(SELF).filter((k) => !keys.has(k))).toEqual([]);
  });

  it('a user whose role permits nothing is refused every other route with 403, each refusal audited', async () => {
    const { failures, demanded } = await expectRefusedAndAudited('nothing', guarded());
    console.log(`[${backend}] routes and the action each one demands:\n  ${demanded.join('\n  ')}`);
    expect(failures, `routes not refused by the authorizer:\n${failures.join('\n')}`).toEqual([]);
  });

  it('with ids that do not exist it is still 403, never 404: a user who may do nothing learns nothing about what exists', async () => {
    const real = ids;
    ids = { client: randomUUID(), site: randomUUID(), machine: randomUUID(), user: randomUUID(), role: 'no_such_role', assignment: randomUUID(), enrollmentToken: randomUUID() };
    try {
      const { failures } = await expectRefusedAndAudited('nothing', guarded());
      expect(failures, failures.join('\n')).toEqual([]);
    } finally {
      ids = real;
    }
  });

  it('Allow Remote Control Access on changes nothing for a role that permits nothing', async () => {
    const { failures } = await expectRefusedAndAudited('nothingRemote', guarded());
    expect(failures, failures.join('\n')).toEqual([]);
  });

  it('a user owing MFA (role requires it, never enrolled) is refused every non-self route, the reason naming MFA', async () => {
    const ops = operations.filter((o) => !isPublic(o) && (!SELF[o.key] || SELF[o.key] === 'mfa_first'));
    const { failures } = await expectRefusedAndAudited('mfaOwed', ops, /multi-factor|MFA/i);
    expect(failures, failures.join('\n')).toEqual([]);
  });

  it('self-service routes stay open to users who may do nothing else (no 403), and open ones stay open while MFA is owed', async () => {
    const failures: string[] = [];
    for (const who of ['nothing', 'nothingRemote', 'mfaOwed'] as const) {
      for (const o of operations.filter((op) => SELF[op.key] === 'open' || (SELF[op.key] === 'mfa_first' && who !== 'mfaOwed'))) {
        const api = ENDS_SESSION.has(o.key) ? await loginAs(server, actors[who].email) : actors[who].api;
        const res = await call(api, o, ids);
        const signedOut = res.status === 401 && res.body?.error?.message === 'authentication required';
        if (res.status === 403 || signedOut || res.status >= 500) failures.push(`${who} ${o.key}: ${res.status} ${JSON.stringify(res.body).slice(0, 160)}`);
      }
    }
    expect(failures, failures.join('\n')).toEqual([]);
  });

  it('lists of "my own" things show nothing to users who may see no machine: 403 or an empty list, never their assignment', async () => {
    const failures: string[] = [];
    for (const who of ['nothing', 'nothingRemote', 'mfaOwed'] as const) {
      for (const o of operations.filter((op) => SELF[op.key] === 'own_list')) {
        const res = await call(actors[who].api, o, ids);
        const list = res.status === 200 ? Object.values<unknown>(res.body ?? {}).find(Array.isArray) : undefined;
        if (res.status === 403) continue;
        if (res.status !== 200 || !list) failures.push(`${who} ${o.key}: ${res.status} ${JSON.stringify(res.body).slice(0, 160)}`);
        else if (list.length) failures.push(`${who} ${o.key}: lists ${list.length} item(s): ${JSON.stringify(list).slice(0, 200)}`);
      }
    }
    expect(failures, failures.join('\n')).toEqual([]);
  });
});
