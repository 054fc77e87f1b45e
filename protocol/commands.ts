import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { InventorySchema } from './inventory.ts';
import { CredentialInspection, ManagedAccount, PasswordRules, SignedCredentialJob } from './credentials.ts';
import { ConsentOutcome, SignedSessionGrant } from './session-grant.ts';

/**
 * Server → agent commands. Each has a params schema and a result schema; the agent keeps one handler per command in
 * its own file (agent/commands/), and the server validates every result against the schema here.
 */
export const commands = {
  'inventory.collect': {
    params: Type.Object({}, { additionalProperties: false }),
    result: InventorySchema,
  },
  'agent.ping': {
    params: Type.Object({ echo: Type.String({ maxLength: 256 }) }, { additionalProperties: false }),
    result: Type.Object({ echo: Type.String({ maxLength: 256 }), agentTime: Type.String({ maxLength: 40 }) }),
  },
  /**
   * Open a remote session: the agent verifies the grant, spawns the terminal and dials its session link
   * (AGENT_SESSION_PATH); it answers once the link is attached, or refuses with the reason.
   */
  'session.open': {
    params: Type.Object(
      { grant: SignedSessionGrant, cols: Type.Integer({ minimum: 1, maximum: 1000 }), rows: Type.Integer({ minimum: 1, maximum: 1000 }) },
      { additionalProperties: false },
    ),
    result: Type.Object(
      { shell: Type.String({ maxLength: 500 }), pid: Type.Integer({ minimum: 0 }), consent: ConsentOutcome },
      { additionalProperties: false },
    ),
  },
  /** What the endpoint says about one managed account: its store's policy, the account as it is, name clashes. */
  'credentials.inspect': {
    params: Type.Object({ account: ManagedAccount, rules: PasswordRules }, { additionalProperties: false }),
    result: CredentialInspection,
  },
  /**
   * Generate a password for the signed job and answer with it sealed to the job's escrow key. The agent keeps the
   * plaintext only in memory until `credentials.apply` (or until the job expires); nothing on the endpoint changes.
   */
  'credentials.prepare': {
    params: Type.Object({ job: SignedCredentialJob }, { additionalProperties: false }),
    result: Type.Object(
      { jobId: Type.String({ format: 'uuid', maxLength: 36 }), sealed: Type.String({ minLength: 1, maxLength: 2048 }) },
      { additionalProperties: false },
    ),
  },
  /** Set the prepared password (creating the account on setup), make sure it is an admin, verify it, forget it. */
  'credentials.apply': {
    params: Type.Object({ jobId: Type.String({ format: 'uuid', maxLength: 36 }) }, { additionalProperties: false }),
    result: Type.Object(
      { jobId: Type.String({ format: 'uuid', maxLength: 36 }), created: Type.Boolean(), admin: Type.Boolean(), verified: Type.Literal(true) },
      { additionalProperties: false },
    ),
  },
} as const satisfies Record<string, { params: TSchema; result: TSchema }>;

export type CommandName = keyof typeof commands;
export type CommandParams<N extends CommandName> = Static<(typeof commands)[N]['params']>;
export type CommandResult<N extends CommandName> = Static<(typeof commands)[N]['result']>;

export const commandNames = Object.keys(commands) as CommandName[];

/** Error codes an agent may answer a command with. */
export const CommandErrorCode = Type.Union([
  Type.Literal('unknown_command'),
  Type.Literal('invalid_params'),
  Type.Literal('failed'),
  Type.Literal('refused'),
  /** The end user denied a session, did not answer, or could not be asked (the message says which). */
  Type.Literal('consent_refused'),
  /** `credentials.apply` for a job this agent process never prepared (it restarted) or already forgot. */
  Type.Literal('job_unknown'),
]);
export type CommandErrorCode = Static<typeof CommandErrorCode>;
