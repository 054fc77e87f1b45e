import { bigint, boolean, index, integer, jsonb, pgTable, primaryKey, text, uuid } from 'drizzle-orm/pg-core';
import { at, bytea } from './columns.ts';
import { users, machines, sites } from './schema.ts';

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
