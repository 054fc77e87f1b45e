import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { expect } from 'vitest';
import type { CrashPointName } from '../../protocol/crash-point.ts';
import { escrowKeyFrom } from '../../server/credentials/escrow-key.ts';
import { enrollAgent, startAgent, type AgentProcess } from './agent-process.ts';
import { apiClient, ADMIN, createSiteWithToken, type Api, waitFor } from './api.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { startServerProcess, type ServerProcess } from './server-process.ts';

/**
 * The rotation's crash-safety rig: a server process on real PostgreSQL and an agent process on a real account store,
 * each started with STEWARD_CRASH_FILE. A run arms one crash point, asks for a rotation, waits for the process to
 * die there (SIGKILL), checks that an escrowed password opens the account while it is down, restarts it, and waits
 * for the rotation to finish. The escrow is read straight from the database and opened with the escrow key derived
 * from the master key the test gave the server — exactly what an operator holds.
 */
export interface AccountStore {
  /** Agent environment that points it at the store (and reports the machine kind). */
  agentEnv: Record<string, string>;
  kind: 'desktop' | 'server';
  purpose: 'remote_support' | 'noc';
  policy: Record<string, unknown>;
  opens(password: string): Promise<boolean>;
}

export interface CrashWorld {
  api: Api;
  machineId: string;
  /** One crash run; returns how long the process took to die and the job to finish. */
  run(point: CrashPointName): Promise<void>;
  close(): Promise<void>;
}

export async function startCrashWorld(store: AccountStore): Promise<CrashWorld> {
  const dir = mkdtempSync(path.join(tmpdir(), 'steward-crash-'));
  const db: TestDatabase = await createTestDatabase('postgres');
  const masterKey = randomBytes(32);
  const escrow = escrowKeyFrom(masterKey);
  const crashFile = { server: path.join(dir, 'server-crash'), agent: path.join(dir, 'agent-crash') };
  const serverEnv = {
    DATABASE_URL: db.databaseUrl as string,
    STEWARD_DATA_DIR: db.dataDir,
    STEWARD_MASTER_KEY: masterKey.toString('base64'),
    STEWARD_CREDENTIAL_TICK_SECONDS: '1',
    STEWARD_CRASH_FILE: crashFile.server,
  };
  const sql = postgres(db.databaseUrl as string, { max: 2, onnotice: () => {} });

  let server: ServerProcess = startServerProcess(serverEnv);
  let url = await server.listening;
  // Restarts keep the port: the agent reconnects to the URL it enrolled with.
  Object.assign(serverEnv, { PORT: new URL(url).port });
  const anon = apiClient(url);
  const setupToken = readFileSync(path.join(db.dataDir, 'setup-token'), 'utf8').trim();
  expect((await anon.post('/api/v1/setup', { setupToken, ...ADMIN })).status).toBe(201);
  const login = await anon.post('/api/v1/auth/login', { email: ADMIN.email, password: ADMIN.password });
  let api = apiClient(url, login.body.token);
  const site = await createSiteWithToken(api);
  const enrolled = await enrollAgent(url, site.token);
  const agentEnv = { ...store.agentEnv, STEWARD_AGENT_KIND: store.kind, STEWARD_AGENT_INVENTORY_SECONDS: '3600', STEWARD_CRASH_FILE: crashFile.agent };
  let agent: AgentProcess = startAgent(enrolled.stateDir, agentEnv);
  const connected = async () => waitFor(async () => (await api.get(`/api/v1/machines/${enrolled.machineId}`)).body.online === true, 30_000, 'agent online');
  await connected();
  await waitFor(async () => (await api.get(`/api/v1/machines/${enrolled.machineId}`)).body.kind === store.kind, 20_000, 'inventory');

  const accountId = async () => (await sql`select id from credential_accounts where machine_id = ${enrolled.machineId} and purpose = ${store.purpose}`)[0]?.id as string;
  const escrowed = async () => {
    const rows = await sql`select state, sealed from credential_versions where account_id = ${await accountId()} and state in ('current', 'pending') order by created_at desc`;
    return rows.map((r) => {
      const plain = escrow.open(new Uint8Array(r.sealed as Buffer));
      expect(plain, 'an escrowed version does not open with the escrow key').not.toBeNull();
      return { state: r.state as string, password: Buffer.from(plain as Uint8Array).toString('utf8') };
    });
  };
  const anyOpens = async () => {
    for (const v of await escrowed()) if (await store.opens(v.password)) return v.state;
    return null;
  };

  // Setup creates the account: the baseline every run starts from.
  expect((await api.put(`/api/v1/sites/${site.siteId}/credential-policy`, store.policy)).status).toBe(200);
  await waitFor(async () => (await sql`select status from credential_accounts where id = ${(await accountId()) ?? null}`)[0]?.status === 'created', 60_000, 'account created');
  expect(await anyOpens()).toBe('current');

  return {
    api,
    machineId: enrolled.machineId,
    async run(point) {
      const target = point.startsWith('agent') ? 'agent' : 'server';
      writeFileSync(crashFile[target], point);
      const dead = target === 'agent' ? agent.child : server.child;
      const died = new Promise<void>((resolve) => dead.once('exit', () => resolve()));
      const rotate = await api.post(`/api/v1/machines/${enrolled.machineId}/credentials/${store.purpose}/rotate`, {});
      expect(rotate.status, JSON.stringify(rotate.body)).toBe(202);
      await Promise.race([died, new Promise((_, reject) => setTimeout(() => reject(new Error(`${target} did not crash at ${point}`)), 60_000))]);

      // While it is down: the current or a pending escrowed password opens the real account.
      expect(await anyOpens(), `after a crash at ${point}, no escrowed password opens the account`).not.toBeNull();

      if (target === 'agent') agent = startAgent(enrolled.stateDir, agentEnv);
      else {
        server = startServerProcess(serverEnv);
        url = await server.listening;
        api = apiClient(url, login.body.token);
      }
      await connected();
      const job = await waitFor(async () => {
        const [row] = await sql`select state, last_error from credential_jobs where id = ${rotate.body.jobId}`;
        return row.state === 'done' || row.state === 'failed' ? row : null;
      }, 90_000, `the rotation after a crash at ${point} to finish`).catch(async (error: Error) => {
        const [row] = await sql`select j.*, m.connection_id, m.online from credential_jobs j join machines m on m.id = j.machine_id where j.id = ${rotate.body.jobId}`;
        throw new Error(`${error.message}\njob: ${JSON.stringify(row)}\nserver log tail: ${server.stdout().slice(-3000)}\n${server.stderr().slice(-2000)}`);
      });
      expect(job.state, String(job.last_error)).toBe('done');
      const live = await escrowed();
      expect(live.map((v) => v.state), `after ${point}: exactly the new current version is live`).toEqual(['current']);
      expect(await store.opens(live[0].password)).toBe(true);
    },
    async close() {
      await agent.stop();
      await server.stop();
      await sql.end();
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
