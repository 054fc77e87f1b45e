/**
 * WebSocket close codes used on the agent connection. 1009 (message too big) is sent by the `ws` library itself
 * when a frame exceeds MAX_FRAME_BYTES. Every close is logged by the side that closes.
 */
export const CloseCode = {
  /** Normal shutdown (server stopping, agent stopping). The agent reconnects. */
  normal: 1000,
  /** Server going away (restart). The agent reconnects. */
  goingAway: 1001,
  /** A frame larger than MAX_FRAME_BYTES. */
  tooBig: 1009,
  /** The message was not valid JSON, failed its schema, or arrived out of order. */
  invalidMessage: 4400,
  /** Handshake signature or key check failed (impersonation, replay, wrong server). */
  authenticationFailed: 4401,
  /** The enrollment token was unknown, expired, revoked or used up. */
  enrollmentRefused: 4403,
  /** The machine record is gone or disabled; the agent must be enrolled again. */
  machineUnknown: 4404,
  /** The peer missed its heartbeats. */
  heartbeatTimeout: 4408,
  /** A newer connection of the same agent replaced this one. */
  replaced: 4409,
  /** The handshake did not finish in time. */
  handshakeTimeout: 4410,
  /** Protocol version not supported. */
  unsupportedVersion: 4426,
  /** Unexpected server error; the agent reconnects. */
  internalError: 4500,
} as const;

export type CloseCodeName = keyof typeof CloseCode;

/** Close codes after which reconnecting cannot help; the agent stops and says why. */
export const FATAL_CLOSE_CODES: ReadonlySet<number> = new Set([CloseCode.machineUnknown, CloseCode.enrollmentRefused]);

export function closeCodeName(code: number): string {
  const entry = Object.entries(CloseCode).find(([, value]) => value === code);
  return entry ? entry[0] : `code ${code}`;
}
