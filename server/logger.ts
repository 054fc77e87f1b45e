import pino, { type Logger } from 'pino';

/** Paths that may hold secrets anywhere in a log record; pino replaces them before the line is written. */
export const REDACTED_PATHS = [
  'password',
  '*.password',
  'setupToken',
  '*.setupToken',
  'token',
  '*.token',
  'enrollmentToken',
  '*.enrollmentToken',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'secretKey',
  '*.secretKey',
];

export function createLogger(level: string): Logger {
  return pino({ level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, base: { service: 'steward-server' } });
}
