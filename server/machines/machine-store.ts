import { and, desc, eq, inArray, or, sql, type SQL } from 'drizzle-orm';
import type { Inventory } from '../../protocol/inventory.ts';
import type { Queryable } from '../db/open.ts';
import { inventoryChanges, machines, sites } from '../db/schema.ts';
import type { InventoryChanges } from './inventory-diff.ts';
import type { Reach } from '../access/reach.ts';

/** Machines inside a reach: of its clients, of its sites, or listed (an empty reach matches nothing). */
export function reachCondition(reach: Reach): SQL {
  const parts: SQL[] = [];
  if (reach.clientIds.length) parts.push(inArray(sites.clientId, reach.clientIds));
  if (reach.siteIds.length) parts.push(inArray(machines.siteId, reach.siteIds));
  if (reach.machineIds.length) parts.push(inArray(machines.id, reach.machineIds));
  return parts.length ? (or(...parts) as SQL) : sql`false`;
}

const summary = {
  id: machines.id,
  siteId: machines.siteId,
  clientId: sites.clientId,
  hostname: machines.hostname,
  kind: machines.kind,
  os: machines.os,
  domainRole: machines.domainRole,
  agentVersion: machines.agentVersion,
  online: machines.online,
  connectedAt: machines.connectedAt,
  lastSeenAt: machines.lastSeenAt,
  enrolledAt: machines.enrolledAt,
  inventoryAt: machines.inventoryAt,
  osName: sql<string | null>`${machines.inventory}->'os'->>'distro'`,
  osRelease: sql<string | null>`${machines.inventory}->'os'->>'release'`,
  ipv4: sql<string[] | null>`(select coalesce(jsonb_agg(ip), '[]'::jsonb) from jsonb_array_elements(${machines.inventory}->'network') n, jsonb_array_elements_text(n->'ipv4') ip)`,
};

export async function listMachines(q: Queryable, filter: { siteId?: string; clientId?: string; online?: boolean }, reach: Reach | null) {
  const conditions: SQL[] = [];
  if (reach) conditions.push(reachCondition(reach));
  if (filter.siteId) conditions.push(eq(machines.siteId, filter.siteId));
  if (filter.clientId) conditions.push(eq(sites.clientId, filter.clientId));
  if (filter.online !== undefined) conditions.push(eq(machines.online, filter.online));
  return q
    .select(summary)
    .from(machines)
    .innerJoin(sites, eq(sites.id, machines.siteId))
    .where(conditions.length ? and(...conditions) : undefined)
    .orderBy(machines.hostname, machines.id);
}

export async function findMachine(q: Queryable, id: string) {
  const [row] = await q
    .select({ ...summary, inventory: machines.inventory, inventoryHash: machines.inventoryHash, lastAddress: machines.lastAddress })
    .from(machines)
    .innerJoin(sites, eq(sites.id, machines.siteId))
    .where(eq(machines.id, id));
  return row ?? null;
}

export async function machineExists(q: Queryable, id: string): Promise<boolean> {
  const rows = await q.select({ id: machines.id }).from(machines).where(eq(machines.id, id));
  return rows.length > 0;
}

export async function currentInventory(q: Queryable, id: string) {
  const [row] = await q.select({ inventory: machines.inventory, hash: machines.inventoryHash }).from(machines).where(eq(machines.id, id));
  return row ? { inventory: row.inventory as Inventory | null, hash: row.hash } : null;
}

export async function storeInventory(q: Queryable, id: string, inventory: Inventory, hash: string, changes: InventoryChanges) {
  await q
    .update(machines)
    .set({
      inventory,
      inventoryHash: hash,
      inventoryAt: sql`now()`,
      hostname: inventory.hostname,
      kind: inventory.kind,
      os: inventory.os.platform,
      domainRole: inventory.domainRole,
      agentVersion: inventory.agentVersion,
    })
    .where(eq(machines.id, id));
  await q.insert(inventoryChanges).values({ machineId: id, hash, changes });
}

export const listInventoryChanges = (q: Queryable, machineId: string, limit: number) =>
  q
    .select({ id: inventoryChanges.id, at: inventoryChanges.at, hash: inventoryChanges.hash, changes: inventoryChanges.changes })
    .from(inventoryChanges)
    .where(eq(inventoryChanges.machineId, machineId))
    .orderBy(desc(inventoryChanges.id))
    .limit(limit);
