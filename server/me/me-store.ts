import { and, eq, gt, isNull, or, sql } from 'drizzle-orm';
import type { Queryable } from '../db/open.ts';
import { assignments, clients, machines, siteAccess, siteAccessMachines, sites, users } from '../db/schema.ts';

const machineSummary = {
  id: machines.id,
  hostname: machines.hostname,
  kind: machines.kind,
  os: machines.os,
  online: machines.online,
  siteId: machines.siteId,
  siteName: sites.name,
  clientId: sites.clientId,
  clientName: clients.name,
};

/** Machines with a live (unexpired) assignment to the user, with the assignment's rights and expiry. */
export const assignedMachines = (q: Queryable, userId: string) =>
  q
    .select({ ...machineSummary, rights: assignments.rights, expiresAt: assignments.expiresAt })
    .from(assignments)
    .innerJoin(machines, eq(machines.id, assignments.machineId))
    .innerJoin(sites, eq(sites.id, machines.siteId))
    .innerJoin(clients, eq(clients.id, sites.clientId))
    .where(and(eq(assignments.userId, userId), or(isNull(assignments.expiresAt), gt(assignments.expiresAt, sql`now()`))));

/** Machines the user reaches through site access: every machine of an `all` site, the listed ones of a `limited` one. */
export const siteAccessibleMachines = (q: Queryable, userId: string) =>
  q
    .selectDistinct(machineSummary)
    .from(siteAccess)
    .innerJoin(machines, eq(machines.siteId, siteAccess.siteId))
    .innerJoin(sites, eq(sites.id, machines.siteId))
    .innerJoin(clients, eq(clients.id, sites.clientId))
    .leftJoin(siteAccessMachines, and(eq(siteAccessMachines.siteAccessId, siteAccess.id), eq(siteAccessMachines.machineId, machines.id)))
    .where(and(eq(siteAccess.userId, userId), or(eq(siteAccess.resourceAccess, 'all'), sql`${siteAccessMachines.machineId} is not null`)));

export async function passwordHashOf(q: Queryable, userId: string): Promise<string | null> {
  const [row] = await q.select({ hash: users.passwordHash }).from(users).where(eq(users.id, userId));
  return row?.hash ?? null;
}

/** Compare-and-set: replaces the hash only if it is still the one that was verified. */
export async function replacePasswordHash(q: Queryable, userId: string, verifiedHash: string, hash: string): Promise<boolean> {
  const rows = await q
    .update(users)
    .set({ passwordHash: hash, passwordChangedAt: sql`now()`, updatedAt: sql`now()` })
    .where(and(eq(users.id, userId), eq(users.passwordHash, verifiedHash)))
    .returning({ id: users.id });
  return rows.length > 0;
}
