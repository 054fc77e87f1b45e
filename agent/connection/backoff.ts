/**
 * Reconnect delays: exponential from `baseMs`, capped at `capMs`, with jitter (a random delay in [step/2, step])
 * so thousands of agents dropped at once do not return in lockstep. The 30 s cap bounds how long a machine stays
 * away after its server comes back; 20,000 agents retrying at the cap cost the server under ~900 refused connects/s.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs = 1000,
    private readonly capMs = 30_000,
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
