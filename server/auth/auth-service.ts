import type { UserActor } from '../access/actor.ts';
import { permissionsOf } from '../access/permissions.ts';
import type { AppContext } from '../context.ts';
import { TooManyRequests, Unauthenticated } from '../errors.ts';
import { findLiveToken, findUserByEmail, insertAuthToken, revokeToken, touchToken } from './auth-store.ts';
import { hashBearerToken, looksLikeBearerToken, newBearerToken } from './bearer-token.ts';
import { clearFailures, lockedForSeconds, recordFailure, throttleKey } from './login-throttle.ts';
import { burnPasswordCheck, verifyPassword } from './password.ts';

export interface LoginResult {
  token: string;
  expiresAt: string;
  user: { id: string; email: string; name: string; role: string };
}

const BAD_CREDENTIALS = 'email or password is incorrect';

/** Password login. The same answer for an unknown email and a wrong password; throttled per account and address. */
export async function login(ctx: AppContext, email: string, password: string, address: string): Promise<LoginResult> {
  const normalized = email.trim().toLowerCase();
  const accountKey = throttleKey('account', normalized);
  const addressKey = throttleKey('address', address);
  const locked = Math.max(await lockedForSeconds(ctx.db, accountKey), await lockedForSeconds(ctx.db, addressKey));
  if (locked > 0) {
    await ctx.audit.record(ctx.db, {
      actorType: 'anonymous',
      action: 'auth.login',
      outcome: 'failure',
      targetType: 'user',
      targetId: normalized,
      address,
      details: { reason: 'throttled' },
    });
    throw new TooManyRequests('too many failed logins; try again later', locked);
  }

  const user = await findUserByEmail(ctx.db, normalized);
  const ok = user && !user.disabledAt ? await verifyPassword(user.passwordHash, password) : (await burnPasswordCheck(password), false);
  if (!user || !ok) {
    await ctx.db.transaction(async (tx) => {
      await recordFailure(tx, 'account', normalized);
      await recordFailure(tx, 'address', address);
      await ctx.audit.record(tx, {
        actorType: 'anonymous',
        action: 'auth.login',
        outcome: 'failure',
        targetType: 'user',
        targetId: user?.id ?? normalized,
        address,
        details: { reason: user?.disabledAt ? 'user disabled' : 'bad credentials' },
      });
    });
    throw new Unauthenticated(BAD_CREDENTIALS);
  }

  const { token, tokenHash } = newBearerToken();
  const expiresAt = new Date(Date.now() + ctx.config.loginTokenHours * 3600_000);
  await ctx.db.transaction(async (tx) => {
    await clearFailures(tx, accountKey);
    const row = await insertAuthToken(tx, { userId: user.id, tokenHash, kind: 'login', expiresAt, createdFrom: address });
    await ctx.audit.record(tx, {
      actorType: 'user',
      actorId: user.id,
      action: 'auth.login',
      outcome: 'success',
      targetType: 'auth_token',
      targetId: row.id,
      address,
    });
  });
  return { token, expiresAt: expiresAt.toISOString(), user: { id: user.id, email: user.email, name: user.name, role: user.role } };
}

/** Resolves a bearer token to an actor; null for anything that is not a live token of an enabled user. */
export async function authenticateToken(ctx: AppContext, token: string, address: string): Promise<UserActor | null> {
  if (!looksLikeBearerToken(token)) return null;
  const row = await findLiveToken(ctx.db, hashBearerToken(token));
  if (!row) return null;
  await touchToken(ctx.db, row.tokenId);
  return {
    kind: 'user',
    userId: row.userId,
    email: row.email,
    role: row.role,
    permissions: permissionsOf(row.role),
    tokenId: row.tokenId,
    address,
  };
}

export async function logout(ctx: AppContext, actor: UserActor): Promise<void> {
  await ctx.db.transaction(async (tx) => {
    await revokeToken(tx, actor.tokenId);
    await ctx.audit.record(tx, {
      actorType: 'user',
      actorId: actor.userId,
      action: 'auth.logout',
      outcome: 'success',
      targetType: 'auth_token',
      targetId: actor.tokenId,
      address: actor.address,
    });
  });
}
