import { startServer } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { DataDirLockedError } from './db/data-dir-lock.ts';
import { createLogger } from './logger.ts';
import { setupTokenFile } from './setup/setup-service.ts';

/** `npm start`: the control server, configured from the environment (see README). */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`steward: configuration error: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger(config.logLevel);
  let server;
  try {
    server = await startServer(config, log);
  } catch (error) {
    if (error instanceof DataDirLockedError) {
      process.stderr.write(`steward: ${error.message}\n`);
      process.exit(3);
    }
    log.fatal({ err: error }, 'server failed to start');
    process.exit(1);
  }
  if (server.setupToken) {
    process.stdout.write(
      `\n  First start: create the first Super Admin with this one-time setup token (also in ${setupTokenFile(config.dataDir)}):\n\n` +
        `    ${server.setupToken}\n\n` +
        `    curl -X POST ${server.url}/api/v1/setup -H 'content-type: application/json' \\\n` +
        `      -d '{"setupToken":"<token>","email":"you@example.com","name":"Your Name","password":"<12+ characters>"}'\n\n`,
    );
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    server
      .close()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        log.error({ err: error }, 'error during shutdown');
        process.exit(1);
      });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

void main();
