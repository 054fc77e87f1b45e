import type { Logger } from './log.ts';
import type { Inventory } from '../protocol/inventory.ts';
import type { CredentialJobs } from './credentials/credential-jobs.ts';
import type { SessionManager } from './sessions/session-manager.ts';

/** What command handlers and the connection loop need from the running agent. */
export interface AgentContext {
  log: Logger;
  collectInventory(): Promise<Inventory>;
  /** Remote sessions; null where this process runs none (e.g. during enrollment). */
  sessions: SessionManager | null;
  /** The managed accounts (Remote Support, NOC); null where this process manages none (e.g. during enrollment). */
  credentials: CredentialJobs | null;
}
