import { CloseCode } from '../protocol/close-codes.ts';

/**
 * Domain errors. Services throw these; they are mapped to HTTP statuses (server/http/error-handler.ts) and close
 * codes in one place each. Their messages are written for the client: no SQL, no stack, no secrets.
 */
export class DomainError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export class Invalid extends DomainError {
  constructor(message: string) {
    super(400, 'invalid', message);
  }
}
export class Unauthenticated extends DomainError {
  constructor(message = 'authentication required', code = 'unauthenticated') {
    super(401, code, message);
  }
}
export class Forbidden extends DomainError {
  constructor(message = 'not allowed') {
    super(403, 'forbidden', message);
  }
}
export class NotFound extends DomainError {
  constructor(message = 'not found') {
    super(404, 'not_found', message);
  }
}
export class Conflict extends DomainError {
  constructor(message: string) {
    super(409, 'conflict', message);
  }
}
export class TooManyRequests extends DomainError {
  constructor(message: string, retryAfterSeconds: number) {
    super(429, 'too_many_requests', message, { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) });
  }
}
export class Unavailable extends DomainError {
  constructor(message: string, code = 'unavailable') {
    super(503, code, message);
  }
}

/** Close code for an error raised while serving an agent connection. */
export function closeCodeFor(error: unknown): number {
  if (error instanceof DomainError) {
    if (error.status === 401) return CloseCode.authenticationFailed;
    if (error.status === 403 || error.status === 409) return CloseCode.enrollmentRefused;
    if (error.status === 404) return CloseCode.machineUnknown;
    if (error.status === 400) return CloseCode.invalidMessage;
  }
  return CloseCode.internalError;
}
