import { and, eq, isNotNull, or, type SQL } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import type { Reach } from '../access/reach.ts';
import type { Queryable } from '../db/open.ts';
import { assignments, clientAccess, clients, machines, roles, siteAccess, siteAccessMachines, sites, users } from '../db/schema.ts';
import { reachCondition } from '../machines/machine-store.ts';

/** Report filters; the reach (null = everything) narrows in SQL before every row is put to the authorizer. */
export interface ReportFilter {
  clientId?: string;
  siteId?: string;
  userId?: string;
}

function machineScope(filter: ReportFilter, reach: Reach | null): SQL[] {
  const conditions: SQL[] = [];
  if (reach) conditions.push(reachCondition(reach));
  if (filter.clientId) conditions.push(eq(sites.clientId, filter.clientId));
  if (filter.siteId) conditions.push(eq(machines.siteId, filter.siteId));
  return conditions;
}

const machineColumns = {
  machineId: machines.id,
  hostname: machines.hostname,
  siteId: machines.siteId,
  siteName: sites.name,
  clientId: sites.clientId,
  clientName: clients.name,
};

const assigner = alias(users, 'assigner');

/** Every assignment in scope, with its machine, site, client, assignee and who assigned it. */
export function assignmentReportRows(q: Queryable, filter: ReportFilter, reach: Reach | null) {
  const conditions = machineScope(filter, reach);
  if (filter.userId) conditions.push(eq(assignments.userId, filter.userId));
  return q
    .select({
      ...machineColumns,
      userName: users.name,
      userEmail: users.email,
      rights: assignments.rights,
      assignedByEmail: assigner.email,
      assignedAt: assignments.assignedAt,
      expiresAt: assignments.expiresAt,
      note: assignments.note,
    })
    .from(assignments)
    .innerJoin(machines, eq(machines.id, assignments.machineId))
    .innerJoin(sites, eq(sites.id, machines.siteId))
    .innerJoin(clients, eq(clients.id, sites.clientId))
    .innerJoin(users, eq(users.id, assignments.userId))
    .leftJoin(assigner, eq(assigner.id, assignments.assignedBy))
    .where(conditions.length ? and(...conditions) : undefined)
    .orderBy(clients.name, sites.name, machines.hostname, users.email);
}

/** Machines in scope, for the access review. */
export function reviewMachines(q: Queryable, filter: ReportFilter, reach: Reach | null) {
  const conditions = machineScope(filter, reach);
  return q
    .select(machineColumns)
    .from(machines)
    .innerJoin(sites, eq(sites.id, machines.siteId))
    .innerJoin(clients, eq(clients.id, sites.clientId))
    .where(conditions.length ? and(...conditions) : undefined)
    .orderBy(clients.name, sites.name, machines.hostname, machines.id);
}

const holder = {
  userId: users.id,
  userName: users.name,
  email: users.email,
  userKind: users.kind,
  userClientId: users.clientId,
  roleName: roles.name,
  roleScope: roles.scope,
  disabledAt: users.disabledAt,
  allowRemoteControl: users.allowRemoteControl,
  lastLoginAt: users.lastLoginAt,
};

const userFilter = (filter: ReportFilter): SQL[] => (filter.userId ? [eq(users.id, filter.userId)] : []);

/** Users whose role reaches every machine on its own (global scope). */
export const globalRoleHolders = (q: Queryable, filter: ReportFilter) =>
  q
    .select(holder)
    .from(users)
    .innerJoin(roles, eq(roles.id, users.role))
    .where(and(eq(roles.scope, 'global'), eq(users.kind, 'technician'), ...userFilter(filter)));

/**
 * Every explicit grant that names a machine in scope — client access, site access (all or limited), assignment —
 * one row per machine and grant, with the holder. Whether the grant takes effect is judged by the caller.
 */
export async function machineGrants(q: Queryable, filter: ReportFilter, reach: Reach | null) {
  const scope = [...machineScope(filter, reach), ...userFilter(filter)];
  const base = <T extends Record<string, unknown>>(extra: T) => ({ machineId: machines.id, ...holder, ...extra });
  const fromClientAccess = await q
    .select(base({ grantedAt: clientAccess.grantedAt }))
    .from(machines)
    .innerJoin(sites, eq(sites.id, machines.siteId))
    .innerJoin(clientAccess, eq(clientAccess.clientId, sites.clientId))
    .innerJoin(users, eq(users.id, clientAccess.userId))
    .innerJoin(roles, eq(roles.id, users.role))
    .where(and(...scope));
  const fromSiteAccess = await q
    .select(base({ grantedAt: siteAccess.grantedAt, access: siteAccess.resourceAccess, listed: siteAccessMachines.machineId }))
    .from(machines)
    .innerJoin(sites, eq(sites.id, machines.siteId))
    .innerJoin(siteAccess, eq(siteAccess.siteId, machines.siteId))
    .leftJoin(siteAccessMachines, and(eq(siteAccessMachines.siteAccessId, siteAccess.id), eq(siteAccessMachines.machineId, machines.id)))
    .innerJoin(users, eq(users.id, siteAccess.userId))
    .innerJoin(roles, eq(roles.id, users.role))
    // Limited site access names only its listed machines.
    .where(and(...scope, or(eq(siteAccess.resourceAccess, 'all'), isNotNull(siteAccessMachines.machineId))));
  const fromAssignments = await q
    .select(base({ grantedAt: assignments.assignedAt, rights: assignments.rights, expiresAt: assignments.expiresAt, lastUsedAt: assignments.lastUsedAt }))
    .from(machines)
    .innerJoin(sites, eq(sites.id, machines.siteId))
    .innerJoin(assignments, eq(assignments.machineId, machines.id))
    .innerJoin(users, eq(users.id, assignments.userId))
    .innerJoin(roles, eq(roles.id, users.role))
    .where(and(...scope));
  return { fromClientAccess, fromSiteAccess, fromAssignments };
}
