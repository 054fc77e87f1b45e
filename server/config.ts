import path from 'node:path';
import { DIST_INSTALLERS_DIR } from '../installers/build/paths.ts';

/** Server configuration, read once from the environment. Bad values stop start-up with a message naming the variable. */
export interface Config {
  host: string;
  port: number;
  /** Embedded PGlite lives here (and the setup token, the master key file when no STEWARD_MASTER_KEY is given). */
  dataDir: string;
  /** Real PostgreSQL when set; otherwise the embedded PGlite database in dataDir. */
  databaseUrl: string | null;
  tls: { certFile: string; keyFile: string } | null;
  /** Base64 32-byte key sealing secrets at rest; when null, dataDir/master.key is used (created 0600 if missing). */
  masterKey: string | null;
  heartbeatSeconds: number;
  /** Agents silent for this many heartbeat intervals are closed and marked offline. */
  missedHeartbeats: number;
  logLevel: string;
  /** Agent handshakes in progress at once; more upgrades are answered 503 so a reconnect storm cannot drown the server. */
  maxPendingHandshakes: number;
  /** Lifetime of a console/API login token. */
  loginTokenHours: number;
  /** The address users reach the console at, for links in emails (STEWARD_PUBLIC_URL; default from HOST/PORT). */
  publicUrl: string;
  /**
   * Whether STEWARD_PUBLIC_URL was given. When not, publicUrl is only a guess from HOST/PORT (often 127.0.0.1), so
   * the installers the server hands out name the server by the Host the admin downloaded them from instead.
   */
  publicUrlConfigured: boolean;
  /** The agent installers built by `npm run package` (STEWARD_INSTALLERS_DIR; default dist/installers of this checkout). */
  installersDir: string;
  /** SMTP for outgoing mail (STEWARD_SMTP_URL, e.g. smtp://user:pass@mail.example.com:587); null = write to dataDir/outbox. */
  smtpUrl: string | null;
  /** The From address of outgoing mail. */
  mailFrom: string;
  /**
   * Reverse proxies whose X-Forwarded-For is believed (STEWARD_TRUST_PROXY: addresses, CIDRs or `loopback`), so
   * throttling, lockout prevention and the audit log see the real client address; null = trust none.
   */
  trustProxy: string[] | null;
  /** How often live sessions are re-authorized without a notification, and their relays prove life. */
  sessionTickSeconds: number;
  /**
   * How other replicas reach this one (consoles are carried to the replica relaying their session): STEWARD_REPLICA_URL,
   * else the listen address. Set it when several replicas share a database and listen on 0.0.0.0.
   */
  replicaUrl: string | null;
  /** How often the credential worker plans new machines, queues due rotations and runs the jobs of its agents. */
  credentialTickSeconds: number;
  /** A session nobody is attached to ends after this long. */
  sessionUnattendedSeconds: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got '${raw}'`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function proxyList(raw: string | undefined): string[] | null {
  if (!raw) return null;
  const list = raw.split(',').map((entry) => entry.trim()).filter(Boolean);
  const bad = list.find((entry) => !/^(loopback|linklocal|uniquelocal|[0-9a-fA-F:.]+(\/\d{1,3})?)$/.test(entry));
  if (bad) throw new ConfigError(`STEWARD_TRUST_PROXY must list proxy addresses or CIDRs (or loopback), got '${bad}'`);
  return list;
}

export function loadConfig(env: Env = process.env): Config {
  const certFile = env.STEWARD_TLS_CERT || null;
  const keyFile = env.STEWARD_TLS_KEY || null;
  if (Boolean(certFile) !== Boolean(keyFile)) {
    throw new ConfigError('STEWARD_TLS_CERT and STEWARD_TLS_KEY must be set together');
  }
  const databaseUrl = env.DATABASE_URL || null;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError(`DATABASE_URL must start with postgres:// or postgresql://`);
  }
  const masterKey = env.STEWARD_MASTER_KEY || null;
  if (masterKey && Buffer.from(masterKey, 'base64').length !== 32) {
    throw new ConfigError('STEWARD_MASTER_KEY must be 32 bytes, base64-encoded (e.g. `openssl rand -base64 32`)');
  }
  const logLevel = env.STEWARD_LOG_LEVEL || 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError(`STEWARD_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent`);
  }
  const publicUrl = (env.STEWARD_PUBLIC_URL || `${certFile ? 'https' : 'http'}://${env.HOST || '127.0.0.1'}:${env.PORT || 8080}`).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+/.test(publicUrl)) throw new ConfigError('STEWARD_PUBLIC_URL must be an http:// or https:// URL');
  const smtpUrl = env.STEWARD_SMTP_URL || null;
  if (smtpUrl && !/^smtps?:\/\//.test(smtpUrl)) throw new ConfigError('STEWARD_SMTP_URL must start with smtp:// or smtps://');
  return {
    host: env.HOST || '127.0.0.1',
    port: integer(env, 'PORT', 8080, 0, 65535),
    dataDir: path.resolve(env.STEWARD_DATA_DIR || './data'),
    databaseUrl,
    tls: certFile && keyFile ? { certFile, keyFile } : null,
    masterKey,
    heartbeatSeconds: integer(env, 'STEWARD_HEARTBEAT_SECONDS', 30, 1, 3600),
    missedHeartbeats: integer(env, 'STEWARD_MISSED_HEARTBEATS', 3, 2, 100),
    logLevel,
    maxPendingHandshakes: integer(env, 'STEWARD_MAX_PENDING_HANDSHAKES', 256, 1, 100_000),
    loginTokenHours: integer(env, 'STEWARD_LOGIN_TOKEN_HOURS', 12, 1, 24 * 30),
    publicUrl,
    publicUrlConfigured: Boolean(env.STEWARD_PUBLIC_URL),
    installersDir: path.resolve(env.STEWARD_INSTALLERS_DIR || DIST_INSTALLERS_DIR),
    smtpUrl,
    mailFrom: env.STEWARD_MAIL_FROM || 'Steward <steward@localhost>',
    trustProxy: proxyList(env.STEWARD_TRUST_PROXY),
    sessionTickSeconds: integer(env, 'STEWARD_SESSION_TICK_SECONDS', 5, 1, 60),
    credentialTickSeconds: integer(env, 'STEWARD_CREDENTIAL_TICK_SECONDS', 10, 1, 3600),
    replicaUrl: replicaUrl(env.STEWARD_REPLICA_URL),
    sessionUnattendedSeconds: integer(env, 'STEWARD_SESSION_UNATTENDED_SECONDS', 120, 5, 86_400),
  };
}

function replicaUrl(value: string | undefined): string | null {
  if (!value) return null;
  if (!/^https?:\/\/[^/]+$/.test(value.replace(/\/+$/, ''))) throw new ConfigError('STEWARD_REPLICA_URL must be an http:// or https:// origin, e.g. http://10.0.0.5:8080');
  return value.replace(/\/+$/, '');
}
