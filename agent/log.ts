import pino from 'pino';

export type Logger = pino.Logger;

/** The agent's structured log (JSON lines on stderr, so stdout stays for command output). */
export function createAgentLogger(level = process.env.STEWARD_AGENT_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    { level, base: { service: 'steward-agent' }, redact: { paths: ['enrollmentToken', '*.enrollmentToken', 'token', 'secretKey'], censor: '[redacted]' } },
    pino.destination(2),
  );
}
