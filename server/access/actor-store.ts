import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import { mfaRequired } from '../auth/mfa-policy.ts';
import type { Queryable } from '../db/open.ts';
import { assignments, authTokens, clientAccess, clients, roles, siteAccess, siteAccessMachines, users } from '../db/schema.ts';
import type { Actor, Grants, TokenKind, UserKind } from './actor.ts';
import { isPermission, type AssignmentRight, type Permission } from './permissions.ts';
import type { RoleScope } from './roles.ts';

const toPermissions = (list: readonly string[]): ReadonlySet<Permission> => new Set(list.filter(isPermission));

/**
 * The queries behind every authenticated request, prepared once per database handle: building a drizzle query costs
 * more than running these small ones (measured with test/bench/authz.ts).
 */
const preparedByDb = new WeakMap<object, Map<string, unknown>>();
function prepared<T>(q: Queryable, name: string, build: () => T): T {
  let statements = preparedByDb.get(q);
  if (!statements) preparedByDb.set(q, (statements = new Map()));
  if (!statements.has(name)) statements.set(name, build());
  return statements.get(name) as T;
}

/** The user, role and client columns an actor is built from (users joined to roles, left-joined to clients). */
const userColumns = {
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
};

/** The columns and joins behind an actor: token, enabled user, role, and the MFA policy of role and client. */
function holderSelect(q: Queryable) {
  return q
    .select({
      tokenId: authTokens.id,
      tokenKind: authTokens.kind,
      tokenPermissions: authTokens.permissions,
      tokenSiteIds: authTokens.siteIds,
      tokenMfaVerifiedAt: authTokens.mfaVerifiedAt,
      tokenLastUsedAt: authTokens.lastUsedAt,
      ...userColumns,
    })
    .from(authTokens)
    .innerJoin(users, eq(users.id, authTokens.userId))
    .innerJoin(roles, eq(roles.id, users.role))
    .leftJoin(clients, eq(clients.id, users.clientId));
}

const live = () => and(isNull(authTokens.revokedAt), gt(authTokens.expiresAt, sql`now()`), isNull(users.disabledAt));

/** The live token, its enabled user, role and MFA policy; null when unknown, expired, revoked or the user is disabled. */
export async function findTokenHolder(q: Queryable, tokenHash: string) {
  const statement = prepared(q, 'steward_find_token_holder', () =>
    holderSelect(q).where(and(eq(authTokens.tokenHash, sql.placeholder('tokenHash')), live())).prepare('steward_find_token_holder'),
  );
  const [row] = await statement.execute({ tokenHash });
  return row ?? null;
}

/** The same by token id: re-authorizing someone already connected (a session participant) without their secret. */
export async function findTokenHolderById(q: Queryable, tokenId: string) {
  const statement = prepared(q, 'steward_find_token_holder_by_id', () =>
    holderSelect(q).where(and(eq(authTokens.id, sql.placeholder('tokenId')), live())).prepare('steward_find_token_holder_by_id'),
  );
  const [row] = await statement.execute({ tokenId });
  return row ?? null;
}

/** Everything granted to one user beyond their role. Expired assignments are included so denials can say why. */
export async function loadGrants(q: Queryable, userId: string): Promise<Grants> {
  const user = sql.placeholder('userId');
  const [clientRows, siteRows, assignmentRows] = await Promise.all([
    prepared(q, 'steward_client_access', () =>
      q.select({ clientId: clientAccess.clientId }).from(clientAccess).where(eq(clientAccess.userId, user)).prepare('steward_client_access'),
    ).execute({ userId }),
    prepared(q, 'steward_site_access', () =>
      q
        .select({ siteId: siteAccess.siteId, access: siteAccess.resourceAccess, machineId: siteAccessMachines.machineId })
        .from(siteAccess)
        .leftJoin(siteAccessMachines, eq(siteAccessMachines.siteAccessId, siteAccess.id))
        .where(eq(siteAccess.userId, user))
        .prepare('steward_site_access'),
    ).execute({ userId }),
    prepared(q, 'steward_assignments', () =>
      q
        .select({ machineId: assignments.machineId, rights: assignments.rights, expiresAt: assignments.expiresAt })
        .from(assignments)
        .where(eq(assignments.userId, user))
        .prepare('steward_assignments'),
    ).execute({ userId }),
  ]);
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
      mfaVerifiedAt: holder.tokenMfaVerifiedAt,
    },
    mfa: { enabled: Boolean(holder.mfaEnabledAt), required: mfaRequired(holder) },
    grants,
    address,
  };
}

/**
 * A user's standing access, with no sign-in behind it: what the background checks ask about someone who is not
 * making a request (a revealer of a password who may since have lost access). A disabled user is returned disabled,
 * so every decision denies; null when the user is gone.
 */
export async function standingActor(q: Queryable, userId: string): Promise<Actor | null> {
  const [row] = await q
    .select({ ...userColumns, disabledAt: users.disabledAt })
    .from(users)
    .innerJoin(roles, eq(roles.id, users.role))
    .leftJoin(clients, eq(clients.id, users.clientId))
    .where(eq(users.id, userId));
  if (!row) return null;
  const now = new Date();
  const holder = { ...row, tokenId: 'standing', tokenKind: 'login', tokenPermissions: null, tokenSiteIds: null, tokenMfaVerifiedAt: now, tokenLastUsedAt: now };
  return { ...actorOf(holder, await loadGrants(q, userId), 'standing-access-check'), disabled: row.disabledAt !== null };
}
