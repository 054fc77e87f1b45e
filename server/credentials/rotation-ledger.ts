import type { AuditLog } from '../audit/audit-log.ts';
import type { AuditEvent } from '../audit/audit-store.ts';
import type { Db } from '../db/open.ts';
import { GroupCommit } from '../db/group-commit.ts';
import * as store from './credential-store.ts';

export interface PendingPassword {
  accountId: string;
  jobId: string;
  sealed: Uint8Array;
}

/** How a job ends, written in one transaction with its audit event. */
export interface JobEnding {
  jobId: string;
  state: 'done' | 'failed' | 'cancelled';
  error: string | null;
  /** The version the agent verified on the endpoint: it becomes current. */
  promote?: { accountId: string; versionId: string; historyDepth: number };
  /** The account's new status (and its covered member servers' reasons, for a domain account); absent keeps it. */
  account?: { id: string; status: store.AccountStatus; reasons: string[]; coveredReasons?: string[] };
  audit?: AuditEvent;
}

/**
 * The rotation's two durable writes — the sealed pending password (before the agent may set it) and the job's end
 * (promotion, statuses, audit) — group-committed: concurrent jobs share transactions, and the audit chain's append
 * lock is taken once per batch instead of once per job. Each caller still waits for its own write to commit, so the
 * rotation's order of durable steps is unchanged.
 */
export class RotationLedger {
  private readonly pending: GroupCommit<PendingPassword, string>;
  private readonly endings: GroupCommit<JobEnding, void>;

  constructor(db: Db, audit: AuditLog) {
    this.pending = new GroupCommit((items) => db.transaction((tx) => store.insertPendingVersions(tx, items)));
    this.endings = new GroupCommit<JobEnding, void>((items) =>
      db.transaction(async (tx) => {
        await store.promoteVersions(tx, items.flatMap((i) => (i.promote ? [i.promote] : [])));
        await store.setAccountStatuses(tx, items.flatMap((i) => (i.account ? [i.account] : [])));
        await store.finishJobs(tx, items.map((i) => ({ id: i.jobId, state: i.state, error: i.error })));
        // Last: the chain's lock is held until commit.
        await audit.recordMany(tx, items.flatMap((i) => (i.audit ? [i.audit] : [])));
        return items.map(() => undefined);
      }),
    );
  }

  /** Resolves to the pending version's id once it is stored. */
  storePending(password: PendingPassword): Promise<string> {
    return this.pending.submit(password);
  }

  end(ending: JobEnding): Promise<void> {
    // Stamped now, not when its batch is written.
    return this.endings.submit(ending.audit ? { ...ending, audit: { ...ending.audit, at: ending.audit.at ?? new Date() } } : ending);
  }
}
