import { Type, type Static } from '@sinclair/typebox';
import { fromBase64, SIGNATURE_BYTES, toBase64, verifySignature } from './identity.ts';
import { compile } from './validate.ts';

/**
 * The end user's part in a session on a desktop: `notify` tells them, `require` asks them and the session starts only
 * on Allow. `requester` is the name they are shown. `whenNobody` decides a `require` session when nobody is logged
 * on to ask: `deny` (the default) keeps the desktop closed, `allow` lets unattended maintenance through.
 */
export const SessionConsent = Type.Object(
  {
    mode: Type.Union([Type.Literal('none'), Type.Literal('notify'), Type.Literal('require')]),
    requester: Type.String({ minLength: 1, maxLength: 200 }),
    whenNobody: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
  },
  { additionalProperties: false },
);
export type SessionConsent = Static<typeof SessionConsent>;

/** What happened with the end user before the shell started; refusals come back as a `consent_refused` error. */
export const ConsentOutcome = Type.Object(
  {
    outcome: Type.Union([
      Type.Literal('not_required'),
      Type.Literal('notified'),
      /** Someone was logged on but no notice could be delivered; the session went ahead (notify never blocks). */
      Type.Literal('not_delivered'),
      Type.Literal('nobody_logged_on'),
      Type.Literal('allowed'),
    ]),
    /** Who was notified, or who allowed it. */
    users: Type.Array(Type.String({ maxLength: 200 }), { maxItems: 50 }),
  },
  { additionalProperties: false },
);
export type ConsentOutcome = Static<typeof ConsentOutcome>;

/** How long the end user has to answer a consent dialog; no answer is a refusal. */
export const CONSENT_TIMEOUT_MS = 30_000;

/**
 * A session grant: the server's signed statement that one user may open one session on one machine, now. The agent
 * checks it itself before it spawns anything (signature by the server key it pinned at enrollment, its own machine
 * id, the start window, a session id never seen before), so a server that skipped its own authorization check could
 * still not open a shell with a forged, replayed, expired or other-machine grant.
 */
export const SessionGrantBody = Type.Object(
  {
    sessionId: Type.String({ format: 'uuid', maxLength: 36 }),
    machineId: Type.String({ format: 'uuid', maxLength: 36 }),
    userId: Type.String({ format: 'uuid', maxLength: 36 }),
    kind: Type.Literal('terminal'),
    /** Whose account the shell runs as: the agent's own service account, or the site's Remote Support account. */
    runAs: Type.Union([Type.Literal('agent'), Type.Literal('remote_support')]),
    /** Whether file transfer is allowed in this session (the `files` right). */
    files: Type.Boolean(),
    issuedAt: Type.String({ format: 'date-time', maxLength: 40 }),
    /** The agent refuses to start the session after this instant. */
    startBy: Type.String({ format: 'date-time', maxLength: 40 }),
    /** The agent ends the session at this instant (approved sessions have a maximum duration); null = no limit. */
    endsAt: Type.Union([Type.String({ format: 'date-time', maxLength: 40 }), Type.Null()]),
    /** What the logged-on end user is told or asked before the shell starts (the site's desktop consent policy). */
    consent: SessionConsent,
  },
  { additionalProperties: false },
);
export type SessionGrantBody = Static<typeof SessionGrantBody>;

/** The wire form: the exact JSON bytes that were signed (base64), and the Ed25519 signature over them. */
export const SignedSessionGrant = Type.Object(
  { body: Type.String({ minLength: 1, maxLength: 4096 }), signature: Type.String({ minLength: 1, maxLength: 100 }) },
  { additionalProperties: false },
);
export type SignedSessionGrant = Static<typeof SignedSessionGrant>;

/** How long a grant may wait before the agent starts it. Short: a grant is used at once or not at all. */
export const GRANT_START_WINDOW_MS = 60_000;
/** Clock difference between server and agent that the agent tolerates on `issuedAt`/`startBy`. */
export const GRANT_CLOCK_SKEW_MS = 120_000;

const LABEL = Buffer.from('steward/session-grant/v1\n', 'utf8');
const bodyValidator = compile(SessionGrantBody);

/** The bytes signed: a label (a grant signature can never pass for a handshake proof) and the body's JSON. */
function signedBytes(json: Buffer): Uint8Array {
  return Buffer.concat([LABEL, json]);
}

export function signSessionGrant(body: SessionGrantBody, sign: (message: Uint8Array) => Uint8Array): SignedSessionGrant {
  const json = Buffer.from(JSON.stringify(bodyValidator.parse(body)), 'utf8');
  return { body: json.toString('base64'), signature: toBase64(sign(signedBytes(json))) };
}

/** Why the agent refused a grant; the message goes back to the server and into its audit log. */
export class GrantRefused extends Error {
  constructor(message: string) {
    super(`session grant refused: ${message}`);
    this.name = 'GrantRefused';
  }
}

/**
 * Verifies signature, shape, machine and time window. Replay (a session id already used) is the caller's check,
 * because only the caller keeps the memory of used ids.
 */
export function verifySessionGrant(
  grant: SignedSessionGrant,
  expected: { serverPublicKey: Uint8Array; machineId: string; now: Date },
): SessionGrantBody {
  const signature = fromBase64(grant.signature, SIGNATURE_BYTES);
  const json = Buffer.from(grant.body, 'base64');
  if (!signature || json.toString('base64') !== grant.body) throw new GrantRefused('malformed encoding');
  if (!verifySignature(signedBytes(json), signature, expected.serverPublicKey)) throw new GrantRefused('signature is not by this agent\'s server');
  let body: SessionGrantBody;
  try {
    body = bodyValidator.parse(JSON.parse(json.toString('utf8')));
  } catch (error) {
    throw new GrantRefused(`invalid body (${(error as Error).message})`);
  }
  if (body.machineId !== expected.machineId) throw new GrantRefused('issued for another machine');
  const now = expected.now.getTime();
  if (Date.parse(body.issuedAt) > now + GRANT_CLOCK_SKEW_MS) throw new GrantRefused('issued in the future (check the clocks)');
  if (Date.parse(body.startBy) + GRANT_CLOCK_SKEW_MS < now) throw new GrantRefused('expired');
  if (body.endsAt && Date.parse(body.endsAt) <= now) throw new GrantRefused('its maximum duration is over');
  return body;
}
