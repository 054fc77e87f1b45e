import { invalidateUserLinks } from '../auth/password-reset-store.ts';
import { effectivePermissions, type Actor } from '../access/actor.ts';
import { authorize } from '../access/authorizer.ts';
import { demand, visible } from '../access/demand.ts';
import { PERMISSIONS, type AssignmentRight, type Permission } from '../access/permissions.ts';
import { revokeUserTokens } from '../auth/auth-store.ts';
import { clearFailures, lockedForSeconds, recordFailure, throttleKey } from '../auth/login-throttle.ts';
import { hashPassword, verifyPassword } from '../auth/password.ts';
import type { AppContext } from '../context.ts';
import { Conflict, Invalid, TooManyRequests } from '../errors.ts';
import { machineResource } from '../machines/machine-service.ts';
import { auditOf } from '../audit/audit-event.ts';
import * as store from './me-store.ts';

/** The caller's own account: who they are, what they may do, their machines, their password. */
export async function me(ctx: AppContext, actor: Actor) {
  await demand(ctx, actor, 'self.view', { type: 'self' });
  const held = effectivePermissions(actor);
  return {
    id: actor.userId,
    email: actor.email,
    name: actor.name,
    kind: actor.userKind,
    clientId: actor.clientId,
    role: { id: actor.role.id, name: actor.role.name, scope: actor.role.scope },
    // Catalog order, so the list reads the same on every call.
    permissions: PERMISSIONS.filter((p) => held.has(p)),
    allowRemoteControl: actor.allowRemoteControl,
    mfa: { enabled: actor.mfa.enabled, required: actor.mfa.required, verified: actor.token.mfaVerified },
    token: { id: actor.token.id, kind: actor.token.kind },
  };
}

/** The session rights a role opens on machines reached through site access (an assignment carries its own). */
const RIGHT_OF: Record<AssignmentRight, Permission> = { terminal: 'sessions.join', view_only: 'sessions.view_only', files: 'sessions.files' };

/**
 * "My Assigned Machines": machines with a live assignment to the caller, plus, for client users, the machines of
 * their site access. Each one is still put to the authorizer (an API token narrowed to some sites sees only those),
 * and `canConnect` is the authorizer's answer for joining a session now.
 */
export async function myMachines(ctx: AppContext, actor: Actor) {
  await demand(ctx, actor, 'self.view', { type: 'self' });
  const held = effectivePermissions(actor);
  const roleRights = (Object.keys(RIGHT_OF) as AssignmentRight[]).filter((r) => held.has(RIGHT_OF[r]));
  const byMachine = new Map<string, Omit<Awaited<ReturnType<typeof store.assignedMachines>>[number], 'rights'> & { via: 'assignment' | 'site_access'; rights: AssignmentRight[] }>();
  for (const row of await store.assignedMachines(ctx.db, actor.userId)) byMachine.set(row.id, { ...row, rights: row.rights as AssignmentRight[], via: 'assignment' });
  if (actor.userKind === 'client_user') {
    for (const row of await store.siteAccessibleMachines(ctx.db, actor.userId)) {
      if (!byMachine.has(row.id)) byMachine.set(row.id, { ...row, rights: roleRights, expiresAt: null, via: 'site_access' });
    }
  }
  const now = new Date();
  return visible(actor, 'machines.view', [...byMachine.values()], machineResource)
    .map((m) => ({ ...m, canConnect: authorize(actor, 'sessions.join', machineResource(m), now).allowed }))
    .sort((a, b) => (a.hostname ?? '').localeCompare(b.hostname ?? '') || a.id.localeCompare(b.id));
}

/**
 * Changes the caller's password: the current one must be right (wrong guesses count towards the account lockout,
 * so a stolen session cannot brute-force it), and every other token of the account is revoked with the change.
 */
export async function changePassword(ctx: AppContext, actor: Actor, currentPassword: string, newPassword: string) {
  await demand(ctx, actor, 'self.manage', { type: 'self' });
  const accountKey = throttleKey('account', actor.email);
  const locked = await lockedForSeconds(ctx.db, accountKey);
  if (locked > 0) throw new TooManyRequests('too many wrong passwords; try again later', locked);
  if (newPassword === currentPassword) throw new Invalid('the new password must differ from the current one');
  // Verified outside the transaction (argon2 is slow); the write below only lands if the hash is still this one.
  const hash = await store.passwordHashOf(ctx.db, actor.userId);
  if (!hash || !(await verifyPassword(hash, currentPassword))) {
    await recordFailure(ctx.db, 'account', actor.email);
    await ctx.audit.record(ctx.db, { ...auditOf(actor, 'user.password_change', 'user', actor.userId, { reason: 'wrong current password' }), outcome: 'failure' });
    throw new Invalid('the current password is not correct');
  }
  const newHash = await hashPassword(newPassword);
  return ctx.db.transaction(async (tx) => {
    if (!(await store.replacePasswordHash(tx, actor.userId, hash, newHash))) throw new Conflict('the password was changed meanwhile; try again');
    const revokedTokens = await revokeUserTokens(tx, actor.userId, actor.token.id);
    // Outstanding reset links would undo the change: they end with it.
    await invalidateUserLinks(tx, actor.userId);
    await clearFailures(tx, accountKey);
    await ctx.audit.record(tx, auditOf(actor, 'user.password_change', 'user', actor.userId, { revokedTokens }));
    return { revokedTokens };
  });
}
