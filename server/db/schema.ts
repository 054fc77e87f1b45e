import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  check,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  primaryKey,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

/** The whole database schema: one definition for PGlite and PostgreSQL. Migrations are generated from it. */

const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => 'bytea',
  fromDriver: (value) => new Uint8Array(value),
});
const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

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

/**
 * Remote sessions. The row is the session's truth for every replica: who opened it on which machine, its state, the
 * replica relaying it (`relayHeartbeatAt` is refreshed by that replica; a stale one means the relay died and the
 * session is swept to `ended`). Status: `starting` → `active` → `ended`, or `failed` when the agent refused or
 * never attached; where the site requires approval it begins `awaiting_approval`, then `approved` or `denied`.
 */
export const sessions = pgTable(
  'sessions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    machineId: uuid('machine_id')
      .notNull()
      .references(() => machines.id, { onDelete: 'cascade' }),
    /** The owner: the user the grant was issued to. */
    userId: uuid('user_id').references(() => users.id, { onDelete: 'set null' }),
    /** The sign-in the owner requested it with: re-checked on every access change, attached or not. */
    ownerTokenId: uuid('owner_token_id'),
    kind: text('kind').notNull().default('terminal'),
    status: text('status').notNull(),
    runAs: text('run_as').notNull().default('agent'),
    /** The session may transfer files (the owner held the `files` right when it was granted). */
    files: boolean('files').notNull().default(false),
    /** The end user's part on a desktop: `not_required`, `notified`, `not_delivered`, `nobody_logged_on`, `allowed`, `refused`. */
    consentOutcome: text('consent_outcome'),
    cols: integer('cols').notNull(),
    rows: integer('rows').notNull(),
    requestedAt: at('requested_at').notNull().defaultNow(),
    startedAt: at('started_at'),
    endedAt: at('ended_at'),
    endReason: text('end_reason'),
    exitCode: integer('exit_code'),
    /** The session's maximum duration, when one applies (approved sessions); the agent enforces it too. */
    endsAt: at('ends_at'),
    /** Approval (site policy "sessions on servers require approval"): who decided, when, and why. */
    decidedBy: uuid('decided_by').references(() => users.id, { onDelete: 'set null' }),
    decidedAt: at('decided_at'),
    decisionReason: text('decision_reason'),
    /** Asked to end (an admin's kill, revocation): the relaying replica ends it and writes the outcome. */
    endRequestedAt: at('end_requested_at'),
    relayHeartbeatAt: at('relay_heartbeat_at'),
    /** Where the session is relayed: the replica holding the agent's link; consoles on other replicas are proxied there. */
    relayUrl: text('relay_url'),
    requestedFrom: text('requested_from'),
  },
  (t) => [index('sessions_machine_idx').on(t.machineId, t.requestedAt), index('sessions_user_idx').on(t.userId), index('sessions_status_idx').on(t.status)],
);

/** Everyone who attached to a session, when, and in which role (`owner`, `participant`, `observer`). */
export const sessionParticipants = pgTable(
  'session_participants',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    sessionId: uuid('session_id')
      .notNull()
      .references(() => sessions.id, { onDelete: 'cascade' }),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'set null' }),
    role: text('role').notNull(),
    joinedAt: at('joined_at').notNull().defaultNow(),
    leftAt: at('left_at'),
    leftReason: text('left_reason'),
    address: text('address'),
    /** Input frames dropped because this participant was an observer. */
    droppedInputs: integer('dropped_inputs').notNull().default(0),
  },
  (t) => [index('session_participants_session_idx').on(t.sessionId)],
);

/**
 * Session recordings (asciicast v2), kept in the database so every replica can serve them and nothing lives on one
 * server's disk. The index row outlives the machine and user (their names are copied), so an audit years later still
 * reads; site and client ids are kept to authorize playback. The cast itself is a series of gzip members
 * (recording_chunks), whose concatenation is one valid .cast.gz.
 */
export const recordings = pgTable(
  'recordings',
  {
    /** The session's id. */
    id: uuid('id').primaryKey(),
    machineId: uuid('machine_id').notNull(),
    hostname: text('hostname'),
    siteId: uuid('site_id').notNull(),
    clientId: uuid('client_id').notNull(),
    userId: uuid('user_id'),
    userName: text('user_name'),
    startedAt: at('started_at').notNull(),
    endedAt: at('ended_at'),
    cols: integer('cols').notNull(),
    rows: integer('rows').notNull(),
    /** Keystrokes are recorded too (site policy), not only output. */
    inputRecorded: boolean('input_recorded').notNull().default(false),
    /** Size of the uncompressed cast, and of what is stored. */
    bytes: bigint('bytes', { mode: 'number' }).notNull().default(0),
    storedBytes: bigint('stored_bytes', { mode: 'number' }).notNull().default(0),
    chunks: integer('chunks').notNull().default(0),
    /** Everyone who attached: [{userId, name, role, joinedAt}]. */
    participants: jsonb('participants').$type<{ userId: string; name: string; role: string; joinedAt: string }[]>().notNull().default([]),
  },
  (t) => [index('recordings_machine_idx').on(t.machineId, t.startedAt), index('recordings_user_idx').on(t.userId)],
);

export const recordingChunks = pgTable(
  'recording_chunks',
  {
    recordingId: uuid('recording_id')
      .notNull()
      .references(() => recordings.id, { onDelete: 'cascade' }),
    seq: integer('seq').notNull(),
    /** One gzip member of the cast. */
    data: bytea('data').notNull(),
  },
  (t) => [primaryKey({ columns: [t.recordingId, t.seq] })],
);

/**
 * A site's session policy. Missing row = the defaults (sessions start unattended, no approval, shell as the agent's
 * account, output recorded but not keystrokes).
 */
export const siteSessionPolicies = pgTable('site_session_policies', {
  siteId: uuid('site_id')
    .primaryKey()
    .references(() => sites.id, { onDelete: 'cascade' }),
  /** On desktops: `none`, `notify` the logged-in user, or `require` their consent. */
  desktopConsent: text('desktop_consent').notNull().default('none'),
  /** When consent is required and nobody is logged on to give it: `deny` (keep the desktop closed) or `allow`. */
  consentWhenNobody: text('consent_when_nobody').notNull().default('deny'),
  /** Sessions on servers wait for a user with sessions.approve over the machine. */
  serverApproval: boolean('server_approval').notNull().default(false),
  /** How long an approved session may last. */
  approvalMaxMinutes: integer('approval_max_minutes').notNull().default(60),
  /** Whose account the shell runs as: `agent` (the service account) or `remote_support`. */
  runAs: text('run_as').notNull().default('agent'),
  recordInput: boolean('record_input').notNull().default(false),
  updatedBy: uuid('updated_by').references(() => users.id, { onDelete: 'set null' }),
  updatedAt: at('updated_at').notNull().defaultNow(),
});

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
  (t) => [index('credential_jobs_due_idx').on(t.state, t.dueAt), index('credential_jobs_account_idx').on(t.accountId, t.state)],
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
