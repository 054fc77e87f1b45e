import fs from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { Config } from '../config.ts';

/**
 * Hands one email to the world: over SMTP when STEWARD_SMTP_URL is set (query parameters of the URL are nodemailer
 * options, e.g. `?requireTLS=true`), otherwise as an RFC 5322 `.eml` file under `<dataDir>/outbox/`, readable only by
 * the server's user — so a fresh install without a mail server still lets the operator open an invitation by hand.
 */
export interface OutgoingMail {
  id: number;
  to: string;
  subject: string;
  text: string;
}

export type Delivery = { via: 'smtp'; messageId: string } | { via: 'file'; file: string };

export interface Mailer {
  deliver(mail: OutgoingMail): Promise<Delivery>;
  close(): void;
}

/** Bounded so one stuck mail server never holds a claimed message past its lease (see outbox-worker.ts). */
const SMTP_TIMEOUTS = { connectionTimeout: 20_000, greetingTimeout: 20_000, socketTimeout: 60_000 };

export function createMailer(config: Pick<Config, 'smtpUrl' | 'mailFrom' | 'dataDir'>): Mailer {
  const message = (mail: OutgoingMail) => ({
    from: config.mailFrom,
    to: mail.to,
    subject: mail.subject,
    text: mail.text,
    headers: { 'Auto-Submitted': 'auto-generated' },
  });

  if (config.smtpUrl) {
    const transport = nodemailer.createTransport({ url: config.smtpUrl, ...SMTP_TIMEOUTS });
    return {
      async deliver(mail) {
        const info = await transport.sendMail(message(mail));
        return { via: 'smtp', messageId: info.messageId };
      },
      close: () => transport.close(),
    };
  }

  const dir = path.join(config.dataDir, 'outbox');
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
  return {
    async deliver(mail) {
      const info = await transport.sendMail(message(mail));
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      const file = path.join(dir, `${mail.id}.eml`);
      // Written aside and renamed, so whoever watches the folder never reads half a message.
      const partial = `${file}.partial`;
      await fs.writeFile(partial, info.message as Buffer, { mode: 0o600 });
      await fs.chmod(partial, 0o600);
      await fs.rename(partial, file);
      return { via: 'file', file };
    },
    close: () => transport.close(),
  };
}

/**
 * An error as it may be stored and logged: the SMTP password and anything shaped like a link token are removed
 * (a mail server may quote parts of the conversation back), and the text is bounded.
 */
export function safeErrorText(error: unknown, smtpUrl: string | null): string {
  let text = error instanceof Error ? `${error.message}${(error as { code?: unknown }).code ? ` (${String((error as { code?: unknown }).code)})` : ''}` : String(error);
  if (smtpUrl) {
    try {
      const password = new URL(smtpUrl).password;
      for (const secret of [password, decodeURIComponent(password)]) if (secret) text = text.split(secret).join('[redacted]');
    } catch {
      /* config.ts checked the URL's scheme; an unparsable one has no password to hide */
    }
  }
  return text.replace(/token=[A-Za-z0-9_-]+/g, 'token=[redacted]').slice(0, 500);
}
