import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode } from '../../protocol/close-codes.ts';
import { machines } from '../../server/db/schema.ts';
import { createSiteWithToken, setupAdmin, waitFor, type Api } from '../helpers/api.ts';
import { enrollAgent, newStateDir, startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { backends } from '../helpers/db.ts';
import { enrollRawIdentity, RawAgent } from '../helpers/raw-agent.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * Presence with real agent processes and a 1 s heartbeat: silent agents go offline and come back by themselves,
 * a second connection of the same agent replaces the first, agents survive server restarts and outages, every
 * connect and disconnect is audited, and commands reach only a connected agent.
 */
const ENV = { STEWARD_HEARTBEAT_SECONDS: '1' };
type Line = Record<string, unknown>;
const isRunConnect = (e: { action: string; details: Line }) => e.action === 'agent.connect' && e.details.enrolled === false;
const connectedCount = (agent: AgentProcess) => agent.logs.filter((l) => l.msg === 'connected to server').length;

describe.each(backends())('agent presence on %s', (backend) => {
  let server: TestServer;
  let original: TestServer;
  let api: Api;
  let token: string;
  const agents: AgentProcess[] = [];

  beforeAll(async () => {
    server = original = await startTestServer({ backend, env: ENV });
    ({ api } = await setupAdmin(server));
    ({ token } = await createSiteWithToken(api, { maxUses: 20 }));
  });
  afterAll(async () => {
    for (const agent of agents) {
      agent.child.kill('SIGCONT');
      await agent.stop();
    }
    if (server !== original) await server?.close();
    await original?.close();
  });

  async function enrollAndRun(): Promise<{ machineId: string; stateDir: string; agent: AgentProcess }> {
    const { stateDir, machineId } = await enrollAgent(server.url, token);
    const agent = startAgent(stateDir);
    agents.push(agent);
    await waitFor(async () => (await machine(machineId)).online, 30_000, 'machine online');
    return { machineId, stateDir, agent };
  }

  async function machine(id: string): Promise<{ online: boolean; lastSeenAt: string | null; connectedAt: string | null }> {
    const res = await api.get(`/api/v1/machines/${id}`);
    if (res.status !== 200) throw new Error(`GET machine: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  const auditFor = async (machineId: string) =>
    (await api.get(`/api/v1/audit?targetId=${machineId}&limit=1000`)).body.events as { action: string; outcome: string; details: Line }[];

  it('marks a silent (SIGSTOPped) agent offline within a few heartbeats, and it comes back by itself on SIGCONT', async () => {
    const { machineId, agent } = await enrollAndRun();
    const stoppedAt = Date.now();
    agent.child.kill('SIGSTOP');

    const offline = await waitFor(async () => {
      const m = await machine(machineId);
      return m.online ? null : { m, detectedAt: Date.now() };
    }, 20_000, 'machine offline');
    expect(offline.detectedAt - stoppedAt).toBeLessThan(8_000); // 3 missed 1 s heartbeats, one tick, some slack
    expect(offline.m.lastSeenAt).not.toBeNull();
    const lastSeen = Date.parse(offline.m.lastSeenAt!);
    expect(lastSeen).toBeLessThanOrEqual(offline.detectedAt);
    expect(lastSeen).toBeGreaterThan(stoppedAt - 3_000);

    agent.child.kill('SIGCONT');
    await waitFor(async () => connectedCount(agent) >= 2, 30_000, 'agent reconnected by itself');
    await waitFor(async () => (await machine(machineId)).online, 10_000, 'machine online again');
    const events = await waitFor(async () => {
      const all = await auditFor(machineId);
      return all.filter(isRunConnect).length >= 2 ? all : null;
    }, 10_000, 'both connects audited');
    expect(events.filter(isRunConnect)).toHaveLength(2);
    const silentDrop = events.find((e) => e.action === 'agent.disconnect' && e.details.code !== CloseCode.normal);
    expect([CloseCode.heartbeatTimeout, 1006]).toContain(silentDrop?.details.code); // 1006 if the forced terminate came first
    expect(server.logs.some((l) => l.msg === 'closing agent connection' && l.machineId === machineId && l.code === 'heartbeatTimeout')).toBe(true);
    await agent.stop();
  });

  it('replaces the first connection when a second copy of the agent connects (4409), and stays online', async () => {
    const { machineId, stateDir, agent: first } = await enrollAndRun();
    const firstConnection = server.running.ctx.agents.get(machineId)!.connectionId;
    const copy = newStateDir();
    fs.cpSync(stateDir, copy, { recursive: true });
    expect(fs.statSync(path.join(copy, 'agent.key')).mode & 0o777).toBe(0o600);

    const second = startAgent(copy);
    agents.push(second);
    const replaced = await first.waitForLog((l) => l.msg === 'disconnected from server');
    await first.stop(); // before its reconnect delay runs out, so the copy keeps the machine
    expect(replaced.code).toBe('replaced');
    await second.waitForLog((l) => l.msg === 'connected to server');

    const secondConnection = server.running.ctx.agents.get(machineId)?.connectionId;
    expect(secondConnection).toBeDefined();
    expect(secondConnection).not.toBe(firstConnection);
    const since = Date.now();
    const row = await waitFor(async () => {
      const [m] = await server.running.ctx.db.select().from(machines).where(eq(machines.id, machineId));
      return m.online && m.connectionId === secondConnection && m.lastSeenAt!.getTime() > since + 2_000 ? m : null;
    }, 15_000, 'machine kept alive by the new connection');
    expect(row.online).toBe(true);
    expect(second.logs.some((l) => l.msg === 'disconnected from server')).toBe(false);

    const events = await waitFor(async () => {
      const all = await auditFor(machineId);
      return all.some((e) => e.action === 'agent.disconnect' && e.details.code === CloseCode.replaced) ? all : null;
    }, 10_000, 'the replaced connection audited');
    expect(events.filter(isRunConnect).map((e) => e.details.connectionId).sort()).toEqual([firstConnection, secondConnection].sort());
    // The replaced connection must not take the machine offline: the newer connection owns the row.
    expect(events.find((e) => e.action === 'agent.disconnect' && e.details.code === CloseCode.replaced)?.details.wentOffline).toBe(false);
    await second.stop();
  });

  it('reconnects by itself after a server restart on the same port and database', async () => {
    const { machineId, agent } = await enrollAndRun();
    await server.restart();
    const dropped = await agent.waitForLog((l) => l.msg === 'disconnected from server');
    expect(dropped.code).toBe('goingAway');
    await waitFor(async () => connectedCount(agent) >= 2, 30_000, "'connected to server' twice");
    await waitFor(async () => (await machine(machineId)).online, 10_000, 'machine online after restart');
    expect(server.running.ctx.agents.get(machineId)).toBeDefined();
    await agent.stop();
  }, 90_000);

  it('reconnects by itself after the server was down for ~5 s', async () => {
    const { machineId, agent } = await enrollAndRun();
    const { db, port } = server;
    await server.stop();
    const downAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 5_000)); // the outage itself: nothing to wait for
    const failedWhileDown = agent.logs.filter((l) => l.msg === 'could not connect to server');
    expect(failedWhileDown.length).toBeGreaterThanOrEqual(1);
    expect(String(failedWhileDown[0].err)).toMatch(/ECONNREFUSED|connect/);

    server = await startTestServer({ backend, db, port, env: ENV });
    expect(server.url).toBe(original.url);
    await waitFor(async () => connectedCount(agent) >= 2, 30_000, 'reconnect after the outage');
    const m = await waitFor(async () => {
      const current = await machine(machineId);
      return current.online ? current : null;
    }, 10_000, 'machine online after the outage');
    expect(Date.parse(m.connectedAt!)).toBeGreaterThan(downAt);
    await agent.stop();
  }, 90_000);

  it('audits connect and disconnect, and runs commands only while the agent is connected (503 otherwise)', async () => {
    const { machineId, agent } = await enrollAndRun();
    const refreshed = await api.post(`/api/v1/machines/${machineId}/inventory/refresh`);
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.id).toBe(machineId);
    expect(refreshed.body.inventory.hostname).toBe(os.hostname());
    expect(refreshed.body.online).toBe(true);

    expect(await agent.stop()).toBe(0);
    await waitFor(async () => !(await machine(machineId)).online, 10_000, 'machine offline after a clean stop');
    const refused = await api.post(`/api/v1/machines/${machineId}/inventory/refresh`);
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('unavailable');

    const events = await waitFor(async () => {
      const all = await auditFor(machineId);
      return all.filter((e) => e.action === 'agent.disconnect').length >= 2 ? all : null;
    }, 10_000, 'agent.disconnect audited for the enrollment and the run');
    // Newest first: the enrollment's own short connection, then the run.
    expect(events.filter((e) => e.action === 'agent.connect').map((e) => e.details.enrolled)).toEqual([false, true]);
    expect(events.filter(isRunConnect)[0]).toMatchObject({ outcome: 'success' });
    expect(events.find((e) => e.action === 'agent.disconnect')).toMatchObject({ outcome: 'success', details: { code: CloseCode.normal, wentOffline: true } });
    expect(events.find((e) => e.action === 'machine.inventory_refresh')).toMatchObject({ outcome: 'success' });
  });
});

/**
 * A presence tick records the connections it saw as alive, then closes those the database says were superseded.
 * If the same agent reconnects while that query runs, the tick must close the old connection it saw, not the new
 * one now registered under the machine id. The tick's query is held at a gate so the interleaving is exact.
 */
describe.each(backends())('agent reconnecting during a presence tick on %s', (backend) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ backend, env: { STEWARD_HEARTBEAT_SECONDS: '3600' } }); // only our own ticks
  });
  afterAll(async () => {
    await server?.close();
  });

  it('keeps the newer connection open when the tick finds the older one superseded', async () => {
    const { api } = await setupAdmin(server);
    const identity = await enrollRawIdentity(server.url, (await createSiteWithToken(api)).token);
    const { agent: older } = await RawAgent.connectAs(server.url, identity);

    const db = server.running.ctx.db as unknown as { execute: (query: unknown) => Promise<unknown> };
    const execute = db.execute;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const touching = new Promise<void>((resolve) => (entered = resolve));
    let gated = false; // only the tick's presence query waits; the reconnect's own claim must get through
    db.execute = async (query) => {
      if (!gated) {
        gated = true;
        entered();
        await gate;
      }
      return execute.call(db, query);
    };
    let newer: RawAgent;
    try {
      const tick = server.running.ctx.agents.tick(); // heartbeats the older connection, then waits at the gate
      await touching;
      ({ agent: newer } = await RawAgent.connectAs(server.url, identity));
      expect((await older.waitClosed()).code).toBe(CloseCode.replaced);
      db.execute = execute;
      release();
      await tick;
    } finally {
      db.execute = execute;
      release();
    }
    await server.running.ctx.agents.tick();
    const next = await newer.next(5_000).catch((error: Error) => error);
    expect(next).toMatchObject({ type: 'heartbeat' }); // not "socket closed: 4409 superseded by a newer connection"
    const [row] = await server.running.ctx.db.select().from(machines).where(eq(machines.id, identity.machineId));
    expect(row.online).toBe(true);
    expect(row.connectionId).toBe(server.running.ctx.agents.get(identity.machineId)?.connectionId);
    await newer.close();
  });
});
