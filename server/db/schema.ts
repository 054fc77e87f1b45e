import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  primaryKey,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

import { at, bytea } from './columns.ts';

/**
 * The whole database schema: one definition for PGlite and PostgreSQL. Migrations are generated from it. The core
 * tables are here; sessions and credentials have files of their own, re-exported at the end.
 */


/** Single-row facts about this installation (id is always 1). */
export const installation = pgTable('installation', {
  id: integer('id').primaryKey().default(1),
  setupTokenHash: text('setup_token_hash'),
  setupCompletedAt: at('setup_completed_at'),
  /** The server's Ed25519 identity: public key in clear, secret key sealed with the master key. */
  serverPublicKey: bytea('server_public_key').notNull(),
  serverSecretKeySealed: bytea('server_secret_key_sealed').notNull(),
  createdAt: at('created_at').notNull().defaultNow(),
});

/**
 * Roles: the five built-ins (kept in step with server/access/roles.ts at every start) and custom ones. `scope` says
 * how far the role reaches: `global` (every client), `granted` (client access, site access and assignments) or
 * `assigned` (assigned machines only).
 */
export const roles = pgTable(
  'roles',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    permissions: jsonb('permissions').$type<string[]>().notNull(),
    scope: text('scope').notNull(),
    builtIn: boolean('built_in').notNull().default(false),
    requireMfa: boolean('require_mfa').notNull().default(false),
    createdBy: uuid('created_by'),
    createdAt: at('created_at').notNull().defaultNow(),
    updatedAt: at('updated_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('roles_name_key').on(sql`lower(${t.name})`)],
);

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** Stored lower-cased; unique across technicians and client users alike. */
    email: text('email').notNull(),
    name: text('name').notNull(),
    /** `technician` (MSP staff) or `client_user` (a contact of exactly one client). */
    kind: text('kind').notNull().default('technician'),
    clientId: uuid('client_id').references(() => clients.id, { onDelete: 'restrict' }),
    /** Null until a password is set (an invited user sets it through the emailed link). */
    passwordHash: text('password_hash'),
    role: text('role')
      .notNull()
      .references(() => roles.id, { onDelete: 'restrict' }),
    /** "Allow Remote Control Access": off means no session on any machine, whatever else is granted. */
    allowRemoteControl: boolean('allow_remote_control').notNull().default(false),
    /** TOTP secret sealed with the master key; the pending one waits for a confirming code. */
    mfaSecretSealed: bytea('mfa_secret_sealed'),
    mfaPendingSecretSealed: bytea('mfa_pending_secret_sealed'),
    mfaEnabledAt: at('mfa_enabled_at'),
    /** Last accepted TOTP time step: a code is accepted once. */
    mfaLastStep: bigint('mfa_last_step', { mode: 'number' }),
    disabledAt: at('disabled_at'),
    passwordChangedAt: at('password_changed_at'),
    lastLoginAt: at('last_login_at'),
    createdAt: at('created_at').notNull().defaultNow(),
    updatedAt: at('updated_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('users_email_key').on(t.email),
    index('users_client_idx').on(t.clientId),
    check('users_kind_client_check', sql`(${t.kind} = 'technician' and ${t.clientId} is null) or (${t.kind} = 'client_user' and ${t.clientId} is not null)`),
  ],
);

/** One-time MFA recovery codes (SHA-256 of each; a used code is marked, never reused). */
export const mfaRecoveryCodes = pgTable(
  'mfa_recovery_codes',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    codeHash: text('code_hash').notNull(),
    usedAt: at('used_at'),
    createdAt: at('created_at').notNull().defaultNow(),
  },
  (t) => [index('mfa_recovery_codes_user_idx').on(t.userId)],
);

/**
 * Bearer tokens: `login` (API login), `console` (the HttpOnly cookie session) and `api` (named, scoped API tokens).
 * Only the SHA-256 of a token is kept. An API token's `permissions`/`siteIds` narrow what its user holds (null = no
 * narrowing); `mfaVerifiedAt` is set when the token was issued after a second factor.
 */
export const authTokens = pgTable(
  'auth_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    tokenHash: text('token_hash').notNull(),
    kind: text('kind').notNull(),
    name: text('name'),
    permissions: jsonb('permissions').$type<string[]>(),
    siteIds: jsonb('site_ids').$type<string[]>(),
    mfaVerifiedAt: at('mfa_verified_at'),
    createdAt: at('created_at').notNull().defaultNow(),
    expiresAt: at('expires_at').notNull(),
    revokedAt: at('revoked_at'),
    lastUsedAt: at('last_used_at'),
    createdFrom: text('created_from'),
  },
  (t) => [uniqueIndex('auth_tokens_hash_key').on(t.tokenHash), index('auth_tokens_user_idx').on(t.userId)],
);

/** Failed-login counters per account and per address, shared by every replica. */
export const loginThrottle = pgTable('login_throttle', {
  key: text('key').primaryKey(),
  failures: integer('failures').notNull(),
  windowStartedAt: at('window_started_at').notNull(),
  lockedUntil: at('locked_until'),
});

export const clients = pgTable(
  'clients',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    /** Client policy: every client user of this client must use MFA. */
    requireMfa: boolean('require_mfa').notNull().default(false),
    createdAt: at('created_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('clients_name_key').on(sql`lower(${t.name})`)],
);

export const sites = pgTable(
  'sites',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    clientId: uuid('client_id')
      .notNull()
      .references(() => clients.id, { onDelete: 'restrict' }),
    name: text('name').notNull(),
    createdAt: at('created_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('sites_client_name_key').on(t.clientId, sql`lower(${t.name})`)],
);

export const enrollmentTokens = pgTable(
  'enrollment_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    siteId: uuid('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    secretHash: text('secret_hash').notNull(),
    expiresAt: at('expires_at').notNull(),
    maxUses: integer('max_uses').notNull(),
    uses: integer('uses').notNull().default(0),
    revokedAt: at('revoked_at'),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    createdAt: at('created_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('enrollment_tokens_secret_key').on(t.secretHash), index('enrollment_tokens_site_idx').on(t.siteId)],
);

export const machines = pgTable(
  'machines',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    siteId: uuid('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'restrict' }),
    agentPublicKey: bytea('agent_public_key').notNull(),
    hostname: text('hostname'),
    kind: text('kind'),
    os: text('os'),
    domainRole: text('domain_role'),
    agentVersion: text('agent_version'),
    online: boolean('online').notNull().default(false),
    /** Identifies the live connection; a newer connection overwrites it, and the older one then closes. */
    connectionId: uuid('connection_id'),
    /** The replica holding that connection (its STEWARD_REPLICA_URL): other replicas send it commands through there. */
    connectedVia: text('connected_via'),
    connectedAt: at('connected_at'),
    lastSeenAt: at('last_seen_at'),
    lastAddress: text('last_address'),
    inventory: jsonb('inventory'),
    inventoryHash: text('inventory_hash'),
    inventoryAt: at('inventory_at'),
    enrolledAt: at('enrolled_at').notNull().defaultNow(),
    enrollmentTokenId: uuid('enrollment_token_id').references(() => enrollmentTokens.id, { onDelete: 'set null' }),
  },
  (t) => [
    uniqueIndex('machines_agent_key').on(t.agentPublicKey),
    index('machines_site_idx').on(t.siteId),
    index('machines_online_seen_idx').on(t.online, t.lastSeenAt),
  ],
);

/** What changed in a machine's inventory, one row per change (the first report included). */
export const inventoryChanges = pgTable(
  'inventory_changes',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    machineId: uuid('machine_id')
      .notNull()
      .references(() => machines.id, { onDelete: 'cascade' }),
    at: at('at').notNull().defaultNow(),
    hash: text('hash').notNull(),
    changes: jsonb('changes').notNull(),
  },
  (t) => [index('inventory_changes_machine_idx').on(t.machineId, t.at)],
);

export const auditEvents = pgTable(
  'audit_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    at: at('at').notNull().defaultNow(),
    actorType: text('actor_type').notNull(),
    actorId: text('actor_id'),
    action: text('action').notNull(),
    outcome: text('outcome').notNull(),
    targetType: text('target_type'),
    targetId: text('target_id'),
    address: text('address'),
    details: jsonb('details'),
    /** Hash chain: hash = SHA-256(prevHash ‖ canonical event); a changed or removed row breaks every later link. */
    prevHash: text('prev_hash'),
    hash: text('hash'),
  },
  (t) => [
    index('audit_events_at_idx').on(t.at),
    index('audit_events_target_idx').on(t.targetType, t.targetId),
    index('audit_events_actor_idx').on(t.actorId),
    index('audit_events_action_idx').on(t.action),
  ],
);


/** Technician × client: covers every site of the client, present and future. */
export const clientAccess = pgTable(
  'client_access',
  {
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    clientId: uuid('client_id')
      .notNull()
      .references(() => clients.id, { onDelete: 'cascade' }),
    grantedBy: uuid('granted_by').references(() => users.id, { onDelete: 'set null' }),
    grantedAt: at('granted_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.clientId] }), index('client_access_client_idx').on(t.clientId)],
);

/** User × site with resource access `all` (all desktops and servers) or `limited` (the machines listed below). */
export const siteAccess = pgTable(
  'site_access',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    siteId: uuid('site_id')
      .notNull()
      .references(() => sites.id, { onDelete: 'cascade' }),
    resourceAccess: text('resource_access').notNull(),
    grantedBy: uuid('granted_by').references(() => users.id, { onDelete: 'set null' }),
    grantedAt: at('granted_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('site_access_user_site_key').on(t.userId, t.siteId), index('site_access_site_idx').on(t.siteId)],
);

export const siteAccessMachines = pgTable(
  'site_access_machines',
  {
    siteAccessId: uuid('site_access_id')
      .notNull()
      .references(() => siteAccess.id, { onDelete: 'cascade' }),
    machineId: uuid('machine_id')
      .notNull()
      .references(() => machines.id, { onDelete: 'cascade' }),
  },
  (t) => [primaryKey({ columns: [t.siteAccessId, t.machineId] }), index('site_access_machines_machine_idx').on(t.machineId)],
);

/** "Assign Machine": one machine to one user, with the session rights granted and an optional expiry. */
export const assignments = pgTable(
  'assignments',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    machineId: uuid('machine_id')
      .notNull()
      .references(() => machines.id, { onDelete: 'cascade' }),
    /** Session rights: any of `terminal`, `view_only`, `files`. */
    rights: jsonb('rights').$type<string[]>().notNull(),
    note: text('note'),
    expiresAt: at('expires_at'),
    assignedBy: uuid('assigned_by').references(() => users.id, { onDelete: 'set null' }),
    assignedAt: at('assigned_at').notNull().defaultNow(),
    updatedAt: at('updated_at').notNull().defaultNow(),
    /** Last time the assignment was used to reach the machine (set by sessions); drives the access review. */
    lastUsedAt: at('last_used_at'),
  },
  (t) => [uniqueIndex('assignments_user_machine_key').on(t.userId, t.machineId), index('assignments_machine_idx').on(t.machineId)],
);

/** Password reset and invitation links: single-use, expiring, only the SHA-256 kept. */
export const passwordResetTokens = pgTable(
  'password_reset_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    tokenHash: text('token_hash').notNull(),
    /** `reset` (forgot password) or `invite` (a new user sets a first password). */
    purpose: text('purpose').notNull(),
    expiresAt: at('expires_at').notNull(),
    usedAt: at('used_at'),
    createdAt: at('created_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('password_reset_tokens_hash_key').on(t.tokenHash), index('password_reset_tokens_user_idx').on(t.userId)],
);

/**
 * Outgoing email, written in the transaction that causes it and delivered by whichever replica claims it first.
 * The body may hold a secret link, so it is sealed with the master key.
 */
export const outboxMessages = pgTable(
  'outbox_messages',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    recipient: text('recipient').notNull(),
    subject: text('subject').notNull(),
    bodySealed: bytea('body_sealed').notNull(),
    purpose: text('purpose').notNull(),
    createdAt: at('created_at').notNull().defaultNow(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: at('next_attempt_at').notNull().defaultNow(),
    sentAt: at('sent_at'),
    lastError: text('last_error'),
  },
  (t) => [index('outbox_messages_pending_idx').on(t.sentAt, t.nextAttemptAt)],
);

export * from './schema-sessions.ts';
export * from './schema-credentials.ts';
