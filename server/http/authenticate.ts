import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Actor } from '../access/actor.ts';
import { authorize, type Resource } from '../access/authorizer.ts';
import type { Permission } from '../access/permissions.ts';
import { authenticateToken } from '../auth/auth-service.ts';
import type { AppContext } from '../context.ts';
import { Forbidden, Unauthenticated } from '../errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor | null;
  }
}

/**
 * Resolves `Authorization: Bearer …` on every request, before the body is parsed or validated (an anonymous caller
 * learns nothing about a route's schema); routes then demand an actor and ask the authorizer.
 */
export function installAuthentication(app: FastifyInstance, ctx: AppContext): void {
  app.decorateRequest('actor', null);
  app.addHook('onRequest', async (request) => {
    const header = request.headers.authorization;
    if (!header) return;
    const match = /^Bearer ([^\s]+)$/i.exec(header);
    if (!match) throw new Unauthenticated('Authorization header must be "Bearer <token>"');
    request.actor = await authenticateToken(ctx, match[1], request.ip);
    if (!request.actor) throw new Unauthenticated('token is invalid, expired or revoked');
  });
}

export function requireActor(request: FastifyRequest): Actor {
  if (!request.actor) throw new Unauthenticated();
  return request.actor;
}

/**
 * Asks the one authorizer; on deny, audits the refusal and throws Forbidden with the reason. Services call this as
 * their first statement.
 */
export async function demand(ctx: AppContext, actor: Actor, action: Permission, resource: Resource): Promise<void> {
  const decision = authorize(actor, action, resource);
  if (decision.allowed) return;
  await ctx.audit.record(ctx.db, {
    actorType: 'user',
    actorId: actor.userId,
    action: `access.denied`,
    outcome: 'failure',
    targetType: resource.type,
    targetId: 'machineId' in resource ? resource.machineId : 'siteId' in resource ? resource.siteId : null,
    address: actor.address,
    details: { permission: action, reason: decision.reason },
  });
  throw new Forbidden(decision.reason);
}
