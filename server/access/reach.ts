import type { Actor } from './actor.ts';

/**
 * A coarse superset of the machines an actor can reach, for narrowing list queries in SQL before every row is put
 * through the authorizer (which alone decides). Null means "no narrowing" (a global role).
 */
export interface Reach {
  clientIds: string[];
  siteIds: string[];
  machineIds: string[];
}

export function reachOf(actor: Actor): Reach | null {
  if (actor.role.scope === 'global' && actor.userKind === 'technician') {
    return actor.token.siteIds ? { clientIds: [], siteIds: [...actor.token.siteIds], machineIds: [] } : null;
  }
  const { grants } = actor;
  return {
    clientIds: actor.role.scope === 'granted' && actor.userKind === 'technician' ? [...grants.clientIds] : [],
    siteIds: actor.role.scope === 'assigned' ? [] : [...grants.sites.keys()],
    machineIds: [...grants.assignments.keys(), ...[...grants.sites.values()].flatMap((s) => [...s.machineIds])],
  };
}
