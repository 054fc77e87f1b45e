import type { AppContext } from '../context.ts';
import type { Queryable } from '../db/open.ts';
import { insertOutboxMessages } from './outbox-store.ts';

export interface Mail {
  to: string;
  subject: string;
  text: string;
  /** What the message is for (`password_reset`, `invitation`, …), kept for the operator; never the content. */
  purpose: string;
}

/**
 * Queues emails in the caller's transaction (the outbox): they are sent only if the change that caused them commits,
 * and delivered by whichever replica's outbox worker claims them. Bodies are sealed because they may hold secret links.
 */
export async function enqueueMail(ctx: AppContext, q: Queryable, mails: Mail[]): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < mails.length; i += 1000) {
    const rows = await insertOutboxMessages(
      q,
      mails.slice(i, i + 1000).map((mail) => ({
        recipient: mail.to,
        subject: mail.subject,
        bodySealed: ctx.secrets.seal(Buffer.from(mail.text, 'utf8')),
        purpose: mail.purpose,
      })),
    );
    ids.push(...rows.map((r) => r.id));
  }
  return ids;
}
