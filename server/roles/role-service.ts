import type { Actor } from '../access/actor.ts';
import { authorize } from '../access/authorizer.ts';
import { demand, demandNoEscalation } from '../access/demand.ts';
import { assertCanGrantRole } from '../access/escalation.ts';
import { isPermission, PERMISSIONS, type Permission } from '../access/permissions.ts';
import type { RoleScope } from '../access/roles.ts';
import type { AppContext } from '../context.ts';
import { sqlState, UNIQUE_VIOLATION, type Queryable } from '../db/open.ts';
import { Conflict, Invalid, NotFound } from '../errors.ts';
import { auditOf } from '../audit/audit-event.ts';
import * as store from './role-store.ts';

/**
 * Roles: the five built-ins and custom ones. A custom role's id is a slug made from its name when it is created
 * (`Help Desk` → `help_desk`, with `_2`, `_3`… when taken) so CSV imports and scripts can name it readably; the id
 * never changes afterwards, even when the role is renamed. Defining or changing a role needs `roles.manage`
 * installation-wide, and nobody defines a role holding more than they hold themselves.
 */
const FOREIGN_KEY_VIOLATION = '23503';

/** True when the actor could hand this role out (used to mark roles in lists; decisions still go through demand). */
function grantable(actor: Actor, role: { name: string; permissions: readonly string[]; scope: string }): boolean {
  try {
    assertCanGrantRole(actor, role, 'grant');
    return true;
  } catch {
    return false;
  }
}

/** Readable to whoever manages users (they pick roles) or roles. */
export async function listRoles(ctx: AppContext, actor: Actor) {
  const collection = { type: 'collection', of: 'roles' } as const;
  if (!authorize(actor, 'roles.manage', collection).allowed) await demand(ctx, actor, 'users.manage', collection);
  return (await store.listRoles(ctx.db)).map((role) => ({ ...role, grantable: grantable(actor, role) }));
}

export async function getRole(ctx: AppContext, actor: Actor, roleId: string) {
  const role = (await listRoles(ctx, actor)).find((r) => r.id === roleId);
  if (!role) throw new NotFound('role not found');
  return role;
}

export interface RoleInput {
  name: string;
  description?: string;
  permissions: string[];
  scope: RoleScope;
  requireMfa?: boolean;
}

export async function createRole(ctx: AppContext, actor: Actor, input: RoleInput) {
  const resource = { type: 'installation' } as const;
  await demand(ctx, actor, 'roles.manage', resource);
  const definition = { name: input.name.trim(), permissions: knownPermissions(input.permissions), scope: input.scope };
  await demandNoEscalation(ctx, actor, resource, 'role.create', () => assertCanGrantRole(actor, definition, 'create this role'));
  const created = await uniqueViolationAsConflict(definition.name, () =>
    ctx.db.transaction(async (tx) => {
      const role = await store.insertRole(tx, {
        ...definition,
        id: await freeRoleId(tx, definition.name),
        description: input.description?.trim() ?? '',
        requireMfa: input.requireMfa ?? false,
        createdBy: actor.userId,
      });
      await ctx.audit.record(tx, auditOf(actor, 'role.create', 'role', role.id, { after: roleFacts(role) }));
      return role;
    }),
  );
  return getRole(ctx, actor, created.id);
}

/** Built-in roles keep their name, permissions and scope (they are synced from code); only requireMfa may change. */
export async function updateRole(ctx: AppContext, actor: Actor, roleId: string, changes: Partial<RoleInput>) {
  const resource = { type: 'installation' } as const;
  await demand(ctx, actor, 'roles.manage', resource);
  const role = await store.findRole(ctx.db, roleId);
  if (!role) throw new NotFound('role not found');
  if (role.builtIn) {
    const fixed = Object.keys(changes).filter((key) => key !== 'requireMfa');
    if (fixed.length) throw new Conflict(`built-in role '${role.name}' is fixed: only requireMfa may change (not ${fixed.join(', ')})`);
  }
  const next = {
    name: changes.name?.trim() ?? role.name,
    permissions: changes.permissions ? knownPermissions(changes.permissions) : role.permissions,
    scope: changes.scope ?? role.scope,
  };
  // Both the role as it is and as it would be must be within the actor's own rights.
  await demandNoEscalation(ctx, actor, resource, 'role.update', () => {
    assertCanGrantRole(actor, role, 'change this role');
    assertCanGrantRole(actor, next, 'change this role');
  });
  const patch = {
    ...(changes.name !== undefined ? { name: next.name } : {}),
    ...(changes.description !== undefined ? { description: changes.description.trim() } : {}),
    ...(changes.permissions !== undefined ? { permissions: next.permissions } : {}),
    ...(changes.scope !== undefined ? { scope: next.scope } : {}),
    ...(changes.requireMfa !== undefined ? { requireMfa: changes.requireMfa } : {}),
  };
  await uniqueViolationAsConflict(next.name, () =>
    ctx.db.transaction(async (tx) => {
      // Client users hold only roles that are not global; a role they hold cannot become global under them.
      const contacts = next.scope === 'global' && role.scope !== 'global' ? await store.holderCount(tx, roleId, 'client_user') : 0;
      if (contacts > 0) throw new Conflict(`role '${role.name}' is held by ${contacts} client user${contacts === 1 ? '' : 's'}, who cannot hold a global role`);
      const updated = await store.updateRole(tx, roleId, patch);
      if (!updated) throw new NotFound('role not found');
      await ctx.audit.record(tx, auditOf(actor, 'role.update', 'role', roleId, { before: roleFacts(role), after: roleFacts(updated) }));
    }),
  );
  return getRole(ctx, actor, roleId);
}

export async function deleteRole(ctx: AppContext, actor: Actor, roleId: string) {
  const resource = { type: 'installation' } as const;
  await demand(ctx, actor, 'roles.manage', resource);
  const role = await store.findRole(ctx.db, roleId);
  if (!role) throw new NotFound('role not found');
  if (role.builtIn) throw new Conflict(`built-in role '${role.name}' cannot be deleted`);
  await demandNoEscalation(ctx, actor, resource, 'role.delete', () => assertCanGrantRole(actor, role, 'delete this role'));
  const inUse = (n: number) => new Conflict(`role '${role.name}' is held by ${n} user${n === 1 ? '' : 's'}; give them another role first`);
  try {
    await ctx.db.transaction(async (tx) => {
      const holders = await store.holderCount(tx, roleId);
      if (holders > 0) throw inUse(holders);
      await store.deleteRole(tx, roleId);
      await ctx.audit.record(tx, auditOf(actor, 'role.delete', 'role', roleId, { before: roleFacts(role) }));
    });
  } catch (error) {
    // A user given the role between the count and the delete: the foreign key refuses, and so do we.
    if (sqlState(error) === FOREIGN_KEY_VIOLATION) throw inUse(await store.holderCount(ctx.db, roleId));
    throw error;
  }
}

/** Looks a role up by id (or, for CSV convenience, by name); null when unknown. */
export async function findRoleForGrant(q: Queryable, idOrName: string): Promise<store.RoleRow | null> {
  return (await store.findRole(q, idOrName)) ?? (await store.findRoleByName(q, idOrName));
}

function knownPermissions(list: readonly string[]): Permission[] {
  const unknown = list.filter((p) => !isPermission(p));
  if (unknown.length) throw new Invalid(`unknown permission${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; known: ${PERMISSIONS.join(', ')}`);
  return [...new Set(list as Permission[])].sort((a, b) => PERMISSIONS.indexOf(a) - PERMISSIONS.indexOf(b));
}

export function slugOf(name: string): string {
  const slug = name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 48);
  return slug || 'role';
}

async function freeRoleId(q: Queryable, name: string): Promise<string> {
  const base = slugOf(name);
  for (let n = 1; ; n++) {
    const id = n === 1 ? base : `${base}_${n}`;
    if (!(await store.roleIdTaken(q, id))) return id;
  }
}

async function uniqueViolationAsConflict<T>(name: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (sqlState(error) === UNIQUE_VIOLATION) throw new Conflict(`a role named '${name}' already exists`);
    throw error;
  }
}

const roleFacts = (role: { name: string; description: string; permissions: string[]; scope: string; requireMfa: boolean }) => ({
  name: role.name,
  description: role.description,
  permissions: role.permissions,
  scope: role.scope,
  requireMfa: role.requireMfa,
});
