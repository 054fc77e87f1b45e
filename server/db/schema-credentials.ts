import { sql } from 'drizzle-orm';
import { boolean, index, integer, jsonb, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { at, bytea } from './columns.ts';
import { users, machines, sites } from './schema.ts';

/**
 * Installation-wide credential settings (one row, id 1): which service levels qualify a site for automatic server
 * credentials, and whether new sites start with desktop credentials enabled (a Super Admin's choice).
 */
export const credentialSettings = pgTable('credential_settings', {
  id: integer('id').primaryKey().default(1),
  eligibleServiceLevels: jsonb('eligible_service_levels').$type<string[]>().notNull().default(['elite']),
  desktopEnabledForFutureSites: boolean('desktop_enabled_for_future_sites').notNull().default(false),
  updatedBy: uuid('updated_by').references(() => users.id, { onDelete: 'set null' }),
  updatedAt: at('updated_at').notNull().defaultNow(),
});

/** A site's credential policy: automatic server (NOC) and desktop (Remote Support) credentials, and rotation rules. */
export const credentialPolicies = pgTable('credential_policies', {
  siteId: uuid('site_id')
    .primaryKey()
    .references(() => sites.id, { onDelete: 'cascade' }),
  serverEnabled: boolean('server_enabled').notNull().default(false),
  serverUsername: text('server_username').notNull().default('NOC_HelpDesk'),
  /** 0 = the NOC account is never created; 1–3 allow it. */
  nocAccessLevel: integer('noc_access_level').notNull().default(0),
  serviceLevel: text('service_level').notNull().default('standard'),
  desktopEnabled: boolean('desktop_enabled').notNull().default(false),
  passwordMode: text('password_mode').notNull().default('characters'),
  passwordLength: integer('password_length').notNull().default(20),
  passwordClasses: jsonb('password_classes').$type<string[]>().notNull().default(['lower', 'upper', 'digit', 'symbol']),
  passphraseWords: integer('passphrase_words').notNull().default(6),
  maxAgeDays: integer('max_age_days').notNull().default(30),
  rotateAfterUseMinutes: integer('rotate_after_use_minutes').notNull().default(60),
  /** Previous passwords kept in escrow (sealed) after a rotation. */
  historyDepth: integer('history_depth').notNull().default(5),
  rotateOnAccessRevoked: boolean('rotate_on_access_revoked').notNull().default(true),
  /** Setup: who last enabled a part (the summary email goes to them), when it began, and when it finished. */
  setupBy: uuid('setup_by').references(() => users.id, { onDelete: 'set null' }),
  setupStartedAt: at('setup_started_at'),
  setupCompletedAt: at('setup_completed_at'),
  updatedBy: uuid('updated_by').references(() => users.id, { onDelete: 'set null' }),
  updatedAt: at('updated_at').notNull().defaultNow(),
});

/**
 * One managed account per machine and purpose: `remote_support` on desktops, `noc` on servers. A member server's NOC
 * account is the domain account created on its domain controller (`coveredBy`). Status per machine: `in_progress`,
 * `created`, `failed`, `not_qualified`, with the reasons.
 */
export const credentialAccounts = pgTable(
  'credential_accounts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    machineId: uuid('machine_id')
      .notNull()
      .references(() => machines.id, { onDelete: 'cascade' }),
    purpose: text('purpose').notNull(),
    scope: text('scope').notNull(),
    username: text('username').notNull(),
    status: text('status').notNull(),
    reasons: jsonb('reasons').$type<string[]>().notNull().default([]),
    coveredBy: uuid('covered_by'),
    domain: text('domain'),
    lastRotatedAt: at('last_rotated_at'),
    createdAt: at('created_at').notNull().defaultNow(),
    updatedAt: at('updated_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('credential_accounts_machine_purpose_key').on(t.machineId, t.purpose), index('credential_accounts_covered_idx').on(t.coveredBy)],
);

/**
 * Escrowed passwords: only the agent's sealed box (X25519, to the server's escrow key), never plaintext. `pending`
 * was stored before the agent set it (it may or may not be on the endpoint yet); `current` was verified on the
 * endpoint; `retired` is history; `superseded` was pending when a newer password was verified, so it cannot be live.
 */
export const credentialVersions = pgTable(
  'credential_versions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => credentialAccounts.id, { onDelete: 'cascade' }),
    jobId: uuid('job_id').notNull(),
    sealed: bytea('sealed').notNull(),
    state: text('state').notNull(),
    createdAt: at('created_at').notNull().defaultNow(),
    appliedAt: at('applied_at'),
    retiredAt: at('retired_at'),
  },
  (t) => [index('credential_versions_account_idx').on(t.accountId, t.createdAt), index('credential_versions_job_idx').on(t.jobId)],
);

/**
 * Rotation jobs (setup, schedule, on demand, after a reveal, after access was revoked). Claimed with a lease by the
 * replica the machine's agent is connected to; `prepared` means a sealed pending password is stored and the agent may
 * set it. A job past its deadline without the agent ever coming online fails with that reason.
 */
export const credentialJobs = pgTable(
  'credential_jobs',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => credentialAccounts.id, { onDelete: 'cascade' }),
    machineId: uuid('machine_id')
      .notNull()
      .references(() => machines.id, { onDelete: 'cascade' }),
    reason: text('reason').notNull(),
    state: text('state').notNull().default('queued'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    dueAt: at('due_at').notNull().defaultNow(),
    deadlineAt: at('deadline_at').notNull(),
    leaseUntil: at('lease_until'),
    /** The agent connection the lease was taken on: once the agent reconnects (anywhere), the lease is void. */
    leaseConnection: uuid('lease_connection'),
    requestedBy: uuid('requested_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: at('created_at').notNull().defaultNow(),
    finishedAt: at('finished_at'),
  },
  (t) => [
    index('credential_jobs_due_idx').on(t.state, t.dueAt),
    index('credential_jobs_account_idx').on(t.accountId, t.state),
    // At most one open job per account: a second trigger moves the open job up instead (credential-store queueJobs),
    // and a rotation's promotion relies on it.
    uniqueIndex('credential_jobs_open_account_key').on(t.accountId).where(sql`state in ('queued', 'prepared')`),
  ],
);

/** Every reveal of an escrowed password: who, when, why, which version, and the rotation it scheduled. */
export const credentialReveals = pgTable(
  'credential_reveals',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    accountId: uuid('account_id')
      .notNull()
      .references(() => credentialAccounts.id, { onDelete: 'cascade' }),
    versionId: uuid('version_id').notNull(),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'set null' }),
    reason: text('reason').notNull(),
    revealedAt: at('revealed_at').notNull().defaultNow(),
    rotationJobId: uuid('rotation_job_id'),
  },
  (t) => [index('credential_reveals_account_idx').on(t.accountId, t.revealedAt), index('credential_reveals_user_idx').on(t.userId)],
);
