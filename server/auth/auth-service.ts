import type { Actor } from '../access/actor.ts';
import { actorOf, findTokenHolder, loadGrants } from '../access/actor-store.ts';
import type { AppContext } from '../context.ts';
import { TooManyRequests, Unauthenticated } from '../errors.ts';
import { findLoginUser, insertAuthToken, recordLogin, revokeToken, signedInFromRecently, touchToken } from './auth-store.ts';
import { hashBearerToken, looksLikeBearerToken, newBearerToken } from './bearer-token.ts';
import { clearFailures, lockedForSeconds, recordFailure, throttleKey } from './login-throttle.ts';
import { mfaRequired } from './mfa-policy.ts';
import { verifySecondFactor, type SecondFactor } from './mfa-service.ts';
import { burnPasswordCheck, verifyPassword } from './password.ts';
import { csrfTokenFor } from './session-cookie.ts';

export interface LoginInput extends SecondFactor {
  email: string;
  password: string;
  /** `token`: a bearer token in the body (API and CLI); `cookie`: the console's HttpOnly session cookie. */
  session: 'token' | 'cookie';
}

export interface LoginResult {
  token: string;
  kind: 'login' | 'console';
  expiresAt: string;
  csrfToken: string | null;
  user: { id: string; email: string; name: string; role: string; kind: string };
  mfa: { enabled: boolean; required: boolean; verified: boolean };
}

const BAD_CREDENTIALS = 'email or password is incorrect';

/**
 * The one login path, for bearer tokens and the console cookie alike. Password first (argon2id, the same answer and
 * timing for an unknown email), then the second factor whenever the user has MFA enabled. A user whose role or
 * client requires MFA but who has not enrolled gets a token that can do nothing but enroll (the authorizer enforces
 * it on every request). Failures of either factor count towards the per-account and per-address lockout.
 */
export async function login(ctx: AppContext, input: LoginInput, address: string): Promise<LoginResult> {
  const email = input.email.trim().toLowerCase();
  const accountKey = throttleKey('account', email);
  const addressKey = throttleKey('address', address);
  // Lockout prevention: an account locked by failures elsewhere still opens from an address it signed in from
  // recently, so nobody can lock the administrators out from afar. That address's own throttle still applies.
  const accountLocked = await lockedForSeconds(ctx.db, accountKey);
  const familiar = accountLocked > 0 && (await signedInFromRecently(ctx.db, email, address));
  // Wrong second factors count on a key of their own that no familiar address lifts: the password alone is not enough.
  const mfaKey = throttleKey('account', `mfa:${email}`);
  const locked = Math.max(familiar ? 0 : accountLocked, await lockedForSeconds(ctx.db, addressKey), await lockedForSeconds(ctx.db, mfaKey));
  if (locked > 0) {
    await ctx.audit.record(ctx.db, loginEvent('failure', email, address, { reason: 'throttled' }));
    throw new TooManyRequests('too many failed logins; try again later', locked);
  }

  const user = await findLoginUser(ctx.db, email);
  const passwordOk = user?.passwordHash && !user.disabledAt ? await verifyPassword(user.passwordHash, input.password) : (await burnPasswordCheck(input.password), false);
  if (!user || !passwordOk) {
    await fail(ctx, email, address, user?.id ?? email, user?.disabledAt ? 'user disabled' : user && !user.passwordHash ? 'no password set' : 'bad credentials');
    throw new Unauthenticated(BAD_CREDENTIALS);
  }
  if (user.mfaEnabledAt && !input.totpCode && !input.recoveryCode) {
    await ctx.audit.record(ctx.db, loginEvent('failure', user.id, address, { reason: 'mfa code missing' }));
    throw new Unauthenticated('this account uses MFA: send totpCode (or a recoveryCode) with the password', 'mfa_required');
  }

  const { token, tokenHash } = newBearerToken();
  const kind = input.session === 'cookie' ? 'console' : 'login';
  const expiresAt = new Date(Date.now() + ctx.config.loginTokenHours * 3600_000);
  const outcome = await ctx.db.transaction(async (tx) => {
    const factor = user.mfaEnabledAt ? await verifySecondFactor(ctx, tx, user.id, input) : null;
    if (user.mfaEnabledAt && !factor) return null;
    await clearFailures(tx, accountKey);
    await clearFailures(tx, mfaKey);
    await recordLogin(tx, user.id);
    const row = await insertAuthToken(tx, { userId: user.id, tokenHash, kind, expiresAt, createdFrom: address, mfaVerifiedAt: factor ? new Date() : null });
    await ctx.audit.record(tx, {
      actorType: 'user',
      actorId: user.id,
      action: 'auth.login',
      outcome: 'success',
      targetType: 'auth_token',
      targetId: row.id,
      address,
      details: { session: kind, mfa: factor ?? 'none' },
    });
    return { factor };
  });
  if (!outcome) {
    await fail(ctx, email, address, user.id, 'bad mfa code', `mfa:${email}`);
    throw new Unauthenticated('the MFA code is not valid (or was already used)', 'mfa_invalid');
  }
  return {
    token,
    kind,
    expiresAt: expiresAt.toISOString(),
    csrfToken: kind === 'console' ? csrfTokenFor(token) : null,
    user: { id: user.id, email: user.email, name: user.name, role: user.role, kind: user.kind },
    mfa: { enabled: Boolean(user.mfaEnabledAt), required: mfaRequired(user), verified: Boolean(outcome.factor) },
  };
}

async function fail(ctx: AppContext, email: string, address: string, target: string, reason: string, secondFactorKey?: string) {
  await ctx.db.transaction(async (tx) => {
    await recordFailure(tx, 'account', email);
    if (secondFactorKey) await recordFailure(tx, 'account', secondFactorKey);
    await recordFailure(tx, 'address', address);
    await ctx.audit.record(tx, loginEvent('failure', target, address, { reason }));
  });
}

const loginEvent = (outcome: 'success' | 'failure', target: string, address: string, details: Record<string, unknown>) => ({
  actorType: 'anonymous' as const,
  action: 'auth.login',
  outcome,
  targetType: 'user',
  targetId: target,
  address,
  details,
});

/** Resolves a token to an actor with its role and grants loaded fresh; null for anything but a live token of an enabled user. */
export async function authenticateToken(ctx: AppContext, token: string, address: string): Promise<Actor | null> {
  if (!looksLikeBearerToken(token)) return null;
  const holder = await findTokenHolder(ctx.db, hashBearerToken(token));
  if (!holder) return null;
  // Use is recorded at most once a minute per token: authenticated traffic does not write on every request.
  const stale = !holder.tokenLastUsedAt || Date.now() - holder.tokenLastUsedAt.getTime() > 60_000;
  const [grants] = await Promise.all([loadGrants(ctx.db, holder.userId), stale ? touchToken(ctx.db, holder.tokenId) : null]);
  return actorOf(holder, grants, address);
}

export async function logout(ctx: AppContext, actor: Actor): Promise<void> {
  await ctx.db.transaction(async (tx) => {
    await revokeToken(tx, actor.token.id);
    await ctx.audit.record(tx, {
      actorType: 'user',
      actorId: actor.userId,
      action: 'auth.logout',
      outcome: 'success',
      targetType: 'auth_token',
      targetId: actor.token.id,
      address: actor.address,
    });
  });
}
