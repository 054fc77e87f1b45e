import type { Actor } from '../access/actor.ts';
import { demand } from '../access/demand.ts';
import { auditOf } from '../audit/audit-event.ts';
import type { AppContext } from '../context.ts';
import { NotFound } from '../errors.ts';
import { findSite } from '../tenancy/tenancy-store.ts';
import { saveSessionPolicy, sessionPolicyOf, type SessionPolicy } from './session-policy-store.ts';

/** Reading a site's session policy needs sight of the site; changing it is site administration (`tenancy.manage`). */
async function siteFor(ctx: AppContext, actor: Actor, siteId: string, permission: 'machines.view' | 'tenancy.manage') {
  const site = await findSite(ctx.db, siteId);
  if (!site) {
    await demand(ctx, actor, permission, { type: 'collection', of: 'sites' });
    throw new NotFound('site not found');
  }
  await demand(ctx, actor, permission, { type: 'site', siteId, clientId: site.clientId });
  return site;
}

export async function getSessionPolicy(ctx: AppContext, actor: Actor, siteId: string) {
  await siteFor(ctx, actor, siteId, 'machines.view');
  return sessionPolicyOf(ctx.db, siteId);
}

export async function putSessionPolicy(ctx: AppContext, actor: Actor, siteId: string, policy: SessionPolicy) {
  await siteFor(ctx, actor, siteId, 'tenancy.manage');
  await ctx.db.transaction(async (tx) => {
    const before = await sessionPolicyOf(tx, siteId);
    await saveSessionPolicy(tx, siteId, policy, actor.userId);
    const { updatedAt: _at, ...previous } = before;
    await ctx.audit.record(tx, auditOf(actor, 'site.session_policy', 'site', siteId, { before: previous, after: policy }));
  });
  return sessionPolicyOf(ctx.db, siteId);
}
