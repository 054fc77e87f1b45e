import type { Actor } from './actor.ts';
import { SESSION_PERMISSIONS, type AssignmentRight, type Permission } from './permissions.ts';

/**
 * The one authorizer. Every route, gateway and report asks `authorize(actor, action, resource)`; nothing else decides
 * allow or deny. Deny by default; every decision carries a reason (for the audit log and the error message).
 *
 * A decision combines, in this order: the actor is signed in and enabled; MFA is satisfied when required; the role
 * (narrowed by an API token) holds the permission; session permissions need Allow Remote Control Access; and the
 * resource is inside the actor's scope (global role, client access, site access all/limited, live assignment with
 * the right session rights, own client for client users, an API token's site list). Pure and synchronous: the actor
 * carries its grants, loaded fresh for each request, so a change takes effect on the next request — no cache to
 * invalidate.
 */
export type SelfAction = 'self.view' | 'self.mfa' | 'self.manage' | 'self.tokens';
export type Action = Permission | SelfAction;

export type Resource =
  /** Installation-wide things: roles, the audit log, creating clients. */
  | { type: 'installation' }
  /** "May you list these at all?" Items are then filtered one by one with their own resource. */
  | { type: 'collection'; of: 'clients' | 'sites' | 'machines' | 'users' | 'assignments' | 'reports' | 'roles' }
  /** The actor's own account (profile, password, MFA, API tokens). */
  | { type: 'self' }
  | { type: 'client'; clientId: string }
  | { type: 'site'; siteId: string; clientId: string }
  | { type: 'machine'; machineId: string; siteId: string; clientId: string }
  | { type: 'user'; userId: string; userKind: 'technician' | 'client_user'; clientId: string | null };

export interface Decision {
  allowed: boolean;
  reason: string;
}

const allow = (reason: string): Decision => ({ allowed: true, reason });
const deny = (reason: string): Decision => ({ allowed: false, reason });

/** Which assignment rights open which permission on the assigned machine. */
const RIGHTS_FOR: Partial<Record<Permission, readonly AssignmentRight[]>> = {
  'machines.view': ['terminal', 'view_only', 'files'],
  'reports.view': ['terminal', 'view_only', 'files'],
  'sessions.join': ['terminal'],
  'sessions.view_only': ['terminal', 'view_only'],
  'sessions.files': ['files'],
};

/** What limited site access (listed machines only) opens at the site level: seeing the site, not managing it. */
const SITE_LEVEL_WITH_LIMITED: ReadonlySet<Action> = new Set(['machines.view', 'reports.view']);

export function authorize(actor: Actor | null, action: Action, resource: Resource, now: Date = new Date()): Decision {
  if (!actor) return deny('not authenticated');
  if (actor.disabled) return deny('user is disabled');
  if (resource.type === 'self' || action.startsWith('self.')) return authorizeSelf(actor, action, resource);
  if (actor.mfa.required && !actor.token.mfaVerified) {
    return deny('multi-factor authentication is required by policy; enroll or sign in with a code first');
  }
  const permission = action as Permission;
  if (!actor.role.permissions.has(permission)) return deny(`role '${actor.role.name}' lacks permission ${permission}`);
  if (actor.token.permissions && !actor.token.permissions.has(permission)) return deny(`this API token is not scoped to ${permission}`);
  if (SESSION_PERMISSIONS.has(permission) && !actor.allowRemoteControl) {
    return deny('Allow Remote Control Access is off for this user');
  }
  if (SESSION_PERMISSIONS.has(permission) && actor.mfa.required && !mfaIsFresh(actor, now)) {
    return deny(`remote sessions need a second factor given within the last ${FRESH_MFA_HOURS} h; sign in again with a code`);
  }
  if (permission === 'credentials.reveal' && !mfaIsFresh(actor, now, REVEAL_MFA_MINUTES * 60_000)) {
    return deny(`revealing a password needs a second factor given within the last ${REVEAL_MFA_MINUTES} minutes, whatever the MFA policy; send your authenticator code with the request`);
  }
  return authorizeScope(actor, permission, resource, now);
}

/** Where MFA is required, a session needs a second factor this recent (a long-lived API token's is not). */
export const FRESH_MFA_HOURS = 12;
/** Revealing an escrowed password always needs a second factor this recent (a step-up), MFA policy or not. */
export const REVEAL_MFA_MINUTES = 15;

function mfaIsFresh(actor: Actor, now: Date, withinMs = FRESH_MFA_HOURS * 3600_000): boolean {
  const at = actor.token.mfaVerifiedAt;
  return at !== null && now.getTime() - at.getTime() <= withinMs;
}

const SELF_ACTIONS: ReadonlySet<string> = new Set<SelfAction>(['self.view', 'self.mfa', 'self.manage', 'self.tokens']);

function authorizeSelf(actor: Actor, action: Action, resource: Resource): Decision {
  if (resource.type !== 'self' || !action.startsWith('self.')) return deny(`${action} does not apply to ${resource.type}`);
  if (!SELF_ACTIONS.has(action)) return deny(`unknown action ${action}`);
  // While MFA is owed, the account may only look at itself and set MFA up.
  if (action === 'self.view') return allow('own account');
  if (action !== 'self.mfa' && actor.mfa.required && !actor.token.mfaVerified) return deny('multi-factor authentication is required by policy; enroll first');
  // An API token is a delegated credential: it may read its account but never change it (password, MFA, tokens).
  if (actor.token.kind === 'api') return deny('an API token cannot change its own account (password, MFA, tokens); sign in to do it');
  return allow('own account');
}

function authorizeScope(actor: Actor, permission: Permission, resource: Resource, now: Date): Decision {
  const { scope } = actor.role;
  const global = scope === 'global' && actor.userKind === 'technician';
  const granted = `role '${actor.role.name}' grants ${permission}`;
  // A token narrowed to sites reaches those sites and their machines only: nothing installation-wide, no users.
  if (actor.token.siteIds && (resource.type === 'installation' || resource.type === 'user')) {
    return deny(`this API token is narrowed to sites; it cannot act on a ${resource.type}`);
  }
  switch (resource.type) {
    case 'collection':
      return allow(`${granted} (items filtered by scope)`);
    case 'installation':
      return global ? allow(`${granted} installation-wide`) : deny(`${permission} installation-wide needs a role with global scope`);
    case 'user':
      if (global) return allow(`${granted} for every user`);
      if (scope === 'granted' && actor.userKind === 'technician' && resource.userKind === 'client_user' && resource.clientId && actor.grants.clientIds.has(resource.clientId)) {
        return allow(`${granted} for client users of a client the user has client access to`);
      }
      return deny(`user is outside the scope of ${actor.email}`);
    case 'client':
      return clientDecision(actor, permission, resource.clientId, global, granted);
    case 'site':
      return siteDecision(actor, permission, resource, global, granted);
    case 'machine':
      return machineDecision(actor, permission, resource, global, granted, now);
    case 'self':
      return deny(`${permission} does not apply to an account itself`);
    default:
      return deny(`unknown resource type ${(resource as { type: unknown }).type}`);
  }
}

function clientDecision(actor: Actor, permission: Permission, clientId: string, global: boolean, granted: string): Decision {
  if (actor.userKind === 'client_user' && clientId !== actor.clientId) return deny('a client user reaches only their own client');
  if (actor.token.siteIds) return deny('this API token is narrowed to sites; it cannot act client-wide');
  if (global) return allow(`${granted} for every client`);
  if (actor.role.scope === 'granted' && actor.userKind === 'technician' && actor.grants.clientIds.has(clientId)) return allow(`${granted} through client access`);
  return deny(`no client access to client ${clientId}`);
}

function siteDecision(actor: Actor, permission: Permission, site: { siteId: string; clientId: string }, global: boolean, granted: string): Decision {
  if (actor.userKind === 'client_user' && site.clientId !== actor.clientId) return deny('a client user reaches only their own client');
  if (actor.token.siteIds && !actor.token.siteIds.has(site.siteId)) return deny('this API token is not scoped to this site');
  if (global) return allow(`${granted} for every site`);
  if (actor.role.scope === 'assigned') return deny(`role '${actor.role.name}' reaches assigned machines only`);
  if (actor.grants.clientIds.has(site.clientId) && actor.userKind === 'technician') return allow(`${granted} through client access`);
  const access = actor.grants.sites.get(site.siteId);
  if (access?.access === 'all') return allow(`${granted} through site access (all desktops and servers)`);
  if (access && SITE_LEVEL_WITH_LIMITED.has(permission)) return allow(`${granted} through limited site access`);
  if (access) return deny(`limited site access does not open ${permission} on the whole site`);
  return deny(`no access to site ${site.siteId}`);
}

function machineDecision(
  actor: Actor,
  permission: Permission,
  machine: { machineId: string; siteId: string; clientId: string },
  global: boolean,
  granted: string,
  now: Date,
): Decision {
  if (actor.userKind === 'client_user' && machine.clientId !== actor.clientId) return deny('a client user reaches only their own client');
  if (actor.token.siteIds && !actor.token.siteIds.has(machine.siteId)) return deny('this API token is not scoped to this site');
  if (global) return allow(`${granted} on every machine`);
  if (actor.role.scope === 'granted') {
    if (actor.userKind === 'technician' && actor.grants.clientIds.has(machine.clientId)) return allow(`${granted} through client access`);
    const access = actor.grants.sites.get(machine.siteId);
    if (access?.access === 'all') return allow(`${granted} through site access (all desktops and servers)`);
    if (access?.machineIds.has(machine.machineId)) return allow(`${granted} through limited site access`);
  }
  const assignment = actor.grants.assignments.get(machine.machineId);
  if (!assignment) {
    return deny(actor.role.scope === 'assigned' ? `machine is not assigned to ${actor.email}` : `no access to machine ${machine.machineId}`);
  }
  if (assignment.expiresAt && assignment.expiresAt.getTime() <= now.getTime()) {
    return deny(`assignment expired at ${assignment.expiresAt.toISOString()}`);
  }
  const opening = RIGHTS_FOR[permission];
  if (!opening) return deny(`an assignment does not grant ${permission}`);
  if (!opening.some((right) => assignment.rights.includes(right))) {
    return deny(`the assignment's rights (${assignment.rights.join(', ') || 'none'}) do not include ${opening.join(' or ')}`);
  }
  return allow(`${granted} through an assignment`);
}
