import type { Logger } from 'pino';
import type { Db, Queryable } from '../db/open.ts';
import { insertAuditEvents, type AuditEvent } from './audit-store.ts';

/**
 * The audit log. Security decisions (setup, login, token use, enrollment) are written with `record(tx, …)` inside
 * the transaction that makes the change, so the change and its audit stand or fall together; record last in the
 * transaction (the hash chain's append lock is held until commit, see audit-store.ts). High-volume agent presence
 * events (connect/disconnect) go through `enqueue`, which batches them into one chained insert every few
 * milliseconds; `flush` runs on shutdown. Every event is stamped with the time it was recorded or enqueued.
 */
export class AuditLog {
  private queue: AuditEvent[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly batchDelayMs = 50,
  ) {}

  record(q: Queryable, event: AuditEvent): Promise<void> {
    return insertAuditEvents(q, [event]);
  }

  /** Several events of one change (a bulk import), appended to the chain in one go, in order. */
  recordMany(q: Queryable, events: AuditEvent[]): Promise<void> {
    return insertAuditEvents(q, events);
  }

  enqueue(event: AuditEvent): void {
    this.queue.push({ ...event, at: event.at ?? new Date() });
    this.timer ??= setTimeout(() => void this.flush(), this.batchDelayMs);
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.queue.splice(0);
    this.flushing = this.flushing.then(async () => {
      for (let i = 0; i < batch.length; i += 1000) {
        await insertAuditEvents(this.db, batch.slice(i, i + 1000)).catch((error: unknown) =>
          this.log.error({ err: error, lost: batch.length - i }, 'audit batch insert failed'),
        );
      }
    });
    return this.flushing;
  }
}
