import type { AppContext } from '../context.ts';
import { Invalid } from '../errors.ts';
import { kickOutbox } from '../notify/outbox-worker.ts';
import { revokeUserTokens } from './auth-store.ts';
import { clearFailures, lockedForSeconds, recordFailure, throttleKey } from './login-throttle.ts';
import { hashPasswordLinkToken, issuePasswordLink } from './password-link.ts';
import * as store from './password-reset-store.ts';
import { hashPassword } from './password.ts';

/**
 * Forgot password. Both routes are public, so nothing here demands a permission: the request proves nothing and
 * reveals nothing (the caller gets the same answer whatever happens); the confirmation is authorized by holding a
 * live link, which only the account's mailbox received. Confirming never signs in: MFA still applies at the next login.
 */

/** Reset emails an account receives at most per hour; further requests are dropped silently. */
export const RESET_EMAILS_PER_HOUR = 3;
const INVALID_LINK = 'this password link is invalid, expired or already used; ask for a new one';

/**
 * Reset requests are counted per client address on the login throttle, under a key of their own so that asking for
 * reset emails never locks anyone's sign-in (an address locked by failed sign-ins gets no reset emails either).
 */
const requestThrottleValue = (address: string) => `password-reset/${address}`;

/**
 * Acts on a reset request after the caller has been answered (setImmediate), so the response time is the same for
 * known and unknown emails. Never rejects: a failure is logged, the caller was told nothing either way.
 */
export function requestPasswordResetLater(ctx: AppContext, email: string, address: string): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve))
    .then(() => requestPasswordReset(ctx, email, address))
    .catch((error: unknown) => ctx.log.error({ err: error }, 'password reset request failed'));
}

export async function requestPasswordReset(ctx: AppContext, rawEmail: string, address: string): Promise<void> {
  const email = rawEmail.trim().toLowerCase();
  const locked =
    (await lockedForSeconds(ctx.db, throttleKey('address', address))) ||
    (await lockedForSeconds(ctx.db, throttleKey('address', requestThrottleValue(address))));
  if (locked > 0) {
    await ctx.audit.record(ctx.db, requestEvent('failure', null, address, 'address throttled'));
    return;
  }
  const issued = await ctx.db.transaction(async (tx) => {
    await recordFailure(tx, 'address', requestThrottleValue(address));
    const user = await store.lockResetCandidate(tx, email);
    // An unknown email is audited without the address asked for: the log should not collect strangers' addresses.
    if (!user || user.disabledAt) {
      await ctx.audit.record(tx, requestEvent('failure', user?.id ?? null, address, user ? 'user disabled' : 'no such account'));
      return false;
    }
    if ((await store.countRecentResetLinks(tx, user.id, 3600)) >= RESET_EMAILS_PER_HOUR) {
      await ctx.audit.record(tx, requestEvent('failure', user.id, address, 'rate limited'));
      return false;
    }
    await issuePasswordLink(ctx, tx, user, 'reset');
    await ctx.audit.record(tx, requestEvent('success', user.id, address, 'email queued'));
    return true;
  });
  if (issued) kickOutbox(ctx);
}

const requestEvent = (outcome: 'success' | 'failure', userId: string | null, address: string, reason: string) => ({
  actorType: 'anonymous' as const,
  action: 'auth.password_reset_request',
  outcome,
  targetType: userId ? 'user' : null,
  targetId: userId,
  address,
  details: { reason },
});

/**
 * Sets a new password with a reset or invitation link, in one transaction: the link is used up (atomically, so two
 * racing confirmations cannot both win), the user's other links end, and every token they hold is revoked.
 */
export async function confirmPasswordReset(ctx: AppContext, input: { token: string; newPassword: string }, address: string): Promise<void> {
  const tokenHash = hashPasswordLinkToken(input.token);
  // A cheap look first, so a stream of made-up links costs no argon2 hashing.
  if (!(await store.isLinkLive(ctx.db, tokenHash))) return refuse(ctx, address, 'invalid link');
  const passwordHash = await hashPassword(input.newPassword);
  try {
    await ctx.db.transaction(async (tx) => {
      const link = await store.consumeLink(tx, tokenHash);
      if (!link) throw new Invalid(INVALID_LINK);
      const user = await store.setPasswordHash(tx, link.userId, passwordHash);
      if (!user) throw new Invalid(INVALID_LINK);
      const linksEnded = await store.invalidateUserLinks(tx, user.id);
      const tokensRevoked = await revokeUserTokens(tx, user.id);
      // The old password's failed attempts no longer mean anything; the owner may sign in at once.
      await clearFailures(tx, throttleKey('account', user.email));
      await ctx.audit.record(tx, {
        actorType: 'user',
        actorId: user.id,
        action: 'auth.password_reset',
        outcome: 'success',
        targetType: 'user',
        targetId: user.id,
        address,
        details: { purpose: link.purpose, tokensRevoked, otherLinksEnded: linksEnded },
      });
    });
  } catch (error) {
    if (error instanceof Invalid) return refuse(ctx, address, 'link used concurrently or user disabled');
    throw error;
  }
}

async function refuse(ctx: AppContext, address: string, reason: string): Promise<never> {
  await ctx.audit.record(ctx.db, { actorType: 'anonymous', action: 'auth.password_reset', outcome: 'failure', address, details: { reason } });
  throw new Invalid(INVALID_LINK);
}
