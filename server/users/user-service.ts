import { randomUUID } from 'node:crypto';
import type { Actor, UserKind } from '../access/actor.ts';
import { authorize, type Resource } from '../access/authorizer.ts';
import { demand, demandNoEscalation, visible } from '../access/demand.ts';
import { assertCanGrantRemoteControl, assertCanGrantRole } from '../access/escalation.ts';
import { revokeUserTokens } from '../auth/auth-store.ts';
import { hashPassword } from '../auth/password.ts';
import { issuePasswordLink } from '../auth/password-link.ts';
import { kickOutbox } from '../notify/outbox-worker.ts';
import { userForAdmin } from '../auth/user-lookup.ts';
import type { AppContext } from '../context.ts';
import { sqlState, UNIQUE_VIOLATION } from '../db/open.ts';
import { Conflict, Forbidden, Invalid, NotFound } from '../errors.ts';
import { findRoleForGrant } from '../roles/role-service.ts';
import { auditOf } from '../audit/audit-event.ts';
import * as store from './user-store.ts';

/**
 * Technicians and client users. Every action on a user needs `users.manage` over that user (the authorizer), and —
 * the SimpleHelp lesson — the actor must be able to grant the user's current role and any role it hands out; nobody
 * changes their own role or remote-control switch, or disables or deletes themselves. The last Super Admin who can
 * sign in locally cannot be disabled, deleted or demoted.
 */
export type UserTarget = NonNullable<Awaited<ReturnType<typeof userForAdmin>>>;

export const userResource = (u: { id: string; kind: string; clientId: string | null }): Resource => ({
  type: 'user',
  userId: u.id,
  userKind: u.kind as UserKind,
  clientId: u.clientId,
});

export const normalizeEmail = (email: string) => email.trim().toLowerCase();

export const emailInUse = (email: string) => new Conflict(`email ${email} is already in use`);

export function present(row: store.UserRow) {
  return { ...row, kind: row.kind as UserKind, disabled: row.disabledAt !== null };
}

/** The user an actor is acting on, after `users.manage` over them is granted (audited deny otherwise). */
export async function demandUser(ctx: AppContext, actor: Actor, userId: string): Promise<UserTarget> {
  const target = await userForAdmin(ctx.db, userId);
  if (!target) {
    await demand(ctx, actor, 'users.manage', { type: 'collection', of: 'users' });
    throw new NotFound('user not found');
  }
  await demand(ctx, actor, 'users.manage', userResource(target));
  return target;
}

/** As demandUser, and the actor could grant the user's current role: nobody edits someone more powerful. */
export async function demandManageableUser(ctx: AppContext, actor: Actor, userId: string, what: string): Promise<UserTarget> {
  const target = await demandUser(ctx, actor, userId);
  await demandNoEscalation(ctx, actor, userResource(target), what, () => assertCanGrantRole(actor, target.role, what));
  return target;
}

export interface Placement {
  id: string;
  kind: UserKind;
  clientId: string | null;
  /** Whether clientId names an existing client (ignored when clientId is null). */
  clientExists: boolean;
  roleRef: string;
  role: { id: string; name: string; permissions: string[]; scope: string } | null;
  allowRemoteControl: boolean;
}

/**
 * Why this actor may not create a user placed like this: `invalid` (the request is wrong) and `forbidden` (it is
 * right, but beyond the actor). Shared by the single create and the CSV import, which reports per row.
 */
export function refusalsForNewUser(actor: Actor, p: Placement): { invalid: string[]; forbidden: string[] } {
  const invalid: string[] = [];
  const forbidden: string[] = [];
  if (p.kind === 'client_user' && !p.clientId) invalid.push('a client user needs a client');
  if (p.kind === 'technician' && p.clientId) invalid.push('a technician does not belong to a client');
  if (p.kind === 'client_user' && p.clientId && !p.clientExists) invalid.push('client does not exist');
  if (!p.role) invalid.push(`unknown role '${p.roleRef}'`);
  else if (p.kind === 'client_user' && p.role.scope === 'global') invalid.push(`a client user cannot hold role '${p.role.name}' (its scope is global)`);
  if (invalid.length) return { invalid, forbidden };
  const decision = authorize(actor, 'users.manage', userResource({ id: p.id, kind: p.kind, clientId: p.clientId }));
  if (!decision.allowed) forbidden.push(decision.reason);
  for (const check of [
    () => assertCanGrantRole(actor, p.role!, 'give this role'),
    () => p.allowRemoteControl && assertCanGrantRemoteControl(actor, 'switch on Allow Remote Control Access'),
  ]) {
    try {
      check();
    } catch (error) {
      if (!(error instanceof Forbidden)) throw error;
      forbidden.push(error.message);
    }
  }
  return { invalid, forbidden };
}

export interface NewUserInput {
  email: string;
  name: string;
  kind: UserKind;
  clientId?: string | null;
  role: string;
  allowRemoteControl?: boolean;
  password?: string;
}

/** Creates a user; without a password, the invitation to set one is queued in the same transaction. */
export async function createUser(ctx: AppContext, actor: Actor, input: NewUserInput) {
  const id = randomUUID();
  const clientId = input.clientId ?? null;
  const resource = userResource({ id, kind: input.kind, clientId });
  await demand(ctx, actor, 'users.manage', resource);
  const placement: Placement = {
    id,
    kind: input.kind,
    clientId,
    clientExists: clientId ? Boolean(await store.findClientById(ctx.db, clientId)) : false,
    roleRef: input.role,
    role: await findRoleForGrant(ctx.db, input.role),
    allowRemoteControl: input.allowRemoteControl ?? false,
  };
  const { invalid, forbidden } = refusalsForNewUser(actor, placement);
  if (invalid.length) throw new Invalid(invalid.join('; '));
  await demandNoEscalation(ctx, actor, resource, 'user.create', () => {
    if (forbidden.length) throw new Forbidden(forbidden.join('; '));
  });
  const email = normalizeEmail(input.email);
  const passwordHash = input.password ? await hashPassword(input.password) : null;
  const values = { id, email, name: input.name.trim(), kind: input.kind, clientId, role: placement.role!.id, allowRemoteControl: placement.allowRemoteControl, passwordHash };
  try {
    await ctx.db.transaction(async (tx) => {
      const [user] = await store.insertUsers(tx, [values]);
      if (!passwordHash) await issuePasswordLink(ctx, tx, user, 'invite');
      await ctx.audit.record(tx, auditOf(actor, 'user.create', 'user', id, { ...facts(values), invited: !passwordHash }));
    });
  } catch (error) {
    if (sqlState(error) === UNIQUE_VIOLATION) throw emailInUse(email);
    throw error;
  }
  if (!passwordHash) kickOutbox(ctx);
  return present((await store.findUser(ctx.db, id))!);
}

/** The users the caller may manage (list filters narrow further). */
export async function listUsers(ctx: AppContext, actor: Actor, filter: store.UserFilter) {
  await demand(ctx, actor, 'users.manage', { type: 'collection', of: 'users' });
  return visible(actor, 'users.manage', await store.listUsers(ctx.db, filter), userResource).map(present);
}

export async function getUser(ctx: AppContext, actor: Actor, userId: string) {
  await demandUser(ctx, actor, userId);
  const user = await store.findUser(ctx.db, userId);
  if (!user) throw new NotFound('user not found');
  return present(user);
}

export interface UserPatch {
  name?: string;
  email?: string;
  role?: string;
  allowRemoteControl?: boolean;
  disabled?: boolean;
}

/** Edits a user. Disabling ends every token of theirs at once; re-enabling lets them sign in again. */
export async function updateUser(ctx: AppContext, actor: Actor, userId: string, patch: UserPatch) {
  const target = await demandManageableUser(ctx, actor, userId, 'change this user');
  const resource = userResource(target);
  const current = await store.findUser(ctx.db, userId);
  if (!current) throw new NotFound('user not found');
  const roleChanges = patch.role !== undefined && patch.role !== target.role.id;
  const switchChanges = patch.allowRemoteControl !== undefined && patch.allowRemoteControl !== current.allowRemoteControl;
  await demandNoEscalation(ctx, actor, resource, 'user.update', () => {
    if (userId !== actor.userId) return;
    if (roleChanges) throw new Forbidden('you cannot change your own role');
    if (switchChanges) throw new Forbidden('you cannot change your own Allow Remote Control Access');
    if (patch.disabled === true) throw new Forbidden('you cannot disable yourself');
  });
  let role: Awaited<ReturnType<typeof findRoleForGrant>> = null;
  if (roleChanges) {
    role = await findRoleForGrant(ctx.db, patch.role!);
    if (!role) throw new Invalid(`unknown role '${patch.role}'`);
    if (target.kind === 'client_user' && role.scope === 'global') throw new Invalid(`a client user cannot hold role '${role.name}' (its scope is global)`);
    await demandNoEscalation(ctx, actor, resource, 'user.update', () => assertCanGrantRole(actor, role!, 'give this role'));
  }
  if (switchChanges && patch.allowRemoteControl) {
    await demandNoEscalation(ctx, actor, resource, 'user.update', () => assertCanGrantRemoteControl(actor, 'switch on Allow Remote Control Access'));
  }
  const email = patch.email === undefined ? undefined : normalizeEmail(patch.email);
  const action = patch.disabled === true && !current.disabledAt ? 'user.disable' : patch.disabled === false && current.disabledAt ? 'user.enable' : 'user.update';
  try {
    await ctx.db.transaction(async (tx) => {
      const leavesSuperAdmins = patch.disabled === true || (role !== null && role.id !== 'super_admin');
      const others = leavesSuperAdmins ? await store.lockSignInSuperAdmins(tx, userId) : [];
      const before = await store.findUser(tx, userId);
      if (!before) throw new NotFound('user not found');
      if (leavesSuperAdmins && isEnabledSuperAdmin(before) && others.length === 0) throw lastSuperAdmin(before.email);
      const changes: store.UserChanges = {
        name: patch.name?.trim(),
        email,
        role: role?.id,
        allowRemoteControl: patch.allowRemoteControl,
        disabledAt: patch.disabled === true ? (before.disabledAt ?? new Date()) : patch.disabled === false ? null : undefined,
      };
      await store.updateUser(tx, userId, changes);
      const revokedTokens = patch.disabled === true ? await revokeUserTokens(tx, userId) : undefined;
      const after = (await store.findUser(tx, userId))!;
      await ctx.audit.record(tx, auditOf(actor, action, 'user', userId, { before: facts(before), after: facts(after), revokedTokens }));
    });
  } catch (error) {
    if (sqlState(error) === UNIQUE_VIOLATION) throw emailInUse(email ?? '');
    throw error;
  }
  return present((await store.findUser(ctx.db, userId))!);
}

export async function deleteUser(ctx: AppContext, actor: Actor, userId: string) {
  const target = await demandManageableUser(ctx, actor, userId, 'delete this user');
  await demandNoEscalation(ctx, actor, userResource(target), 'user.delete', () => {
    if (userId === actor.userId) throw new Forbidden('you cannot delete yourself');
  });
  await ctx.db.transaction(async (tx) => {
    const others = await store.lockSignInSuperAdmins(tx, userId);
    const before = await store.findUser(tx, userId);
    if (!before) throw new NotFound('user not found');
    if (isEnabledSuperAdmin(before) && others.length === 0) throw lastSuperAdmin(before.email);
    await store.deleteUser(tx, userId);
    await ctx.audit.record(tx, auditOf(actor, 'user.delete', 'user', userId, { before: facts(before) }));
  });
}

/** Emails the user a link to set a password: an invitation when they never had one, a reset otherwise. */
export async function sendPasswordLink(ctx: AppContext, actor: Actor, userId: string) {
  await demandManageableUser(ctx, actor, userId, "send this user a password link");
  const user = await store.findUser(ctx.db, userId);
  if (!user) throw new NotFound('user not found');
  if (user.disabledAt) throw new Conflict('user is disabled; enable them first');
  const purpose = user.passwordSet ? 'reset' : 'invite';
  await ctx.db.transaction(async (tx) => {
    await issuePasswordLink(ctx, tx, user, purpose);
    await ctx.audit.record(tx, auditOf(actor, 'user.password_link', 'user', userId, { purpose }));
  });
  kickOutbox(ctx);
  return { purpose };
}

const isEnabledSuperAdmin = (u: { role: string; disabledAt: Date | null }) => u.role === 'super_admin' && !u.disabledAt;

const lastSuperAdmin = (email: string) =>
  new Conflict(`${email} is the last Super Admin who can sign in; make another Super Admin (with a password) before removing this one`);

/** What the audit log keeps of a user: never a hash or secret. */
export function facts(u: { email: string; name: string; kind: string; clientId: string | null; role: string; allowRemoteControl: boolean; disabledAt?: Date | null }) {
  return {
    email: u.email,
    name: u.name,
    kind: u.kind,
    clientId: u.clientId,
    role: u.role,
    allowRemoteControl: u.allowRemoteControl,
    ...(u.disabledAt !== undefined ? { disabled: u.disabledAt !== null } : {}),
  };
}
