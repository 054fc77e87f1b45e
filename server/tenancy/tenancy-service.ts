import type { Actor } from '../access/actor.ts';
import type { AppContext } from '../context.ts';
import { sqlState, UNIQUE_VIOLATION } from '../db/open.ts';
import { Conflict, NotFound } from '../errors.ts';
import { demand } from '../http/authenticate.ts';
import * as store from './tenancy-store.ts';

export async function createClient(ctx: AppContext, actor: Actor, name: string) {
  await demand(ctx, actor, 'tenancy.manage', { type: 'client' });
  try {
    return await ctx.db.transaction(async (tx) => {
      const client = await store.insertClient(tx, name.trim());
      await ctx.audit.record(tx, auditOf(actor, 'client.create', 'client', client.id, { name: client.name }));
      return client;
    });
  } catch (error) {
    if (sqlState(error) === UNIQUE_VIOLATION) throw new Conflict(`a client named '${name.trim()}' already exists`);
    throw error;
  }
}

export async function listClients(ctx: AppContext, actor: Actor) {
  await demand(ctx, actor, 'machines.view', { type: 'client' });
  return store.listClients(ctx.db);
}

export async function getClient(ctx: AppContext, actor: Actor, clientId: string) {
  const client = await store.findClient(ctx.db, clientId);
  await demand(ctx, actor, 'machines.view', { type: 'client', clientId });
  if (!client) throw new NotFound('client not found');
  return client;
}

export async function createSite(ctx: AppContext, actor: Actor, clientId: string, name: string) {
  await demand(ctx, actor, 'tenancy.manage', { type: 'client', clientId });
  if (!(await store.findClient(ctx.db, clientId))) throw new NotFound('client not found');
  try {
    return await ctx.db.transaction(async (tx) => {
      const site = await store.insertSite(tx, clientId, name.trim());
      await ctx.audit.record(tx, auditOf(actor, 'site.create', 'site', site.id, { name: site.name, clientId }));
      return site;
    });
  } catch (error) {
    if (sqlState(error) === UNIQUE_VIOLATION) throw new Conflict(`this client already has a site named '${name.trim()}'`);
    throw error;
  }
}

export async function listSites(ctx: AppContext, actor: Actor, clientId: string) {
  await demand(ctx, actor, 'machines.view', { type: 'client', clientId });
  if (!(await store.findClient(ctx.db, clientId))) throw new NotFound('client not found');
  return store.listSites(ctx.db, clientId);
}

/** Looks a site up for another service; NotFound when missing. Authorization stays with the caller. */
export async function requireSite(ctx: AppContext, siteId: string) {
  const site = await store.findSite(ctx.db, siteId);
  if (!site) throw new NotFound('site not found');
  return site;
}

export function auditOf(actor: Actor, action: string, targetType: string, targetId: string, details?: Record<string, unknown>) {
  return {
    actorType: 'user' as const,
    actorId: actor.userId,
    action,
    outcome: 'success' as const,
    targetType,
    targetId,
    address: actor.address,
    details: details ?? null,
  };
}
