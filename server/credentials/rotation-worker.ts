import { standingActor } from '../access/actor-store.ts';
import { authorize } from '../access/authorizer.ts';
import type { AppContext } from '../context.ts';
import { machineResource } from '../machines/machine-service.ts';
import { credentialPolicyOf } from './credential-policy-store.ts';
import { planSite } from './credential-setup.ts';
import * as store from './credential-store.ts';
import { runJob } from './rotation-runner.ts';
import { completeFinishedSetups } from './setup-summary.ts';

export interface RotationWorkerOptions {
  tickMs: number;
  /** Jobs claimed per round, and how many run at once. */
  batch: number;
  concurrency: number;
}

const LEASE_SECONDS = 180;

/**
 * The credential loop of one replica. Each tick: plan machines that appeared in enabled sites, queue rotations that
 * are due (maximum age; a revealer who lost access), fail setup jobs whose agent never came, run the due jobs of the
 * agents connected here, and close finished setups (with the summary email). All state is in the database, so any
 * replica can pick up where another stopped.
 */
export class RotationWorker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly ctx: AppContext,
    private readonly opts: RotationWorkerOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.opts.tickMs);
    this.timer.unref();
  }

  /** Runs one round now (tests and the benchmark call it; the timer does otherwise). Rounds never overlap. */
  tick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.running ??= this.round()
      .catch((error: unknown) => this.ctx.log.error({ err: error }, 'credential rotation round failed'))
      .finally(() => (this.running = null));
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  private async round(): Promise<void> {
    for (const siteId of await store.sitesWithUnplannedMachines(this.ctx.db)) {
      await this.ctx.db.transaction((tx) => planSite(tx, siteId));
    }
    await this.queueDueRotations();
    await this.failOverdueJobs();
    // Keep claiming while full batches come back: a large backlog is worked through in one round.
    for (;;) {
      const jobs = await store.claimDueJobs(this.ctx.db, this.ctx.agents.connectedMachineIds(), this.opts.batch, LEASE_SECONDS);
      await runAll(jobs, this.opts.concurrency, (job) => runJob(this.ctx, job));
      if (jobs.length < this.opts.batch || this.stopped) break;
    }
    await completeFinishedSetups(this.ctx);
  }

  private async queueDueRotations(): Promise<void> {
    const now = Date.now();
    for (const due of await store.accountsPastMaxAge(this.ctx.db, 10_000)) {
      await store.queueJob(this.ctx.db, { accountId: due.id, machineId: due.machineId, reason: 'schedule', dueAt: new Date(now), deadlineAt: new Date(now + 7 * 86400_000), requestedBy: null });
    }
    // A password someone revealed must change once they lose access to its machine (when the site's policy says so).
    const actors = new Map<string, Awaited<ReturnType<typeof standingActor>>>();
    for (const reveal of await store.revealersOfCurrentPasswords(this.ctx.db)) {
      if (!reveal.userId) continue;
      const machine = await store.machineFacts(this.ctx.db, reveal.machineId);
      if (!machine || !(await credentialPolicyOf(this.ctx.db, machine.siteId)).rotation.rotateOnAccessRevoked) continue;
      if (!actors.has(reveal.userId)) actors.set(reveal.userId, await standingActor(this.ctx.db, reveal.userId));
      const actor = actors.get(reveal.userId) ?? null;
      if (actor && authorize(actor, 'credentials.reveal', machineResource(machine)).allowed) continue;
      await store.queueJob(this.ctx.db, { accountId: reveal.accountId, machineId: reveal.machineId, reason: 'access_revoked', dueAt: new Date(now), deadlineAt: new Date(now + 7 * 86400_000), requestedBy: null });
    }
  }

  private async failOverdueJobs(): Promise<void> {
    for (const job of await store.overdueJobs(this.ctx.db)) {
      const account = await store.accountById(this.ctx.db, job.accountId);
      const reason = `the agent was not online to run the job before ${job.deadlineAt.toISOString()}`;
      await this.ctx.db.transaction(async (tx) => {
        if (account && account.status === 'in_progress') {
          await store.setAccountStatus(tx, account.id, 'failed', [reason]);
          if (account.scope === 'domain') await store.setCoveredStatus(tx, account.id, 'failed', [reason]);
        }
        await store.finishJob(tx, job.id, 'failed', reason);
      });
    }
  }
}

/** Runs `work` over the items with at most `limit` at a time. */
async function runAll<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]);
  });
  await Promise.all(lanes);
}
