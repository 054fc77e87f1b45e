import type { Actor } from './actor.ts';
import type { Permission } from './permissions.ts';

/**
 * The one authorizer. Every route and gateway decision asks `authorize(actor, action, resource)`; nothing else
 * decides allow or deny. Deny by default; every decision carries a reason (for the audit log and the error).
 *
 * Today the scope part is global (tenancy-wide permissions); site access, assignments and the remote-control switch
 * join here with the access model, without changing callers.
 */
export type Resource =
  | { type: 'installation' }
  | { type: 'client'; clientId?: string }
  | { type: 'site'; siteId: string; clientId: string }
  | { type: 'machine'; machineId: string; siteId: string; clientId: string }
  | { type: 'audit' };

export interface Decision {
  allowed: boolean;
  reason: string;
}

export function authorize(actor: Actor | null, action: Permission, resource: Resource): Decision {
  if (!actor) return { allowed: false, reason: 'not authenticated' };
  if (!actor.permissions.has(action)) {
    return { allowed: false, reason: `role '${actor.role}' lacks permission ${action} on ${resource.type}` };
  }
  return { allowed: true, reason: `role '${actor.role}' grants ${action}` };
}
