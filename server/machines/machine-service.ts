import { inventoryHash, type Inventory } from '../../protocol/inventory.ts';
import type { Actor } from '../access/actor.ts';
import type { AppContext } from '../context.ts';
import { NotFound } from '../errors.ts';
import { demand, visible } from '../access/demand.ts';
import { reachOf } from '../access/reach.ts';
import { diffInventory, stabilizeDiskUsage } from './inventory-diff.ts';
import * as store from './machine-store.ts';

/** The machines the caller may see: narrowed in SQL by the caller's reach, then each one put to the authorizer. */
export async function listMachines(ctx: AppContext, actor: Actor, filter: { siteId?: string; clientId?: string; online?: boolean }) {
  await demand(ctx, actor, 'machines.view', { type: 'collection', of: 'machines' });
  return visible(actor, 'machines.view', await store.listMachines(ctx.db, filter, reachOf(actor)), machineResource);
}

export const machineResource = (m: { id: string; siteId: string; clientId: string }) => ({ type: 'machine' as const, machineId: m.id, siteId: m.siteId, clientId: m.clientId });

async function requireVisibleMachine(ctx: AppContext, actor: Actor, machineId: string, action: 'machines.view' | 'machines.manage') {
  const machine = await store.findMachine(ctx.db, machineId);
  if (!machine) {
    await demand(ctx, actor, action, { type: 'collection', of: 'machines' });
    throw new NotFound('machine not found');
  }
  await demand(ctx, actor, action, { type: 'machine', machineId, siteId: machine.siteId, clientId: machine.clientId });
  return machine;
}

export async function getMachine(ctx: AppContext, actor: Actor, machineId: string) {
  const { inventoryHash: _hash, lastAddress, ...machine } = await requireVisibleMachine(ctx, actor, machineId, 'machines.view');
  return { ...machine, lastAddress, inventory: machine.inventory as Inventory | null };
}

export async function listInventoryChanges(ctx: AppContext, actor: Actor, machineId: string, limit: number) {
  await requireVisibleMachine(ctx, actor, machineId, 'machines.view');
  return store.listInventoryChanges(ctx.db, machineId, limit);
}

/** Asks the connected agent for a fresh inventory now, stores it, and returns the machine. */
export async function refreshInventory(ctx: AppContext, actor: Actor, machineId: string) {
  await requireVisibleMachine(ctx, actor, machineId, 'machines.manage');
  const inventory = await ctx.agents.request(machineId, 'inventory.collect', {}, 120_000);
  const changed = await recordInventory(ctx, machineId, inventory);
  await ctx.audit.record(ctx.db, {
    actorType: 'user',
    actorId: actor.userId,
    action: 'machine.inventory_refresh',
    outcome: 'success',
    targetType: 'machine',
    targetId: machineId,
    address: actor.address,
    details: { changed },
  });
  return getMachine(ctx, actor, machineId);
}

/**
 * Stores an inventory reported by the machine's own agent. The hash is recomputed here (never trusted from the
 * wire), after disk usage drift under 1 GiB is smoothed away; an unchanged inventory writes nothing, a changed one
 * writes the new document and a change record together.
 */
export async function recordInventory(ctx: AppContext, machineId: string, reported: Inventory): Promise<boolean> {
  return ctx.db.transaction(async (tx) => {
    const current = await store.currentInventory(tx, machineId);
    if (!current) throw new NotFound('machine not found');
    const inventory = stabilizeDiskUsage(current.inventory, reported);
    const hash = inventoryHash(inventory);
    if (current.hash === hash) return false;
    await store.storeInventory(tx, machineId, inventory, hash, diffInventory(current.inventory, inventory));
    return true;
  });
}
