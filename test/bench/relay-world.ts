import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { enrollAgent, startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { createSiteWithToken, setupAdmin, waitFor, type Api } from '../helpers/api.ts';
import { streamUrl } from '../helpers/console.ts';
import { TEST_ROOT, type TestDatabase } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createBenchDatabase } from './server-process.ts';
import { TermClient } from './term-client.ts';

/**
 * Everything real for the relay benchmark: a Steward server in this process on a loopback port (PGlite in a temp
 * directory, or a throwaway `steward_bench_<random>` database on a loopback PostgreSQL), its first admin, and one
 * enrolled agent process (the source entry point under tsx, as the e2e tests run it) that is online.
 */
export interface RelayWorld {
  server: TestServer;
  api: Api;
  token: string;
  machineId: string;
  agent: AgentProcess;
  /** POST /api/v1/machines/:id/sessions; resolves when the 201 is in (the agent's link is attached by then). */
  openSession(cols?: number, rows?: number): Promise<string>;
  /** A console on the session's stream, authenticated with the admin's bearer token (no Origin: not a browser). */
  attach(sessionId: string): Promise<TermClient>;
  /** DELETE /api/v1/sessions/:id (the owner's kill): the relay ends it, the agent kills the shell. */
  endSession(sessionId: string): Promise<void>;
  close(): Promise<void>;
}

export async function startRelayWorld(opts: { db: 'pglite' | 'postgres'; pgUrl: string; env?: Record<string, string>; agentEnv?: Record<string, string> }): Promise<RelayWorld> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-bench-relay-'));
  const pg = opts.db === 'postgres' ? await createBenchDatabase(opts.pgUrl) : null;
  const db: TestDatabase = {
    backend: opts.db,
    dataDir: path.join(tmp, 'data'),
    databaseUrl: pg?.url ?? null,
    drop: async () => {
      await pg?.drop();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
  fs.mkdirSync(db.dataDir, { mode: 0o700 });
  let server: TestServer | null = null;
  let agent: AgentProcess | null = null;
  let stateDir: string | null = null;
  const close = async () => {
    await agent?.stop().catch(() => undefined);
    if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
    await server?.stop().catch(() => undefined);
    await db.drop().catch(() => undefined);
    // test/helpers/db.ts made a per-run directory when it was imported; this process never put anything in it.
    fs.rmSync(TEST_ROOT, { recursive: true, force: true });
  };
  try {
    server = await startTestServer({ backend: opts.db, db, env: opts.env });
    const { api, token } = await setupAdmin(server);
    const site = await createSiteWithToken(api);
    const enrolled = await enrollAgent(server.url, site.token);
    stateDir = enrolled.stateDir;
    // Inventory every hour, not every 2 s (the test default): a collection mid-measurement would be noise.
    agent = startAgent(enrolled.stateDir, { STEWARD_AGENT_INVENTORY_SECONDS: '3600', STEWARD_AGENT_LOG_LEVEL: 'warn', ...opts.agentEnv });
    await waitFor(async () => (await api.get(`/api/v1/machines/${enrolled.machineId}`)).body.online, 30_000, 'agent online');
    const world: RelayWorld = {
      server,
      api,
      token,
      machineId: enrolled.machineId,
      agent,
      async openSession(cols = 80, rows = 24) {
        const res = await api.post(`/api/v1/machines/${enrolled.machineId}/sessions`, { kind: 'terminal', cols, rows });
        if (res.status !== 201) throw new Error(`open session: HTTP ${res.status} ${JSON.stringify(res.body)}`);
        return res.body.id as string;
      },
      attach: (sessionId) => TermClient.open(streamUrl(server!.url, sessionId), { authorization: `Bearer ${token}` }),
      async endSession(sessionId) {
        const res = await api.delete(`/api/v1/sessions/${sessionId}`);
        if (res.status !== 202 && res.status !== 409) throw new Error(`end session: HTTP ${res.status} ${JSON.stringify(res.body)}`);
      },
      close,
    };
    return world;
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * Times the server's `session.open` command round trips (verify grant, spawn the shell, dial and prove the link) by
 * wrapping ctx.agents.request in this process — a measuring hook only; the call itself is unchanged.
 */
export function timeAgentOpens(w: RelayWorld): { samples: number[]; restore(): void } {
  const agents = w.server.running.ctx.agents;
  const request = agents.request.bind(agents);
  const samples: number[] = [];
  agents.request = (async (machineId: string, name: string, params: never, timeoutMs?: number) => {
    const t0 = performance.now();
    try {
      return await request(machineId, name as never, params, timeoutMs);
    } finally {
      if (name === 'session.open') samples.push(performance.now() - t0);
    }
  }) as typeof agents.request;
  return { samples, restore: () => void (agents.request = request) };
}
