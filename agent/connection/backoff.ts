/**
 * Reconnect delays: exponential from `baseMs`, capped at `capMs`, with full jitter (a random delay in
 * [cap/2, cap] of the current step) so thousands of agents dropped at once do not return in lockstep.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs = 1000,
    private readonly capMs = 60_000,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const ceiling = Math.min(this.capMs, this.baseMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  /** Jump to the cap: after a refusal that is unlikely to change soon (authentication failed, machine unknown). */
  toCap(): number {
    this.attempt = 30;
    return this.next();
  }

  reset(): void {
    this.attempt = 0;
  }
}
