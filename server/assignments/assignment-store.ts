import { and, eq, gt, isNull, or, sql, type SQL } from 'drizzle-orm';
import type { Queryable } from '../db/open.ts';
import { assignments, machines, sites, users } from '../db/schema.ts';
import type { Reach } from '../access/reach.ts';
import { reachCondition } from '../machines/machine-store.ts';

/** An assignment with what its listings and authorization need: the machine's site and client, the assignee. */
const view = {
  id: assignments.id,
  machineId: assignments.machineId,
  hostname: machines.hostname,
  siteId: machines.siteId,
  clientId: sites.clientId,
  userId: assignments.userId,
  userEmail: users.email,
  userName: users.name,
  rights: assignments.rights,
  note: assignments.note,
  expiresAt: assignments.expiresAt,
  assignedBy: assignments.assignedBy,
  assignedAt: assignments.assignedAt,
  updatedAt: assignments.updatedAt,
  lastUsedAt: assignments.lastUsedAt,
};

const joined = (q: Queryable) =>
  q
    .select(view)
    .from(assignments)
    .innerJoin(machines, eq(machines.id, assignments.machineId))
    .innerJoin(sites, eq(sites.id, machines.siteId))
    .innerJoin(users, eq(users.id, assignments.userId));

export type AssignmentView = NonNullable<Awaited<ReturnType<typeof findAssignment>>>;

export async function findAssignment(q: Queryable, id: string) {
  const [row] = await joined(q).where(eq(assignments.id, id));
  return row ?? null;
}

export interface AssignmentFilter {
  userId?: string;
  machineId?: string;
  siteId?: string;
  clientId?: string;
  includeExpired?: boolean;
}

/**
 * Assignments matching the filter, narrowed in SQL to those the caller may be shown: the caller's own, plus (when
 * `manageReach` is given) those on machines inside that reach (null = every machine). The service then puts each
 * row through the authorizer.
 */
export function listAssignments(q: Queryable, filter: AssignmentFilter, callerId: string, manageReach: Reach | null | false) {
  const conditions: SQL[] = [];
  const own = eq(assignments.userId, callerId);
  if (manageReach === false) conditions.push(own);
  else if (manageReach) conditions.push(or(own, reachCondition(manageReach)) as SQL);
  if (filter.userId) conditions.push(eq(assignments.userId, filter.userId));
  if (filter.machineId) conditions.push(eq(assignments.machineId, filter.machineId));
  if (filter.siteId) conditions.push(eq(machines.siteId, filter.siteId));
  if (filter.clientId) conditions.push(eq(sites.clientId, filter.clientId));
  if (!filter.includeExpired) conditions.push(or(isNull(assignments.expiresAt), gt(assignments.expiresAt, sql`now()`)) as SQL);
  return joined(q)
    .where(conditions.length ? and(...conditions) : undefined)
    .orderBy(machines.hostname, users.email, assignments.id);
}

export interface NewAssignment {
  userId: string;
  machineId: string;
  rights: string[];
  note: string | null;
  expiresAt: Date | null;
  assignedBy: string;
}

export async function insertAssignment(q: Queryable, values: NewAssignment) {
  const [row] = await q.insert(assignments).values(values).returning({ id: assignments.id });
  return row;
}

export async function updateAssignment(q: Queryable, id: string, changes: { rights?: string[]; note?: string | null; expiresAt?: Date | null }) {
  await q
    .update(assignments)
    .set({ ...changes, updatedAt: sql`now()` })
    .where(eq(assignments.id, id));
}

export async function deleteAssignment(q: Queryable, id: string): Promise<boolean> {
  const rows = await q.delete(assignments).where(eq(assignments.id, id)).returning({ id: assignments.id });
  return rows.length > 0;
}
