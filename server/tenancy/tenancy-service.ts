import type { Actor } from '../access/actor.ts';
import type { AppContext } from '../context.ts';
import { onSiteCreated } from '../credentials/credential-policy-service.ts';
import { sqlState, UNIQUE_VIOLATION } from '../db/open.ts';
import { Conflict, NotFound } from '../errors.ts';
import { authorize } from '../access/authorizer.ts';
import { demand, visible } from '../access/demand.ts';
import * as store from './tenancy-store.ts';
import { auditOf } from '../audit/audit-event.ts';

export async function createClient(ctx: AppContext, actor: Actor, name: string) {
  await demand(ctx, actor, 'tenancy.manage', { type: 'installation' });
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

/** The clients the caller reaches: the client itself is allowed, or at least one of its sites is. */
export async function listClients(ctx: AppContext, actor: Actor) {
  await demand(ctx, actor, 'machines.view', { type: 'collection', of: 'clients' });
  const sites = await store.listAllSites(ctx.db);
  const now = new Date();
  return (await store.listClients(ctx.db)).filter(
    (client) =>
      authorize(actor, 'machines.view', { type: 'client', clientId: client.id }, now).allowed ||
      sites.some((site) => site.clientId === client.id && authorize(actor, 'machines.view', { type: 'site', siteId: site.id, clientId: client.id }, now).allowed),
  );
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
      await onSiteCreated(tx, site.id);
      await ctx.audit.record(tx, auditOf(actor, 'site.create', 'site', site.id, { name: site.name, clientId }));
      return site;
    });
  } catch (error) {
    if (sqlState(error) === UNIQUE_VIOLATION) throw new Conflict(`this client already has a site named '${name.trim()}'`);
    throw error;
  }
}

/** The client's sites the caller reaches (all of them through client access or a global role). */
export async function listSites(ctx: AppContext, actor: Actor, clientId: string) {
  await demand(ctx, actor, 'machines.view', { type: 'collection', of: 'sites' });
  const sites = visible(actor, 'machines.view', await store.listSites(ctx.db, clientId), (site) => ({ type: 'site', siteId: site.id, clientId }));
  if (!sites.length) await demand(ctx, actor, 'machines.view', { type: 'client', clientId });
  if (!(await store.findClient(ctx.db, clientId))) throw new NotFound('client not found');
  return sites;
}

/** Client settings: the name and the client's MFA policy (every client user of it must use MFA). */
export async function updateClient(ctx: AppContext, actor: Actor, clientId: string, changes: { name?: string; requireMfa?: boolean }) {
  await demand(ctx, actor, 'tenancy.manage', { type: 'client', clientId });
  try {
    return await ctx.db.transaction(async (tx) => {
      const client = await store.updateClient(tx, clientId, { ...changes, name: changes.name?.trim() });
      if (!client) throw new NotFound('client not found');
      await ctx.audit.record(tx, auditOf(actor, 'client.update', 'client', clientId, changes));
      return client;
    });
  } catch (error) {
    if (sqlState(error) === UNIQUE_VIOLATION) throw new Conflict(`a client named '${changes.name?.trim()}' already exists`);
    throw error;
  }
}
