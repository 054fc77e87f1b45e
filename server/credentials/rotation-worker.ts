import { standingActor } from '../access/actor-store.ts';
import { authorize } from '../access/authorizer.ts';
import type { AppContext } from '../context.ts';
import { machineResource } from '../machines/machine-service.ts';
import { credentialPolicyOf, policyFromRow } from './credential-policy-store.ts';
import { planSite } from './credential-setup.ts';
import * as store from './credential-store.ts';
import { RotationLedger } from './rotation-ledger.ts';
import { endWithout, runJob, type ClaimedJob } from './rotation-runner.ts';
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
  private readonly ledger: RotationLedger;

  constructor(
    private readonly ctx: AppContext,
    private readonly opts: RotationWorkerOptions,
  ) {
    this.ledger = new RotationLedger(ctx.db, ctx.audit);
  }

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
    await this.runDueJobs();
    await completeFinishedSetups(this.ctx);
  }

  /**
   * Keeps `concurrency` jobs running until no more are due: the next batch is claimed while the last of the previous
   * one still run, so a large backlog is worked through in one round without the lanes draining between claims.
   */
  private async runDueJobs(): Promise<void> {
    const queue: ClaimedJob[] = [];
    let exhausted = false;
    let claiming: Promise<void> | null = null;
    let failure: unknown = null;
    const claim = () =>
      (claiming ??= (async () => {
        const jobs = await store.claimDueJobs(this.ctx.db, this.ctx.agents.connectedMachineIds(), this.opts.batch, LEASE_SECONDS);
        queue.push(...(await this.withContexts(jobs)));
        if (jobs.length < this.opts.batch || this.stopped) exhausted = true;
      })()
        .catch((error: unknown) => {
          // The jobs already claimed still run; the round then reports the failure.
          failure = error;
          exhausted = true;
        })
        .finally(() => (claiming = null)));
    const lane = async () => {
      for (;;) {
        if (queue.length <= this.opts.concurrency && !exhausted) void claim();
        // Stopping leaves claimed jobs unstarted: their leases belong to agent connections that close with this replica.
        const next = this.stopped ? undefined : queue.shift();
        // A job that could not even record its outcome (the database went away) is run again once its lease ends.
        if (next) await runJob(this.ctx, this.ledger, next).catch((error: unknown) => this.ctx.log.error({ err: error, jobId: next.job.id }, 'credential job could not record its outcome'));
        else if (exhausted || this.stopped) return;
        else await claim();
      }
    };
    await Promise.all(Array.from({ length: this.opts.concurrency }, lane));
    if (failure) throw failure;
  }

  /** Each job with its account and policy; a job whose account or machine is gone is cancelled. */
  private async withContexts(jobs: store.CredentialJob[]): Promise<ClaimedJob[]> {
    const contexts = new Map((await store.jobContexts(this.ctx.db, jobs.map((j) => j.id))).map((c) => [c.jobId, c]));
    const claimed: ClaimedJob[] = [];
    for (const job of jobs) {
      const context = contexts.get(job.id);
      if (context) claimed.push({ job, account: context.account, policy: policyFromRow(context.policy) });
      else await this.ledger.end({ jobId: job.id, state: 'cancelled', error: 'the account or its machine is gone' });
    }
    return claimed;
  }

  private async queueDueRotations(): Promise<void> {
    const now = Date.now();
    const job = (accountId: string, machineId: string, reason: store.JobReason): store.JobRequest => ({ accountId, machineId, reason, dueAt: new Date(now), deadlineAt: new Date(now + 7 * 86400_000), requestedBy: null });
    await store.queueJobs(this.ctx.db, (await store.accountsPastMaxAge(this.ctx.db, 10_000)).map((due) => job(due.id, due.machineId, 'schedule')));
    // A password someone revealed must change once they lose access to its machine (when the site's policy says so).
    const actors = new Map<string, Awaited<ReturnType<typeof standingActor>>>();
    const revoked: store.JobRequest[] = [];
    for (const reveal of await store.revealersOfCurrentPasswords(this.ctx.db)) {
      if (!reveal.userId) continue;
      const machine = await store.machineFacts(this.ctx.db, reveal.machineId);
      if (!machine || !(await credentialPolicyOf(this.ctx.db, machine.siteId)).rotation.rotateOnAccessRevoked) continue;
      if (!actors.has(reveal.userId)) actors.set(reveal.userId, await standingActor(this.ctx.db, reveal.userId));
      const actor = actors.get(reveal.userId) ?? null;
      if (actor && authorize(actor, 'credentials.reveal', machineResource(machine)).allowed) continue;
      revoked.push(job(reveal.accountId, reveal.machineId, 'access_revoked'));
    }
    await store.queueJobs(this.ctx.db, revoked);
  }

  /** Open jobs whose agent never came to run them before their deadline fail, with their account if it was new. */
  private async failOverdueJobs(): Promise<void> {
    const overdue = await store.overdueJobs(this.ctx.db);
    const contexts = new Map((await store.jobContexts(this.ctx.db, overdue.map((j) => j.id))).map((c) => [c.jobId, c]));
    await Promise.all(
      overdue.map((job) => {
        const account = contexts.get(job.id)?.account;
        if (!account) return this.ledger.end({ jobId: job.id, state: 'cancelled', error: 'the account or its machine is gone' });
        return endWithout(this.ledger, job, account, 'failed', [`the agent was not online to run the job before ${job.deadlineAt.toISOString()}`]);
      }),
    );
  }
}
