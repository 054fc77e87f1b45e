import type { Actor } from '../access/actor.ts';
import { demand } from '../access/demand.ts';
import type { AppContext } from '../context.ts';
import { Invalid, NotFound } from '../errors.ts';
import { findClient, findSite } from '../tenancy/tenancy-store.ts';
import { auditOf } from '../audit/audit-event.ts';
import * as store from './user-access-store.ts';
import { demandManageableUser, demandUser } from './user-service.ts';

/**
 * Grants of scope: client access (technicians: every site of a client, present and future) and site access (`all`
 * desktops and servers, or `limited` to listed machines). Besides `users.manage` over the user, the actor must itself
 * reach what it hands out — asked of the authorizer, never decided here. Actors are rebuilt from the database on every
 * request, so a change takes effect on the user's next request.
 */
export async function getAccess(ctx: AppContext, actor: Actor, userId: string) {
  const target = await demandUser(ctx, actor, userId);
  return {
    userId,
    kind: target.kind,
    clientAccess: await store.listClientAccess(ctx.db, userId),
    siteAccess: await store.listSiteAccess(ctx.db, userId),
    assignments: await store.assignmentSummary(ctx.db, userId),
  };
}

export interface SiteAccessInput {
  resourceAccess: 'all' | 'limited';
  machineIds?: string[];
}

export async function putSiteAccess(ctx: AppContext, actor: Actor, userId: string, siteId: string, input: SiteAccessInput) {
  const target = await demandManageableUser(ctx, actor, userId, "change this user's site access");
  const site = await findSite(ctx.db, siteId);
  if (!site) throw new NotFound('site not found');
  const machineIds = [...new Set(input.machineIds ?? [])];
  const machines = machineIds.length ? await store.machinesByIds(ctx.db, machineIds) : [];

  // Reach first (403, audited), then the shape of the request (400): nobody learns about what they cannot reach.
  const siteResource = { type: 'site', siteId, clientId: site.clientId } as const;
  if (input.resourceAccess === 'all') {
    await demand(ctx, actor, 'machines.view', siteResource);
    // Limited site access opens only viewing at site level, so users.manage on the site is allowed only to an actor
    // reaching the whole site (global, client access, or site access 'all'): nobody hands out 'all' holding 'limited'.
    await demand(ctx, actor, 'users.manage', siteResource);
  } else {
    for (const m of machines) await demand(ctx, actor, 'machines.view', { type: 'machine', machineId: m.id, siteId: m.siteId, clientId: m.clientId });
  }

  if (target.kind === 'client_user' && site.clientId !== target.clientId) throw new Invalid('a client user may only get access to sites of their own client');
  if (input.resourceAccess === 'limited' && machineIds.length === 0) throw new Invalid('limited site access needs machineIds (at least one machine of the site)');
  if (input.resourceAccess === 'all' && machineIds.length) throw new Invalid("site access 'all' covers every machine of the site; do not list machineIds");
  const unknown = machineIds.filter((id) => !machines.some((m) => m.id === id));
  if (unknown.length) throw new Invalid(`unknown machine${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`);
  const elsewhere = machines.filter((m) => m.siteId !== siteId);
  if (elsewhere.length) throw new Invalid(`machine${elsewhere.length > 1 ? 's' : ''} ${elsewhere.map((m) => m.id).join(', ')} not in this site`);

  await ctx.db.transaction(async (tx) => {
    const before = await store.findSiteAccess(tx, userId, siteId);
    await store.putSiteAccess(tx, { userId, siteId, resourceAccess: input.resourceAccess, grantedBy: actor.userId, machineIds });
    const after = await store.findSiteAccess(tx, userId, siteId);
    await ctx.audit.record(tx, auditOf(actor, 'user.site_access.put', 'user', userId, { siteId, clientId: site.clientId, before: siteFacts(before), after: siteFacts(after) }));
  });
  return (await store.findSiteAccess(ctx.db, userId, siteId))!;
}

export async function deleteSiteAccess(ctx: AppContext, actor: Actor, userId: string, siteId: string) {
  await demandManageableUser(ctx, actor, userId, "change this user's site access");
  const site = await findSite(ctx.db, siteId);
  if (!site) throw new NotFound('site not found');
  await demand(ctx, actor, 'users.manage', { type: 'site', siteId, clientId: site.clientId });
  await ctx.db.transaction(async (tx) => {
    const before = await store.findSiteAccess(tx, userId, siteId);
    if (!before || !(await store.deleteSiteAccess(tx, userId, siteId))) throw new NotFound('the user has no access to this site');
    await ctx.audit.record(tx, auditOf(actor, 'user.site_access.delete', 'user', userId, { siteId, clientId: site.clientId, before: siteFacts(before), after: null }));
  });
}

export async function putClientAccess(ctx: AppContext, actor: Actor, userId: string, clientId: string) {
  const target = await demandManageableUser(ctx, actor, userId, "change this user's client access");
  if (target.kind !== 'technician') throw new Invalid("client access is for technicians; a client user belongs to their client and is given site access");
  if (!(await findClient(ctx.db, clientId))) throw new NotFound('client not found');
  await demandClientReach(ctx, actor, clientId);
  await ctx.db.transaction(async (tx) => {
    const before = await store.findClientAccess(tx, userId, clientId);
    await store.insertClientAccess(tx, { userId, clientId, grantedBy: actor.userId });
    const after = await store.findClientAccess(tx, userId, clientId);
    await ctx.audit.record(tx, auditOf(actor, 'user.client_access.put', 'user', userId, { clientId, before, after }));
  });
  return (await store.findClientAccess(ctx.db, userId, clientId))!;
}

export async function deleteClientAccess(ctx: AppContext, actor: Actor, userId: string, clientId: string) {
  const target = await demandManageableUser(ctx, actor, userId, "change this user's client access");
  if (target.kind !== 'technician') throw new Invalid('client access is for technicians; a client user has none to remove');
  if (!(await findClient(ctx.db, clientId))) throw new NotFound('client not found');
  await demandClientReach(ctx, actor, clientId);
  await ctx.db.transaction(async (tx) => {
    const before = await store.findClientAccess(tx, userId, clientId);
    if (!before || !(await store.deleteClientAccess(tx, userId, clientId))) throw new NotFound('the user has no access to this client');
    await ctx.audit.record(tx, auditOf(actor, 'user.client_access.delete', 'user', userId, { clientId, before, after: null }));
  });
}

/** The actor reaches the whole client: the authorizer allows a client only to a global actor or one with client access to it. */
async function demandClientReach(ctx: AppContext, actor: Actor, clientId: string) {
  await demand(ctx, actor, 'machines.view', { type: 'client', clientId });
}

type SiteGrant = Awaited<ReturnType<typeof store.findSiteAccess>>;
const siteFacts = (grant: SiteGrant) => grant && { resourceAccess: grant.resourceAccess, machineIds: grant.machines.map((m) => m.id) };
