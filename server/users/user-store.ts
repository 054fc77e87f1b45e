import { and, asc, eq, inArray, isNotNull, isNull, sql, type SQL } from 'drizzle-orm';
import type { Queryable } from '../db/open.ts';
import { clients, users } from '../db/schema.ts';

/**
 * Users as the API shows them: never the password hash or MFA secrets, only whether they are set.
 */
const view = {
  id: users.id,
  email: users.email,
  name: users.name,
  kind: users.kind,
  clientId: users.clientId,
  role: users.role,
  allowRemoteControl: users.allowRemoteControl,
  disabledAt: users.disabledAt,
  mfaEnabled: sql<boolean>`(${users.mfaEnabledAt} is not null)`,
  passwordSet: sql<boolean>`(${users.passwordHash} is not null)`,
  lastLoginAt: users.lastLoginAt,
  createdAt: users.createdAt,
  updatedAt: users.updatedAt,
};

export interface UserFilter {
  kind?: 'technician' | 'client_user';
  clientId?: string;
  role?: string;
  disabled?: boolean;
}

export function listUsers(q: Queryable, filter: UserFilter) {
  const conditions: SQL[] = [];
  if (filter.kind) conditions.push(eq(users.kind, filter.kind));
  if (filter.clientId) conditions.push(eq(users.clientId, filter.clientId));
  if (filter.role) conditions.push(eq(users.role, filter.role));
  if (filter.disabled !== undefined) conditions.push(filter.disabled ? isNotNull(users.disabledAt) : isNull(users.disabledAt));
  return q
    .select(view)
    .from(users)
    .where(conditions.length ? and(...conditions) : undefined)
    .orderBy(asc(users.email));
}

export async function findUser(q: Queryable, id: string) {
  const [row] = await q.select(view).from(users).where(eq(users.id, id));
  return row ?? null;
}

export type UserRow = NonNullable<Awaited<ReturnType<typeof findUser>>>;

export interface NewUser {
  id: string;
  email: string;
  name: string;
  kind: 'technician' | 'client_user';
  clientId: string | null;
  role: string;
  allowRemoteControl: boolean;
  passwordHash: string | null;
}

export async function insertUsers(q: Queryable, values: NewUser[]) {
  const rows: { id: string; email: string; name: string }[] = [];
  // Chunked: a PostgreSQL statement takes at most 65,535 parameters.
  for (let i = 0; i < values.length; i += 1000) {
    const chunk = values.slice(i, i + 1000).map((v) => ({ ...v, passwordChangedAt: v.passwordHash ? new Date() : null }));
    rows.push(...(await q.insert(users).values(chunk).returning({ id: users.id, email: users.email, name: users.name })));
  }
  return rows;
}

export interface UserChanges {
  name?: string;
  email?: string;
  role?: string;
  allowRemoteControl?: boolean;
  disabledAt?: Date | null;
}

export async function updateUser(q: Queryable, id: string, changes: UserChanges) {
  await q
    .update(users)
    .set({ ...changes, updatedAt: sql`now()` })
    .where(eq(users.id, id));
}

export async function deleteUser(q: Queryable, id: string) {
  await q.delete(users).where(eq(users.id, id));
}

/** Which of these (lower-cased) emails already belong to someone. */
export async function emailsInUse(q: Queryable, emails: string[]): Promise<Set<string>> {
  const used = new Set<string>();
  for (let i = 0; i < emails.length; i += 1000) {
    const rows = await q.select({ email: users.email }).from(users).where(inArray(users.email, emails.slice(i, i + 1000)));
    for (const row of rows) used.add(row.email);
  }
  return used;
}

/**
 * Locks (FOR UPDATE) the Super Admins who can sign in locally — enabled, with a password — other than `exceptId`, and
 * returns their ids. Two transactions removing two different Super Admins queue here, and the second one sees the
 * first's change, so they cannot both succeed and leave nobody.
 */
export async function lockSignInSuperAdmins(q: Queryable, exceptId: string): Promise<string[]> {
  const rows = await q
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.role, 'super_admin'), isNull(users.disabledAt), isNotNull(users.passwordHash)))
    .orderBy(asc(users.id))
    .for('update');
  return rows.map((r) => r.id).filter((id) => id !== exceptId);
}

export async function findClientById(q: Queryable, id: string) {
  const [row] = await q.select({ id: clients.id, name: clients.name }).from(clients).where(eq(clients.id, id));
  return row ?? null;
}

/** Every client by lower-cased name (the CSV import names clients, and client names are unique regardless of case). */
export async function clientsByLowerName(q: Queryable): Promise<Map<string, { id: string; name: string }>> {
  const rows = await q.select({ id: clients.id, name: clients.name }).from(clients);
  return new Map(rows.map((r) => [r.name.toLowerCase(), r]));
}
