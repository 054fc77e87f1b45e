import { and, asc, count, eq, sql } from 'drizzle-orm';
import { BUILT_IN_ROLES } from '../access/roles.ts';
import type { Queryable } from '../db/open.ts';
import { roles, users } from '../db/schema.ts';

/** Roles (built-in and custom) with how many users hold each. */

export async function listRoles(q: Queryable) {
  const rows = await q.select().from(roles).orderBy(asc(roles.name));
  // Built-ins first, in the catalog's order (most powerful first); then custom roles by name.
  const builtIns = Object.keys(BUILT_IN_ROLES);
  const rank = (id: string) => (builtIns.includes(id) ? builtIns.indexOf(id) : builtIns.length);
  rows.sort((a, b) => rank(a.id) - rank(b.id));
  const counts = await q.select({ role: users.role, n: count() }).from(users).groupBy(users.role);
  const held = new Map(counts.map((c) => [c.role, Number(c.n)]));
  return rows.map(({ createdBy: _createdBy, ...role }) => ({ ...role, userCount: held.get(role.id) ?? 0 }));
}

export type RoleRow = typeof roles.$inferSelect;

export async function findRole(q: Queryable, id: string): Promise<RoleRow | null> {
  const [row] = await q.select().from(roles).where(eq(roles.id, id));
  return row ?? null;
}

/** Case-insensitive lookup by name (role names are unique regardless of case). */
export async function findRoleByName(q: Queryable, name: string): Promise<RoleRow | null> {
  const [row] = await q.select().from(roles).where(sql`lower(${roles.name}) = lower(${name})`);
  return row ?? null;
}

export async function roleIdTaken(q: Queryable, id: string): Promise<boolean> {
  return (await q.select({ id: roles.id }).from(roles).where(eq(roles.id, id))).length > 0;
}

export interface NewRole {
  id: string;
  name: string;
  description: string;
  permissions: string[];
  scope: string;
  requireMfa: boolean;
  createdBy: string;
}

export async function insertRole(q: Queryable, values: NewRole) {
  const [row] = await q.insert(roles).values({ ...values, builtIn: false }).returning();
  return row;
}

export async function updateRole(
  q: Queryable,
  id: string,
  changes: { name?: string; description?: string; permissions?: string[]; scope?: string; requireMfa?: boolean },
) {
  const [row] = await q
    .update(roles)
    .set({ ...changes, updatedAt: sql`now()` })
    .where(eq(roles.id, id))
    .returning();
  return row ?? null;
}

export async function deleteRole(q: Queryable, id: string) {
  await q.delete(roles).where(eq(roles.id, id));
}

export async function holderCount(q: Queryable, id: string, kind?: 'technician' | 'client_user'): Promise<number> {
  const [row] = await q
    .select({ n: count() })
    .from(users)
    .where(and(eq(users.role, id), kind ? eq(users.kind, kind) : undefined));
  return Number(row?.n ?? 0);
}
