import { Writable } from 'node:stream';
import pino from 'pino';
import { startServer, type RunningServer } from '../../server/app.ts';
import { loadConfig, type Config } from '../../server/config.ts';
import { REDACTED_PATHS } from '../../server/logger.ts';
import { createTestDatabase, type Backend, type TestDatabase } from './db.ts';

export const ADMIN = { email: 'admin@example.test', name: 'Ada Admin', password: 'correct horse battery staple' };

/** A real control server on a random loopback port, in this process, on its own database. Logs are captured. */
export interface TestServer {
  url: string;
  port: number;
  db: TestDatabase;
  config: Config;
  running: RunningServer;
  /** Every log line the server wrote, as parsed JSON. */
  logs: Record<string, unknown>[];
  /** Raw log text (for checking that secrets never appear). */
  logText(): string;
  /** Stops and starts the server again on the same port and database. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  close(): Promise<void>;
}

export async function startTestServer(opts: { backend: Backend; env?: Record<string, string>; db?: TestDatabase; port?: number } = { backend: 'pglite' }): Promise<TestServer> {
  const db = opts.db ?? (await createTestDatabase(opts.backend));
  const logs: Record<string, unknown>[] = [];
  let raw = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      raw += chunk.toString('utf8');
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const log = pino({ level: 'debug', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, sink);
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: String(opts.port ?? 0),
    STEWARD_DATA_DIR: db.dataDir,
    ...(db.databaseUrl ? { DATABASE_URL: db.databaseUrl } : {}),
    ...opts.env,
  });
  let running = await startServer(config, log);
  const server: TestServer = {
    url: running.url,
    port: running.port,
    db,
    config: { ...config, port: running.port },
    running,
    logs,
    logText: () => raw,
    async restart() {
      await running.close();
      running = await startServer(server.config, log);
      server.running = running;
    },
    stop: () => running.close(),
    async close() {
      await running.close();
      if (!opts.db) await db.drop();
    },
  };
  return server;
}
