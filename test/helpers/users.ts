import { hashPassword } from '../../server/auth/password.ts';
import { assignments, clientAccess, machines, siteAccess, siteAccessMachines, users } from '../../server/db/schema.ts';
import type { AssignmentRight } from '../../server/access/permissions.ts';
import { apiClient, type Api } from './api.ts';
import type { TestServer } from './server.ts';

/**
 * Test fixtures written straight to the database, for tests that need users and grants without depending on the
 * user-management API (which has its own tests). Passwords are real argon2id hashes; logins go through the API.
 */
export const TEST_PASSWORD = 'test password 1234';
let hashed: Promise<string> | null = null;

export interface TestUserInput {
  email?: string;
  name?: string;
  role: string;
  kind?: 'technician' | 'client_user';
  clientId?: string | null;
  allowRemoteControl?: boolean;
}

export async function createUser(server: TestServer, input: TestUserInput) {
  hashed ??= hashPassword(TEST_PASSWORD);
  const email = input.email ?? `${input.role}-${Math.random().toString(36).slice(2, 10)}@example.test`;
  const [row] = await server.running.ctx.db
    .insert(users)
    .values({
      email,
      name: input.name ?? email.split('@')[0],
      role: input.role,
      kind: input.kind ?? (input.clientId ? 'client_user' : 'technician'),
      clientId: input.clientId ?? null,
      allowRemoteControl: input.allowRemoteControl ?? true,
      passwordHash: await hashed,
    })
    .returning();
  return row;
}

/** Logs a user in with the test password; returns an API client holding their bearer token. */
export async function loginAs(server: TestServer, email: string, extra: Record<string, unknown> = {}): Promise<Api & { token: string }> {
  const res = await apiClient(server.url).post('/api/v1/auth/login', { email, password: TEST_PASSWORD, ...extra });
  if (res.status !== 200) throw new Error(`login ${email}: ${res.status} ${JSON.stringify(res.body)}`);
  return Object.assign(apiClient(server.url, res.body.token), { token: res.body.token as string });
}

export async function grantClientAccess(server: TestServer, userId: string, clientId: string) {
  await server.running.ctx.db.insert(clientAccess).values({ userId, clientId });
}

export async function grantSiteAccess(server: TestServer, userId: string, siteId: string, access: 'all' | 'limited', machineIds: string[] = []) {
  const [row] = await server.running.ctx.db.insert(siteAccess).values({ userId, siteId, resourceAccess: access }).returning();
  if (machineIds.length) await server.running.ctx.db.insert(siteAccessMachines).values(machineIds.map((machineId) => ({ siteAccessId: row.id, machineId })));
  return row;
}

export async function assignMachine(server: TestServer, userId: string, machineId: string, rights: AssignmentRight[], expiresAt: Date | null = null) {
  const [row] = await server.running.ctx.db.insert(assignments).values({ userId, machineId, rights, expiresAt }).returning();
  return row;
}

/** A machine row without an agent (for access tests that need machines but no live connection). */
export async function createMachine(server: TestServer, siteId: string, hostname: string, kind: 'desktop' | 'server' = 'desktop') {
  const key = new Uint8Array(32);
  crypto.getRandomValues(key);
  const [row] = await server.running.ctx.db.insert(machines).values({ siteId, hostname, kind, os: 'linux', domainRole: 'standalone', agentPublicKey: key }).returning();
  return row;
}

/**
 * Two clients over REST — Acme (sites A1, A2) and Bravo (site B1) — and agentless machines: a1 'a1-desk' and a1b
 * 'a1-srv' (server) on A1, a2 'a2-desk' on A2, b1 on B1 (hostname and kind as asked). Fills `ids` and `m` in place,
 * so tests can declare them up front and use them after beforeAll.
 */
export async function createTwoClientWorld(
  server: TestServer,
  admin: Api,
  ids: { clientA: string; siteA1: string; siteA2: string; clientB: string; siteB1: string },
  m: { a1: string; a1b?: string; a2: string; b1: string },
  b1: { hostname: string; kind: 'desktop' | 'server' } = { hostname: 'b1-desk', kind: 'desktop' },
): Promise<void> {
  ids.clientA = (await admin.post('/api/v1/clients', { name: 'Acme' })).body.id;
  ids.clientB = (await admin.post('/api/v1/clients', { name: 'Bravo' })).body.id;
  ids.siteA1 = (await admin.post(`/api/v1/clients/${ids.clientA}/sites`, { name: 'A1' })).body.id;
  ids.siteA2 = (await admin.post(`/api/v1/clients/${ids.clientA}/sites`, { name: 'A2' })).body.id;
  ids.siteB1 = (await admin.post(`/api/v1/clients/${ids.clientB}/sites`, { name: 'B1' })).body.id;
  m.a1 = (await createMachine(server, ids.siteA1, 'a1-desk')).id;
  if ('a1b' in m) m.a1b = (await createMachine(server, ids.siteA1, 'a1-srv', 'server')).id;
  m.a2 = (await createMachine(server, ids.siteA2, 'a2-desk')).id;
  m.b1 = (await createMachine(server, ids.siteB1, b1.hostname, b1.kind)).id;
}
