import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import type { Queryable } from '../db/open.ts';
import { assignments, authTokens, clientAccess, clients, roles, siteAccess, siteAccessMachines, users } from '../db/schema.ts';
import type { Actor, Grants, TokenKind, UserKind } from './actor.ts';
import { isPermission, type AssignmentRight, type Permission } from './permissions.ts';
import type { RoleScope } from './roles.ts';

const toPermissions = (list: readonly string[]): ReadonlySet<Permission> => new Set(list.filter(isPermission));

/** The live token, its enabled user, role and MFA policy; null when unknown, expired, revoked or the user is disabled. */
export async function findTokenHolder(q: Queryable, tokenHash: string) {
  const [row] = await q
    .select({
      tokenId: authTokens.id,
      tokenKind: authTokens.kind,
      tokenPermissions: authTokens.permissions,
      tokenSiteIds: authTokens.siteIds,
      tokenMfaVerifiedAt: authTokens.mfaVerifiedAt,
      userId: users.id,
      email: users.email,
      name: users.name,
      userKind: users.kind,
      clientId: users.clientId,
      allowRemoteControl: users.allowRemoteControl,
      mfaEnabledAt: users.mfaEnabledAt,
      roleId: roles.id,
      roleName: roles.name,
      roleScope: roles.scope,
      rolePermissions: roles.permissions,
      roleRequiresMfa: roles.requireMfa,
      clientRequiresMfa: clients.requireMfa,
    })
    .from(authTokens)
    .innerJoin(users, eq(users.id, authTokens.userId))
    .innerJoin(roles, eq(roles.id, users.role))
    .leftJoin(clients, eq(clients.id, users.clientId))
    .where(and(eq(authTokens.tokenHash, tokenHash), isNull(authTokens.revokedAt), gt(authTokens.expiresAt, sql`now()`), isNull(users.disabledAt)));
  return row ?? null;
}

/** Everything granted to one user beyond their role. Expired assignments are included so denials can say why. */
export async function loadGrants(q: Queryable, userId: string): Promise<Grants> {
  const clientRows = await q.select({ clientId: clientAccess.clientId }).from(clientAccess).where(eq(clientAccess.userId, userId));
  const siteRows = await q
    .select({ siteId: siteAccess.siteId, access: siteAccess.resourceAccess, machineId: siteAccessMachines.machineId })
    .from(siteAccess)
    .leftJoin(siteAccessMachines, eq(siteAccessMachines.siteAccessId, siteAccess.id))
    .where(eq(siteAccess.userId, userId));
  const assignmentRows = await q
    .select({ machineId: assignments.machineId, rights: assignments.rights, expiresAt: assignments.expiresAt })
    .from(assignments)
    .where(eq(assignments.userId, userId));

  const sites = new Map<string, { access: 'all' | 'limited'; machineIds: Set<string> }>();
  for (const row of siteRows) {
    const entry = sites.get(row.siteId) ?? { access: row.access === 'all' ? 'all' : 'limited', machineIds: new Set<string>() };
    if (row.machineId) entry.machineIds.add(row.machineId);
    sites.set(row.siteId, entry);
  }
  return {
    clientIds: new Set(clientRows.map((r) => r.clientId)),
    sites,
    assignments: new Map(assignmentRows.map((r) => [r.machineId, { rights: r.rights as AssignmentRight[], expiresAt: r.expiresAt }])),
  };
}

type Holder = NonNullable<Awaited<ReturnType<typeof findTokenHolder>>>;

export function actorOf(holder: Holder, grants: Grants, address: string): Actor {
  const mfaRequired = Boolean(holder.mfaEnabledAt) || holder.roleRequiresMfa || (holder.userKind === 'client_user' && Boolean(holder.clientRequiresMfa));
  return {
    kind: 'user',
    userId: holder.userId,
    email: holder.email,
    name: holder.name,
    userKind: holder.userKind as UserKind,
    clientId: holder.clientId,
    role: { id: holder.roleId, name: holder.roleName, scope: holder.roleScope as RoleScope, permissions: toPermissions(holder.rolePermissions) },
    allowRemoteControl: holder.allowRemoteControl,
    disabled: false,
    token: {
      id: holder.tokenId,
      kind: holder.tokenKind as TokenKind,
      permissions: holder.tokenPermissions ? toPermissions(holder.tokenPermissions) : null,
      siteIds: holder.tokenSiteIds ? new Set(holder.tokenSiteIds) : null,
      mfaVerified: Boolean(holder.tokenMfaVerifiedAt),
    },
    mfa: { enabled: Boolean(holder.mfaEnabledAt), required: mfaRequired },
    grants,
    address,
  };
}
