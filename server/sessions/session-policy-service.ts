import type { Actor } from '../access/actor.ts';
import { auditOf } from '../audit/audit-event.ts';
import type { AppContext } from '../context.ts';
import { demandSite } from '../tenancy/site-demand.ts';
import { saveSessionPolicy, sessionPolicyOf, type SessionPolicy } from './session-policy-store.ts';

/** Reading a site's session policy needs sight of the site; changing it is site administration (`tenancy.manage`). */
export async function getSessionPolicy(ctx: AppContext, actor: Actor, siteId: string) {
  await demandSite(ctx, actor, siteId, 'machines.view');
  return sessionPolicyOf(ctx.db, siteId);
}

export async function putSessionPolicy(ctx: AppContext, actor: Actor, siteId: string, policy: SessionPolicy) {
  await demandSite(ctx, actor, siteId, 'tenancy.manage');
  await ctx.db.transaction(async (tx) => {
    const before = await sessionPolicyOf(tx, siteId);
    await saveSessionPolicy(tx, siteId, policy, actor.userId);
    const { updatedAt: _at, ...previous } = before;
    await ctx.audit.record(tx, auditOf(actor, 'site.session_policy', 'site', siteId, { before: previous, after: policy }));
  });
  return sessionPolicyOf(ctx.db, siteId);
}
