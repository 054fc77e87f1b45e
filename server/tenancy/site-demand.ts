import type { Actor } from '../access/actor.ts';
import { demand } from '../access/demand.ts';
import type { Permission } from '../access/permissions.ts';
import type { AppContext } from '../context.ts';
import { NotFound } from '../errors.ts';
import { findSite } from './tenancy-store.ts';

/**
 * The site, once the authorizer granted `permission` on it. An unknown id is 404 only to callers who hold the
 * permission on some site; to anyone else it is the same 403 as a site they may not touch.
 */
export async function demandSite(ctx: AppContext, actor: Actor, siteId: string, permission: Permission) {
  const site = await findSite(ctx.db, siteId);
  if (!site) {
    await demand(ctx, actor, permission, { type: 'collection', of: 'sites' });
    throw new NotFound('site not found');
  }
  await demand(ctx, actor, permission, { type: 'site', siteId, clientId: site.clientId });
  return site;
}
