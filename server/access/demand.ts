import type { AppContext } from '../context.ts';
import { Forbidden } from '../errors.ts';
import type { Actor } from './actor.ts';
import { authorize, type Action, type Resource } from './authorizer.ts';

/**
 * Asks the one authorizer; on deny, audits the refusal and throws Forbidden with the reason. Services call this as
 * their first statement.
 */
export async function demand(ctx: AppContext, actor: Actor, action: Action, resource: Resource): Promise<void> {
  const decision = authorize(actor, action, resource);
  if (decision.allowed) return;
  await auditDenial(ctx, actor, action, resource, decision.reason);
  throw new Forbidden(decision.reason);
}

/**
 * Runs a grant check (server/access/escalation.ts: nobody grants more than they hold). A refusal is audited and
 * thrown exactly like a refusal by demand().
 */
export async function demandNoEscalation(ctx: AppContext, actor: Actor, resource: Resource, what: string, check: () => void): Promise<void> {
  try {
    check();
  } catch (error) {
    if (!(error instanceof Forbidden)) throw error;
    await auditDenial(ctx, actor, what, resource, error.message);
    throw error;
  }
}

/** The audit row of every refusal: who, what they tried, on what, and the authorizer's reason. */
export async function auditDenial(ctx: AppContext, actor: Actor, action: string, resource: Resource, reason: string, extra: Record<string, unknown> = {}): Promise<void> {
  await ctx.audit.record(ctx.db, {
    actorType: 'user',
    actorId: actor.userId,
    action: 'access.denied',
    outcome: 'failure',
    targetType: resource.type,
    targetId: targetIdOf(resource),
    address: actor.address,
    details: { action, reason, ...extra },
  });
}

/** Keeps the items the actor may act on (list filtering: refusals here are not audited, they are just not shown). */
export function visible<T>(actor: Actor, action: Action, items: readonly T[], resourceOf: (item: T) => Resource): T[] {
  const now = new Date();
  return items.filter((item) => authorize(actor, action, resourceOf(item), now).allowed);
}

export function targetIdOf(resource: Resource): string | null {
  switch (resource.type) {
    case 'machine':
      return resource.machineId;
    case 'site':
      return resource.siteId;
    case 'client':
      return resource.clientId;
    case 'user':
      return resource.userId;
    case 'collection':
      return resource.of;
    default:
      return null;
  }
}
