import { effectivePermissions, type Actor } from '../access/actor.ts';
import { authorize } from '../access/authorizer.ts';
import { demand } from '../access/demand.ts';
import { assertHoldsPermissions } from '../access/escalation.ts';
import type { Permission } from '../access/permissions.ts';
import type { AppContext } from '../context.ts';
import { Forbidden, NotFound } from '../errors.ts';
import { findSite } from '../tenancy/tenancy-store.ts';
import * as store from './api-token-store.ts';
import { insertAuthToken } from './auth-store.ts';
import { newBearerToken } from './bearer-token.ts';

export interface NewApiToken {
  name: string;
  expiresInDays: number;
  /** Defaults to everything the creator holds now (a snapshot: the token never grows with the role). */
  permissions?: Permission[];
  /** Confines the token to these sites; each must be one the creator reaches. */
  siteIds?: string[];
}

/**
 * Named, expiring, revocable API tokens, scoped to at most what the creator holds: the requested permissions must
 * all be the creator's, the sites must be in the creator's reach, and at every use the token's scope is intersected
 * with the user's current role, so it shrinks when the user's rights do. Tokens cannot mint tokens.
 */
export async function createApiToken(ctx: AppContext, actor: Actor, input: NewApiToken) {
  await demand(ctx, actor, 'self.tokens', { type: 'self' });
  const permissions = input.permissions ? [...new Set(input.permissions)] : [...effectivePermissions(actor)];
  assertHoldsPermissions(actor, permissions, 'create this API token');
  const siteIds = input.siteIds ? [...new Set(input.siteIds)] : null;
  for (const siteId of siteIds ?? []) {
    const site = await findSite(ctx.db, siteId);
    const decision = site ? authorize(actor, 'machines.view', { type: 'site', siteId, clientId: site.clientId }) : { allowed: false, reason: 'no such site' };
    if (!decision.allowed) throw new Forbidden(`cannot scope an API token to site ${siteId}: ${decision.reason}`);
  }
  const { token, tokenHash } = newBearerToken();
  const expiresAt = new Date(Date.now() + input.expiresInDays * 86_400_000);
  const row = await ctx.db.transaction(async (tx) => {
    const inserted = await insertAuthToken(tx, {
      userId: actor.userId,
      tokenHash,
      kind: 'api',
      name: input.name.trim(),
      permissions,
      siteIds,
      expiresAt,
      createdFrom: actor.address,
      mfaVerifiedAt: actor.token.mfaVerified ? new Date() : null,
    });
    await ctx.audit.record(tx, {
      actorType: 'user',
      actorId: actor.userId,
      action: 'api_token.create',
      outcome: 'success',
      targetType: 'auth_token',
      targetId: inserted.id,
      address: actor.address,
      details: { name: input.name.trim(), permissions, siteIds, expiresAt: expiresAt.toISOString() },
    });
    return inserted;
  });
  return { id: row.id, token, name: input.name.trim(), permissions, siteIds, expiresAt };
}

export async function listApiTokens(ctx: AppContext, actor: Actor) {
  await demand(ctx, actor, 'self.tokens', { type: 'self' });
  return store.listApiTokens(ctx.db, actor.userId);
}

export async function revokeApiToken(ctx: AppContext, actor: Actor, tokenId: string) {
  await demand(ctx, actor, 'self.tokens', { type: 'self' });
  if (!(await store.findApiToken(ctx.db, actor.userId, tokenId))) throw new NotFound('API token not found');
  await ctx.db.transaction(async (tx) => {
    await store.revokeApiToken(tx, tokenId);
    await ctx.audit.record(tx, {
      actorType: 'user',
      actorId: actor.userId,
      action: 'api_token.revoke',
      outcome: 'success',
      targetType: 'auth_token',
      targetId: tokenId,
      address: actor.address,
    });
  });
}
