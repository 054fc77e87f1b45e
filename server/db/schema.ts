import { sql } from 'drizzle-orm';
import {
  bigserial,
  boolean,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
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

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** Stored lower-cased; unique across technicians and client users alike. */
    email: text('email').notNull(),
    name: text('name').notNull(),
    passwordHash: text('password_hash').notNull(),
    role: text('role').notNull(),
    disabledAt: at('disabled_at'),
    createdAt: at('created_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('users_email_key').on(t.email)],
);

/** Bearer tokens (login sessions and, later, named API tokens); only the SHA-256 of the token is kept. */
export const authTokens = pgTable(
  'auth_tokens',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    tokenHash: text('token_hash').notNull(),
    kind: text('kind').notNull(),
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
  },
  (t) => [index('audit_events_at_idx').on(t.at), index('audit_events_target_idx').on(t.targetType, t.targetId)],
);

