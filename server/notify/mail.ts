import type { AppContext } from '../context.ts';
import type { Queryable } from '../db/open.ts';
import { insertOutboxMessage } from './outbox-store.ts';

export interface Mail {
  to: string;
  subject: string;
  text: string;
  /** What the message is for (`password_reset`, `invitation`, …), kept for the operator; never the content. */
  purpose: string;
}

/**
 * Queues an email in the caller's transaction (the outbox): it is sent only if the change that caused it commits,
 * and delivered by whichever replica's outbox worker claims it. The body is sealed because it may hold a secret link.
 */
export async function enqueueMail(ctx: AppContext, q: Queryable, mail: Mail): Promise<number> {
  const row = await insertOutboxMessage(q, {
    recipient: mail.to,
    subject: mail.subject,
    bodySealed: ctx.secrets.seal(Buffer.from(mail.text, 'utf8')),
    purpose: mail.purpose,
  });
  return row.id;
}
