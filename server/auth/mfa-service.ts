import { createHash, randomBytes } from 'node:crypto';
import { demand } from '../access/demand.ts';
import { auditOf } from '../audit/audit-event.ts';
import { assertCanGrantRole } from '../access/escalation.ts';
import type { Actor } from '../access/actor.ts';
import type { AppContext } from '../context.ts';
import type { Queryable } from '../db/open.ts';
import { Conflict, Invalid, NotFound, Unauthenticated } from '../errors.ts';
import { markTokenMfaVerified, revokeUserTokens } from './auth-store.ts';
import { policyRequiresMfa } from './mfa-policy.ts';
import * as store from './mfa-store.ts';
import { verifyPassword } from './password.ts';
import { acceptTotp, newTotpSecret, otpauthUri, qrCodeSvg } from './totp.ts';
import { userForAdmin } from './user-lookup.ts';

const RECOVERY_CODE_COUNT = 10;

export interface SecondFactor {
  totpCode?: string;
  recoveryCode?: string;
}

const normalizeRecoveryCode = (code: string) => code.toLowerCase().replace(/[^a-z0-9]/g, '');
const hashRecoveryCode = (code: string) => createHash('sha256').update(normalizeRecoveryCode(code), 'utf8').digest('hex');

function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    const raw = randomBytes(8).toString('hex').slice(0, 10);
    return `${raw.slice(0, 5)}-${raw.slice(5)}`;
  });
}

/**
 * Checks a second factor inside the caller's transaction (the user row is locked, so a code cannot be used twice by
 * racing requests). A TOTP code is accepted once; a recovery code is burnt on use.
 */
export async function verifySecondFactor(ctx: AppContext, tx: Queryable, userId: string, factor: SecondFactor): Promise<'totp' | 'recovery' | null> {
  const state = await store.mfaState(tx, userId);
  if (!state?.secretSealed) return null;
  if (factor.totpCode) {
    const secret = Buffer.from(ctx.secrets.open(state.secretSealed)).toString('utf8');
    const step = acceptTotp(secret, factor.totpCode, state.lastStep);
    if (step === null) return null;
    await store.storeLastStep(tx, userId, step);
    return 'totp';
  }
  if (factor.recoveryCode) return (await store.consumeRecoveryCode(tx, userId, hashRecoveryCode(factor.recoveryCode))) ? 'recovery' : null;
  return null;
}

/** Starts TOTP enrollment: a new secret waits, sealed, until a code from it is confirmed. */
export async function startEnrollment(ctx: AppContext, actor: Actor) {
  await demand(ctx, actor, 'self.mfa', { type: 'self' });
  if (actor.mfa.enabled) throw new Conflict('MFA is already enabled; disable it (or have an admin reset it) to enroll again');
  const secret = newTotpSecret();
  const uri = otpauthUri(secret, actor.email);
  await ctx.db.transaction(async (tx) => {
    await store.storePendingSecret(tx, actor.userId, ctx.secrets.seal(Buffer.from(secret, 'utf8')));
    await ctx.audit.record(tx, auditOf(actor, 'mfa.enroll_start', 'user', actor.userId));
  });
  return { secret, otpauthUri: uri, qrSvg: await qrCodeSvg(uri) };
}

/** Confirms enrollment with a code from the new secret; returns the one-time recovery codes (shown once). */
export async function confirmEnrollment(ctx: AppContext, actor: Actor, code: string) {
  await demand(ctx, actor, 'self.mfa', { type: 'self' });
  return ctx.db.transaction(async (tx) => {
    const state = await store.mfaState(tx, actor.userId);
    if (state?.enabledAt) throw new Conflict('MFA is already enabled');
    if (!state?.pendingSealed) throw new Conflict('no MFA enrollment in progress; start one first');
    const secret = Buffer.from(ctx.secrets.open(state.pendingSealed)).toString('utf8');
    const step = acceptTotp(secret, code, null);
    if (step === null) throw new Invalid('the code does not match; check the authenticator app and the clock');
    const codes = newRecoveryCodes();
    await store.enableMfa(tx, actor.userId, state.pendingSealed, step);
    await store.replaceRecoveryCodes(tx, actor.userId, codes.map(hashRecoveryCode));
    // The code just proved the second factor: this session now counts as MFA-verified.
    await markTokenMfaVerified(tx, actor.token.id);
    await ctx.audit.record(tx, auditOf(actor, 'mfa.enable', 'user', actor.userId));
    return { recoveryCodes: codes };
  });
}

/** Turns MFA off for oneself: needs the password and a current code, and is refused while a policy requires MFA. */
export async function disableMfa(ctx: AppContext, actor: Actor, input: { password: string } & SecondFactor) {
  await demand(ctx, actor, 'self.manage', { type: 'self' });
  await ctx.db.transaction(async (tx) => {
    const state = await store.mfaState(tx, actor.userId);
    if (!state?.enabledAt) throw new Conflict('MFA is not enabled');
    if (!state.passwordHash || !(await verifyPassword(state.passwordHash, input.password))) throw new Unauthenticated('password is incorrect');
    if (!(await verifySecondFactor(ctx, tx, actor.userId, input))) throw new Unauthenticated('the MFA code is not valid', 'mfa_invalid');
    const user = await userForAdmin(tx, actor.userId);
    if (user && policyRequiresMfa({ roleRequiresMfa: user.role.requireMfa, clientRequiresMfa: user.clientRequiresMfa })) throw new Conflict('a role or client policy requires MFA for this user; it cannot be turned off');
    await store.clearMfa(tx, actor.userId);
    await ctx.audit.record(tx, auditOf(actor, 'mfa.disable', 'user', actor.userId));
  });
}

/** New recovery codes (the old ones stop working); needs a current TOTP code. */
export async function regenerateRecoveryCodes(ctx: AppContext, actor: Actor, totpCode: string) {
  await demand(ctx, actor, 'self.manage', { type: 'self' });
  return ctx.db.transaction(async (tx) => {
    if (!(await verifySecondFactor(ctx, tx, actor.userId, { totpCode }))) throw new Unauthenticated('the MFA code is not valid', 'mfa_invalid');
    const codes = newRecoveryCodes();
    await store.replaceRecoveryCodes(tx, actor.userId, codes.map(hashRecoveryCode));
    await ctx.audit.record(tx, auditOf(actor, 'mfa.recovery_codes_regenerate', 'user', actor.userId));
    return { recoveryCodes: codes };
  });
}

export async function mfaStatus(ctx: AppContext, actor: Actor) {
  await demand(ctx, actor, 'self.view', { type: 'self' });
  return {
    enabled: actor.mfa.enabled,
    required: actor.mfa.required,
    verified: actor.token.mfaVerified,
    recoveryCodesLeft: actor.mfa.enabled ? await store.unusedRecoveryCodeCount(ctx.db, actor.userId) : 0,
  };
}

/** An admin resets a user's MFA (lost phone): secret and recovery codes cleared, every session of the user ended. */
export async function resetMfa(ctx: AppContext, actor: Actor, userId: string) {
  const target = await userForAdmin(ctx.db, userId);
  if (!target) {
    await demand(ctx, actor, 'users.manage', { type: 'collection', of: 'users' });
    throw new NotFound('user not found');
  }
  await demand(ctx, actor, 'users.manage', { type: 'user', userId, userKind: target.kind, clientId: target.clientId });
  assertCanGrantRole(actor, target.role, "reset this user's MFA");
  await ctx.db.transaction(async (tx) => {
    await store.clearMfa(tx, userId);
    const revoked = await revokeUserTokens(tx, userId);
    await ctx.audit.record(tx, {
      actorType: 'user',
      actorId: actor.userId,
      action: 'mfa.reset',
      outcome: 'success',
      targetType: 'user',
      targetId: userId,
      address: actor.address,
      details: { revokedTokens: revoked },
    });
  });
}

// Takes the caller's transaction: the outer handle inside a transaction deadlocks on PGlite (one connection).
