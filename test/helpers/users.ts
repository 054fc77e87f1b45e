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
