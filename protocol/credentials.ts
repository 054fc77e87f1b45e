import { Type, type Static } from '@sinclair/typebox';
import { fromBase64, SIGNATURE_BYTES, toBase64, verifySignature } from './identity.ts';
import { compile } from './validate.ts';

/**
 * Automatic credentials on the wire. A rotation is two commands so that a password exists in escrow before it exists
 * on the endpoint: `credentials.prepare` (the agent generates the password, seals it to the server's escrow key and
 * keeps it only in memory) and, once the server has stored that sealed copy durably, `credentials.apply` (the agent
 * sets it, verifies it against the account store and forgets it). The job inside `prepare` is signed by the server
 * key the agent pinned, like a session grant: it names the machine, the account and the escrow key to seal to.
 */

export const CharacterClass = Type.Union([Type.Literal('lower'), Type.Literal('upper'), Type.Literal('digit'), Type.Literal('symbol')]);
export type CharacterClass = Static<typeof CharacterClass>;

export const PasswordRules = Type.Union([
  Type.Object(
    {
      mode: Type.Literal('characters'),
      length: Type.Integer({ minimum: 12, maximum: 128 }),
      classes: Type.Array(CharacterClass, { minItems: 1, maxItems: 4, uniqueItems: true }),
    },
    { additionalProperties: false },
  ),
  Type.Object({ mode: Type.Literal('passphrase'), words: Type.Integer({ minimum: 4, maximum: 12 }) }, { additionalProperties: false }),
]);
export type PasswordRules = Static<typeof PasswordRules>;

/** The Remote Support account's name: Windows and macOS allow the space, Linux user names do not. */
export const remoteSupportAccountName = (os: string | null) => (os === 'linux' ? 'remote-support' : 'Remote Support');
export const REMOTE_SUPPORT_FULL_NAME = 'Remote Support';

/** Which account: the desktops' Remote Support account or the servers' NOC account, local or in the domain. */
export const ManagedAccount = Type.Object(
  {
    purpose: Type.Union([Type.Literal('remote_support'), Type.Literal('noc')]),
    name: Type.String({ minLength: 1, maxLength: 64 }),
    fullName: Type.String({ minLength: 1, maxLength: 128 }),
    scope: Type.Union([Type.Literal('local'), Type.Literal('domain')]),
  },
  { additionalProperties: false },
);
export type ManagedAccount = Static<typeof ManagedAccount>;

export const CredentialJobBody = Type.Object(
  {
    jobId: Type.String({ format: 'uuid', maxLength: 36 }),
    machineId: Type.String({ format: 'uuid', maxLength: 36 }),
    account: ManagedAccount,
    rules: PasswordRules,
    /** Create the account when it does not exist (setup); a rotation of an existing account never creates one. */
    create: Type.Boolean(),
    /** The server's X25519 escrow public key (base64): the only key the new password is sealed to. */
    escrowKey: Type.String({ minLength: 44, maxLength: 44 }),
    issuedAt: Type.String({ format: 'date-time', maxLength: 40 }),
    /** The agent refuses to prepare the job after this instant. */
    expiresAt: Type.String({ format: 'date-time', maxLength: 40 }),
  },
  { additionalProperties: false },
);
export type CredentialJobBody = Static<typeof CredentialJobBody>;

export const SignedCredentialJob = Type.Object(
  { body: Type.String({ minLength: 1, maxLength: 4096 }), signature: Type.String({ minLength: 1, maxLength: 100 }) },
  { additionalProperties: false },
);
export type SignedCredentialJob = Static<typeof SignedCredentialJob>;

export const EndpointPasswordPolicySchema = Type.Object(
  {
    minAgeDays: Type.Number({ minimum: 0 }),
    minLength: Type.Integer({ minimum: 0 }),
    maxLength: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
    minClasses: Type.Integer({ minimum: 0, maximum: 4 }),
    requiredClasses: Type.Array(CharacterClass, { maxItems: 4 }),
    rejectsAccountName: Type.Boolean(),
    historyLength: Type.Integer({ minimum: 0 }),
    sources: Type.Array(Type.String({ maxLength: 500 }), { maxItems: 50 }),
  },
  { additionalProperties: false },
);

export const AccountStateSchema = Type.Object(
  {
    name: Type.String({ maxLength: 256 }),
    id: Type.String({ maxLength: 256 }),
    fullName: Type.String({ maxLength: 256 }),
    managedBySteward: Type.Boolean(),
    admin: Type.Boolean(),
    enabled: Type.Boolean(),
  },
  { additionalProperties: false },
);

export const ServiceAccountUseSchema = Type.Object(
  {
    account: Type.String({ maxLength: 256 }),
    kind: Type.Union([Type.Literal('service'), Type.Literal('scheduled_task'), Type.Literal('systemd_unit'), Type.Literal('cron'), Type.Literal('launchd_job')]),
    name: Type.String({ maxLength: 512 }),
  },
  { additionalProperties: false },
);

/** What the agent found, for the server's qualification: the store's policy, the account as it is, name clashes. */
export const CredentialInspection = Type.Object(
  {
    /** The account backend for this scope, or null when this endpoint has none (then `problem` says why). */
    backend: Type.Union([Type.String({ maxLength: 32 }), Type.Null()]),
    problem: Type.Union([Type.String({ maxLength: 2000 }), Type.Null()]),
    policy: Type.Union([EndpointPasswordPolicySchema, Type.Null()]),
    account: Type.Union([AccountStateSchema, Type.Null()]),
    /** Services / tasks / units / jobs that run as this account name. */
    clashes: Type.Array(ServiceAccountUseSchema, { maxItems: 500 }),
    /** Whether a password from these rules passes the endpoint's policy (the generator's own check), and if not why. */
    rulesSatisfyPolicy: Type.Array(Type.String({ maxLength: 500 }), { maxItems: 20 }),
  },
  { additionalProperties: false },
);
export type CredentialInspection = Static<typeof CredentialInspection>;

const LABEL = Buffer.from('steward/credential-job/v1\n', 'utf8');
const bodyValidator = compile(CredentialJobBody);
const signedBytes = (json: Buffer) => Buffer.concat([LABEL, json]);

export function signCredentialJob(body: CredentialJobBody, sign: (message: Uint8Array) => Uint8Array): SignedCredentialJob {
  const json = Buffer.from(JSON.stringify(bodyValidator.parse(body)), 'utf8');
  return { body: json.toString('base64'), signature: toBase64(sign(signedBytes(json))) };
}

export class CredentialJobRefused extends Error {
  constructor(message: string) {
    super(`credential job refused: ${message}`);
    this.name = 'CredentialJobRefused';
  }
}

/** Signature by the pinned server key, shape, this machine, not expired. */
export function verifyCredentialJob(job: SignedCredentialJob, expected: { serverPublicKey: Uint8Array; machineId: string; now: Date }): CredentialJobBody {
  const signature = fromBase64(job.signature, SIGNATURE_BYTES);
  const json = Buffer.from(job.body, 'base64');
  if (!signature || json.toString('base64') !== job.body) throw new CredentialJobRefused('malformed encoding');
  if (!verifySignature(signedBytes(json), signature, expected.serverPublicKey)) throw new CredentialJobRefused("signature is not by this agent's server");
  let body: CredentialJobBody;
  try {
    body = bodyValidator.parse(JSON.parse(json.toString('utf8')));
  } catch (error) {
    throw new CredentialJobRefused(`invalid body (${(error as Error).message})`);
  }
  if (body.machineId !== expected.machineId) throw new CredentialJobRefused('issued for another machine');
  if (Date.parse(body.expiresAt) < expected.now.getTime()) throw new CredentialJobRefused('expired');
  return body;
}
