/**
 * Group commit: many callers each want a small write committed before they go on; instead of one transaction each,
 * whatever was submitted while the previous write ran is written by the next single call of `write` (one
 * transaction, a few set-based statements). Nothing waits on a timer: a lone submission is written at once, and
 * batches grow only when writes queue up behind each other, so latency under light load is unchanged and throughput
 * under heavy load is bounded by statements per batch rather than per item.
 *
 * A failed batch is not allowed to fail its neighbours: it is written again one item at a time, so each caller gets
 * its own item's outcome (its row was bad, or the database is down for everyone). `write` must therefore be atomic
 * (one transaction) and return one result per item, in order.
 *
 * Only writes of this process are grouped; nothing is kept here that the database does not already hold once the
 * caller's promise resolves, so a replica that dies mid-batch loses only unacknowledged submissions.
 */
export class GroupCommit<T, R> {
  private queue: { item: T; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private writing = false;

  constructor(
    private readonly write: (items: T[]) => Promise<R[]>,
    private readonly maxBatch = 500,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    // Let the submissions of this turn of the event loop join the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        await this.writeBatch(batch);
      }
    } finally {
      this.writing = false;
    }
  }

  private async writeBatch(batch: typeof this.queue): Promise<void> {
    try {
      const results = await this.write(batch.map((b) => b.item));
      if (results.length !== batch.length) throw new Error(`group commit: ${results.length} results for ${batch.length} items`);
      batch.forEach((b, i) => b.resolve(results[i]));
    } catch (error) {
      if (batch.length === 1) return batch[0].reject(error);
      for (const one of batch) await this.writeBatch([one]);
    }
  }
}
