import { effectivePermissions, type Actor } from './actor.ts';
import { type Permission } from './permissions.ts';
import { scopeRank, type RoleScope } from './roles.ts';
import { Forbidden } from '../errors.ts';

/**
 * "Nobody can grant or mint more than they hold" (the SimpleHelp lesson): the checks every grant goes through —
 * giving a user a role, defining a role, minting an API token, acting on a more powerful user.
 */
export function assertHoldsPermissions(actor: Actor, permissions: Iterable<Permission>, what: string): void {
  const held = effectivePermissions(actor);
  const missing = [...permissions].filter((p) => !held.has(p));
  if (missing.length) throw new Forbidden(`cannot ${what}: you do not hold ${missing.join(', ')}`);
}

export function assertScopeAtMost(actor: Actor, scope: RoleScope, what: string): void {
  const own = actor.userKind === 'technician' ? actor.role.scope : 'assigned';
  if (scopeRank(scope) > scopeRank(own)) throw new Forbidden(`cannot ${what}: scope '${scope}' is wider than your own ('${own}')`);
}

/** Granting (or acting on a holder of) a role needs every permission of the role and at least its scope. */
export function assertCanGrantRole(actor: Actor, role: { name: string; permissions: readonly string[]; scope: string }, what: string): void {
  assertHoldsPermissions(actor, role.permissions as Permission[], `${what} (role '${role.name}')`);
  assertScopeAtMost(actor, role.scope as RoleScope, `${what} (role '${role.name}')`);
}

/**
 * Allow Remote Control Access gates every session permission; switching it on for someone is a grant like any
 * other, so only an actor whose own switch is on may do it (an admin kept out of sessions cannot mint a sock puppet).
 */
export function assertCanGrantRemoteControl(actor: Actor, what: string): void {
  if (!actor.allowRemoteControl) throw new Forbidden(`cannot ${what}: your own Allow Remote Control Access is off`);
}
