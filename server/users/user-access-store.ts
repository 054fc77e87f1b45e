import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { Queryable } from '../db/open.ts';
import { assignments, clientAccess, clients, machines, siteAccess, siteAccessMachines, sites } from '../db/schema.ts';

/** A user's grants of scope: client access, site access (with its machine list) and a summary of assignments. */

export const listClientAccess = (q: Queryable, userId: string, clientId?: string) =>
  q
    .select({ clientId: clientAccess.clientId, clientName: clients.name, grantedBy: clientAccess.grantedBy, grantedAt: clientAccess.grantedAt })
    .from(clientAccess)
    .innerJoin(clients, eq(clients.id, clientAccess.clientId))
    .where(and(eq(clientAccess.userId, userId), clientId ? eq(clientAccess.clientId, clientId) : undefined))
    .orderBy(asc(clients.name));

export async function findClientAccess(q: Queryable, userId: string, clientId: string) {
  const [row] = await listClientAccess(q, userId, clientId);
  return row ?? null;
}

export async function insertClientAccess(q: Queryable, values: { userId: string; clientId: string; grantedBy: string }) {
  await q.insert(clientAccess).values(values).onConflictDoNothing();
}

export async function deleteClientAccess(q: Queryable, userId: string, clientId: string): Promise<boolean> {
  const rows = await q
    .delete(clientAccess)
    .where(and(eq(clientAccess.userId, userId), eq(clientAccess.clientId, clientId)))
    .returning({ userId: clientAccess.userId });
  return rows.length > 0;
}

/** Site access of a user (optionally one site), each with the machines a `limited` grant lists. */
export async function listSiteAccess(q: Queryable, userId: string, siteId?: string) {
  const grants = await q
    .select({
      id: siteAccess.id,
      siteId: siteAccess.siteId,
      siteName: sites.name,
      clientId: sites.clientId,
      clientName: clients.name,
      resourceAccess: siteAccess.resourceAccess,
      grantedBy: siteAccess.grantedBy,
      grantedAt: siteAccess.grantedAt,
    })
    .from(siteAccess)
    .innerJoin(sites, eq(sites.id, siteAccess.siteId))
    .innerJoin(clients, eq(clients.id, sites.clientId))
    .where(and(eq(siteAccess.userId, userId), siteId ? eq(siteAccess.siteId, siteId) : undefined))
    .orderBy(asc(clients.name), asc(sites.name));
  const listed = grants.length
    ? await q
        .select({ siteAccessId: siteAccessMachines.siteAccessId, id: machines.id, hostname: machines.hostname })
        .from(siteAccessMachines)
        .innerJoin(machines, eq(machines.id, siteAccessMachines.machineId))
        .where(inArray(siteAccessMachines.siteAccessId, grants.map((g) => g.id)))
        .orderBy(asc(machines.hostname), asc(machines.id))
    : [];
  return grants.map(({ id, ...grant }) => ({
    ...grant,
    machines: listed.filter((m) => m.siteAccessId === id).map((m) => ({ id: m.id, hostname: m.hostname })),
  }));
}

export async function findSiteAccess(q: Queryable, userId: string, siteId: string) {
  const [row] = await listSiteAccess(q, userId, siteId);
  return row ?? null;
}

/** Creates or replaces the user's access to the site, with exactly these machines listed. */
export async function putSiteAccess(q: Queryable, values: { userId: string; siteId: string; resourceAccess: 'all' | 'limited'; grantedBy: string; machineIds: string[] }) {
  const [row] = await q
    .insert(siteAccess)
    .values({ userId: values.userId, siteId: values.siteId, resourceAccess: values.resourceAccess, grantedBy: values.grantedBy })
    .onConflictDoUpdate({
      target: [siteAccess.userId, siteAccess.siteId],
      set: { resourceAccess: values.resourceAccess, grantedBy: values.grantedBy, grantedAt: sql`now()` },
    })
    .returning({ id: siteAccess.id });
  await q.delete(siteAccessMachines).where(eq(siteAccessMachines.siteAccessId, row.id));
  if (values.machineIds.length) await q.insert(siteAccessMachines).values(values.machineIds.map((machineId) => ({ siteAccessId: row.id, machineId })));
}

export async function deleteSiteAccess(q: Queryable, userId: string, siteId: string): Promise<boolean> {
  const rows = await q
    .delete(siteAccess)
    .where(and(eq(siteAccess.userId, userId), eq(siteAccess.siteId, siteId)))
    .returning({ id: siteAccess.id });
  return rows.length > 0;
}

export const machinesByIds = (q: Queryable, ids: string[]) =>
  q
    .select({ id: machines.id, siteId: machines.siteId, clientId: sites.clientId, hostname: machines.hostname })
    .from(machines)
    .innerJoin(sites, eq(sites.id, machines.siteId))
    .where(inArray(machines.id, ids));

export async function assignmentSummary(q: Queryable, userId: string) {
  const [row] = await q
    .select({
      total: sql<number>`count(*)::int`,
      active: sql<number>`(count(*) filter (where ${assignments.expiresAt} is null or ${assignments.expiresAt} > now()))::int`,
    })
    .from(assignments)
    .where(eq(assignments.userId, userId));
  const total = Number(row?.total ?? 0);
  const active = Number(row?.active ?? 0);
  return { total, active, expired: total - active };
}
