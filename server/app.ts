import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import type { Logger } from 'pino';
import { AuditLog } from './audit/audit-log.ts';
import type { Config } from './config.ts';
import type { AppContext } from './context.ts';
import { openDatabase } from './db/open.ts';
import { createAgentGateway } from './gateway/agent-gateway.ts';
import { createConsoleStreamGateway } from './gateway/console-stream-gateway.ts';
import { createSessionLinkGateway } from './gateway/session-link-gateway.ts';
import { LiveSessions } from './sessions/live-sessions.ts';
import { AgentRegistry } from './gateway/agent-registry.ts';
import { installAuthentication } from './http/authenticate.ts';
import { ROUTES } from './routes.ts';
import { syncBuiltInRoles } from './roles/role-sync.ts';
import { installCanonicalPathGuard } from './http/canonical-path.ts';
import { installErrorHandling } from './http/error-handler.ts';
import { installValidation } from './http/validation.ts';
import { loadServerIdentity } from './identity/server-identity.ts';
import { loadMasterKey, sealingKey } from './secrets/sealing-key.ts';
import { escrowKeyFrom } from './credentials/escrow-key.ts';
import { RotationWorker } from './credentials/rotation-worker.ts';
import { ReplicaAuth } from './replicas/replica-auth.ts';
import { startOutboxWorker } from './notify/outbox-worker.ts';
import { prepareSetup } from './setup/setup-service.ts';
import { STEWARD_VERSION } from '../protocol/version.ts';

export interface RunningServer {
  url: string;
  port: number;
  ctx: AppContext;
  /** The one-time setup token when setup is still open, else null. */
  setupToken: string | null;
  /** The credential worker (tests and benchmarks run a round with `tick()`). */
  rotations: RotationWorker;
  close(): Promise<void>;
}

const BODY_LIMIT_BYTES = 1024 * 1024;

/** Builds and starts the control server: database, identity, REST API, agent gateway, presence timer. */
export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    const masterKey = loadMasterKey(config.masterKey, config.dataDir);
    const secrets = sealingKey(masterKey);
    const escrow = escrowKeyFrom(masterKey);
    const identity = await loadServerIdentity(database.db, secrets);
    await syncBuiltInRoles(database.db);
    const audit = new AuditLog(database.db, log);
    const replica = { url: config.replicaUrl ?? '' };
    const replicaAuth = new ReplicaAuth(masterKey);
    const agents = new AgentRegistry(database.db, audit, log, config.heartbeatSeconds, config.missedHeartbeats, { replica, auth: replicaAuth });
    const sessions = new LiveSessions(database.db, audit, log, { tickMs: config.sessionTickSeconds * 1000, unattendedMs: config.sessionUnattendedSeconds * 1000, stalledViewerMs: 30_000 });
    const ctx: AppContext = { config, db: database.db, driver: database.driver, log, audit, identity, secrets, escrow, agents, sessions, version: STEWARD_VERSION, replica, replicaAuth };

    const app = Fastify({
      loggerInstance: log as FastifyBaseLogger,
      bodyLimit: BODY_LIMIT_BYTES,
      https: config.tls ? { cert: fs.readFileSync(config.tls.certFile), key: fs.readFileSync(config.tls.keyFile) } : null,
      logController: new LogController({ disableRequestLogging: true }),
      trustProxy: config.trustProxy ?? false,
    }).withTypeProvider<TypeBoxTypeProvider>();

    await app.register(swagger, {
      openapi: {
        info: { title: 'Steward control server', version: STEWARD_VERSION },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
        security: [{ bearer: [] }],
      },
    });
    await app.register(cookie);
    installCanonicalPathGuard(app);
    installValidation(app);
    installErrorHandling(app);
    installAuthentication(app, ctx);
    for (const routes of ROUTES) await app.register(routes(ctx));
    app.get('/api/openapi.json', { schema: { hide: true, security: [] } }, async () => app.swagger());
    app.addHook('onResponse', async (request, reply) => {
      request.log.info({ method: request.method, url: request.url.split('?', 1)[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
    });

    const gateway = createAgentGateway(ctx);
    const sessionLinks = createSessionLinkGateway(ctx);
    const consoleStreams = createConsoleStreamGateway(ctx);
    const upgrades = [gateway, sessionLinks, consoleStreams];
    app.server.on('upgrade', (request, socket, head) => {
      if (!upgrades.some((endpoint) => endpoint.handleUpgrade(request, socket, head))) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      }
    });
    await sessions.start(database.listen);

    const setupToken = await prepareSetup(ctx);
    await app.listen({ host: config.host, port: config.port });
    agents.start();
    const outbox = startOutboxWorker(ctx);
    const rotations = new RotationWorker(ctx, { tickMs: config.credentialTickSeconds * 1000, batch: 2000, concurrency: 200 });
    rotations.start();
    const port = (app.server.address() as AddressInfo).port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const url = `${config.tls ? 'https' : 'http'}://${host}:${port}`;
    ctx.replica.url = config.replicaUrl ?? url;
    log.info({ url, db: database.driver, version: STEWARD_VERSION, serverKeyFingerprint: identity.fingerprint }, 'server listening');

    let closing: Promise<void> | null = null;
    return {
      url,
      port,
      ctx,
      setupToken,
      rotations,
      close: () =>
        (closing ??= (async () => {
          gateway.stopAccepting();
          sessionLinks.stopAccepting();
          await rotations.stop();
          await sessions.closeAll('server shutting down');
          await agents.closeAll();
          await Promise.all([gateway.close(), sessionLinks.close(), consoleStreams.close()]);
          await app.close();
          await outbox.stop();
          await audit.flush();
          await database.close();
        })()),
    };
  } catch (error) {
    await database.close();
    throw error;
  }
}
