import type { AppContext } from '../context.ts';
import { createMailer, safeErrorText, type Mailer } from './mailer.ts';
import { claimDueMessages, markFailed, markSent, type ClaimedMessage } from './outbox-store.ts';

/**
 * Delivers the outbox. Every replica runs one worker; they share the table and never send a message twice (rows are
 * claimed with SKIP LOCKED and leased). A failed attempt is retried with exponential backoff and given up after
 * `maxAttempts`, which stays visible in the row (attempts, last_error, sent_at still null).
 */
export const OUTBOX_POLICY = {
  pollMs: 1500,
  /**
   * Messages claimed at a time. One: a claim's lease must outlast the sending of everything it holds, and with a
   * hanging mail server a batch would not (another replica could then claim and send the rest a second time).
   */
  batchSize: 1,
  /** Longer than the mailer's SMTP timeouts together, so a claim never lapses while its message is being sent. */
  leaseSeconds: 300,
  maxAttempts: 10,
  /** 15 s, 30 s, 1 min, … capped at 2 h: about four hours of retries in all. */
  backoffBaseSeconds: 15,
  backoffMaxSeconds: 2 * 3600,
} as const;

export interface OutboxWorker {
  /** Looks for due messages now instead of at the next poll (after something was queued). */
  kick(): void;
  /** Stops polling and waits for the message being sent; call before the database closes. */
  stop(): Promise<void>;
}

export const retryDelaySeconds = (attempt: number) =>
  Math.min(OUTBOX_POLICY.backoffBaseSeconds * 2 ** Math.max(0, attempt - 1), OUTBOX_POLICY.backoffMaxSeconds);

const workers = new WeakMap<AppContext, OutboxWorker>();

/** Wakes this server's worker (no-op when none runs: the message waits for the next poll of any replica). */
export function kickOutbox(ctx: AppContext): void {
  workers.get(ctx)?.kick();
}

/** Starts the worker of this server; one per server, so a second call returns the running one. */
export function startOutboxWorker(ctx: AppContext, opts: { pollMs?: number } = {}): OutboxWorker {
  const existing = workers.get(ctx);
  if (existing) return existing;
  const pollMs = opts.pollMs ?? OUTBOX_POLICY.pollMs;
  const mailer = createMailer(ctx.config);
  let timer: NodeJS.Timeout | null = null;
  let draining: Promise<void> | null = null;
  let again = false;
  let stopped = false;

  const run = (): void => {
    if (stopped) return;
    if (draining) {
      again = true;
      return;
    }
    if (timer) clearTimeout(timer);
    timer = null;
    draining = (async () => {
      do {
        again = false;
        await drain(ctx, mailer, () => stopped);
      } while (again && !stopped);
    })().finally(() => {
      draining = null;
      if (!stopped) {
        timer = setTimeout(run, pollMs);
        timer.unref();
      }
    });
  };

  let stopping: Promise<void> | null = null;
  const worker: OutboxWorker = {
    kick: run,
    stop: () =>
      (stopping ??= (async () => {
        stopped = true;
        if (timer) clearTimeout(timer);
        await draining;
        mailer.close();
        if (workers.get(ctx) === worker) workers.delete(ctx);
      })()),
  };
  workers.set(ctx, worker);
  run();
  return worker;
}

async function drain(ctx: AppContext, mailer: Mailer, stopped: () => boolean): Promise<void> {
  while (!stopped()) {
    let batch: ClaimedMessage[];
    try {
      batch = await ctx.db.transaction((tx) => claimDueMessages(tx, OUTBOX_POLICY.batchSize, OUTBOX_POLICY.leaseSeconds, OUTBOX_POLICY.maxAttempts));
    } catch (error) {
      ctx.log.warn({ err: error }, 'outbox: could not claim messages; trying again at the next poll');
      return;
    }
    for (const message of batch) await deliver(ctx, mailer, message);
    if (batch.length < OUTBOX_POLICY.batchSize) return;
  }
}

async function deliver(ctx: AppContext, mailer: Mailer, message: ClaimedMessage): Promise<void> {
  const about = { outboxId: message.id, to: message.recipient, subject: message.subject, attempt: message.attempts };
  try {
    const text = Buffer.from(ctx.secrets.open(message.bodySealed)).toString('utf8');
    const delivery = await mailer.deliver({ id: message.id, to: message.recipient, subject: message.subject, text });
    await markSent(ctx.db, message.id, message.attempts);
    // One line, never the body: it may carry a password link.
    if (delivery.via === 'file') ctx.log.info({ ...about, file: delivery.file }, 'mail written to file (no SMTP server configured)');
    else ctx.log.info({ ...about, messageId: delivery.messageId }, 'mail sent');
  } catch (error) {
    const reason = safeErrorText(error, ctx.config.smtpUrl);
    const giveUp = message.attempts >= OUTBOX_POLICY.maxAttempts;
    const retryIn = retryDelaySeconds(message.attempts);
    try {
      await markFailed(ctx.db, message.id, message.attempts, giveUp ? `gave up after ${message.attempts} attempts: ${reason}` : reason, retryIn);
    } catch (markError) {
      ctx.log.error({ ...about, err: markError }, 'outbox: could not record a failed attempt');
    }
    if (giveUp) ctx.log.error({ ...about, error: reason }, 'mail undeliverable; gave up');
    else ctx.log.warn({ ...about, error: reason, retryInSeconds: retryIn }, 'mail not delivered; will retry');
  }
}
