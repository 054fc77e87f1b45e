import type { Logger } from 'pino';
import type { AuditLog } from './audit/audit-log.ts';
import type { Config } from './config.ts';
import type { Db, DbDriver } from './db/open.ts';
import type { AgentRegistry } from './gateway/agent-registry.ts';
import type { ServerIdentity } from './identity/server-identity.ts';
import type { EscrowKey } from './credentials/escrow-key.ts';
import type { ReplicaAuth } from './replicas/replica-auth.ts';
import type { SealingKey } from './secrets/sealing-key.ts';
import type { LiveSessions } from './sessions/live-sessions.ts';

/** What services need from the running server; built once in app.ts and passed down explicitly. */
export interface AppContext {
  config: Config;
  db: Db;
  driver: DbDriver;
  log: Logger;
  audit: AuditLog;
  identity: ServerIdentity;
  /** Seals secrets kept in the database (TOTP secrets, outgoing mail bodies). */
  secrets: SealingKey;
  /** Opens escrowed passwords (sealed by agents to its public key); derived from the master key, never stored. */
  escrow: EscrowKey;
  agents: AgentRegistry;
  /** The remote sessions this replica relays. */
  sessions: LiveSessions;
  version: string;
  /** How other replicas reach this one (consoles proxied to the relay that holds a session); set once listening. */
  replica: { url: string };
  /** Signs and checks replica-to-replica requests (key derived from the master key). */
  replicaAuth: ReplicaAuth;
}
