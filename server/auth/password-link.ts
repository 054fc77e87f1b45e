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
 * Issues single-use, expiring password links (only their SHA-256 is stored) and queues the emails carrying them, in
 * the caller's transaction. Used by "forgot password" and by inviting new users to set a first password.
 */
export async function issuePasswordLinks(
  ctx: AppContext,
  q: Queryable,
  users: readonly { id: string; email: string; name: string }[],
  purpose: PasswordLinkPurpose,
): Promise<void> {
  if (users.length === 0) return;
  const hours = LINK_LIFETIME_HOURS[purpose];
  const expiresAt = new Date(Date.now() + hours * 3600_000);
  const links = users.map((user) => ({ user, token: randomBytes(32).toString('base64url') }));
  for (let i = 0; i < links.length; i += 1000) {
    await q.insert(passwordResetTokens).values(links.slice(i, i + 1000).map(({ user, token }) => ({ userId: user.id, tokenHash: hashPasswordLinkToken(token), purpose, expiresAt })));
  }
  await enqueueMail(ctx, q, links.map(({ user, token }) => linkMail(ctx, user, token, purpose)));
}

export const issuePasswordLink = (ctx: AppContext, q: Queryable, user: { id: string; email: string; name: string }, purpose: PasswordLinkPurpose) =>
  issuePasswordLinks(ctx, q, [user], purpose);

function linkMail(ctx: AppContext, user: { email: string; name: string }, token: string, purpose: PasswordLinkPurpose) {
  const hours = LINK_LIFETIME_HOURS[purpose];
  const link = `${ctx.config.publicUrl}/reset-password#token=${token}`;
  const text =
    purpose === 'invite'
      ? `Hello ${user.name},\n\nan account was created for you on Steward. Set your password here (the link works once, for ${hours} hours):\n\n${link}\n`
      : `Hello ${user.name},\n\nsomeone asked to reset the password of this Steward account. If it was you, set a new password here (the link works once, for ${hours} hour):\n\n${link}\n\nIf it was not you, ignore this message; your password is unchanged.\n`;
  return {
    to: user.email,
    subject: purpose === 'invite' ? 'Your Steward account' : 'Reset your Steward password',
    text,
    purpose: purpose === 'invite' ? 'invitation' : 'password_reset',
  };
}
