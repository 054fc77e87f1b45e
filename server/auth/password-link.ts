import { createHash, randomBytes } from 'node:crypto';
import type { AppContext } from '../context.ts';
import type { Queryable } from '../db/open.ts';
import { passwordResetTokens } from '../db/schema.ts';
import { enqueueMail } from '../notify/mail.ts';

/** How long a link works: a forgotten-password link briefly, an invitation for a few days. */
export const LINK_LIFETIME_HOURS = { reset: 1, invite: 72 } as const;
export type PasswordLinkPurpose = keyof typeof LINK_LIFETIME_HOURS;

export const hashPasswordLinkToken = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

/**
 * Issues a single-use, expiring password link (only its SHA-256 is stored) and queues the email carrying it, in the
 * caller's transaction. Used by "forgot password" and by inviting a new user to set a first password.
 */
export async function issuePasswordLink(
  ctx: AppContext,
  q: Queryable,
  user: { id: string; email: string; name: string },
  purpose: PasswordLinkPurpose,
): Promise<void> {
  const token = randomBytes(32).toString('base64url');
  const hours = LINK_LIFETIME_HOURS[purpose];
  await q.insert(passwordResetTokens).values({
    userId: user.id,
    tokenHash: hashPasswordLinkToken(token),
    purpose,
    expiresAt: new Date(Date.now() + hours * 3600_000),
  });
  const link = `${ctx.config.publicUrl}/reset-password#token=${token}`;
  const text =
    purpose === 'invite'
      ? `Hello ${user.name},\n\nan account was created for you on Steward. Set your password here (the link works once, for ${hours} hours):\n\n${link}\n`
      : `Hello ${user.name},\n\nsomeone asked to reset the password of this Steward account. If it was you, set a new password here (the link works once, for ${hours} hour):\n\n${link}\n\nIf it was not you, ignore this message; your password is unchanged.\n`;
  await enqueueMail(ctx, q, {
    to: user.email,
    subject: purpose === 'invite' ? 'Your Steward account' : 'Reset your Steward password',
    text,
    purpose: purpose === 'invite' ? 'invitation' : 'password_reset',
  });
}
