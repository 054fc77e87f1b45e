import type { Actor } from '../access/actor.ts';

/** The audit event of a successful change made by a signed-in user (the common case for services). */
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
