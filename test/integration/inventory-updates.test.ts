import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inventoryHash, type Inventory } from '../../protocol/inventory.ts';
import { inventoryChanges, machines } from '../../server/db/schema.ts';
import { createSiteWithToken, setupAdmin, waitFor, type Api } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { enrollRawIdentity, GiB, RawAgent, sampleInventory, type RawIdentity } from '../helpers/raw-agent.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * Inventory change tracking, driven by a raw client so the test owns the document: the server recomputes the hash
 * itself, writes a change row only for a real change, ignores disk usage drift below a GiB, and hands the stored
 * hash back in `welcome` so a reconnecting agent need not resend.
 */
describe.each(backends())('inventory updates on %s', (backend) => {
  let server: TestServer;
  let api: Api;
  let identity: RawIdentity;
  let agent: RawAgent;
  let barrierId = 1_000_000;

  beforeAll(async () => {
    server = await startTestServer({ backend, env: { STEWARD_HEARTBEAT_SECONDS: '1' } });
    ({ api } = await setupAdmin(server));
    const site = await createSiteWithToken(api);
    identity = await enrollRawIdentity(server.url, site.token);
  });
  afterAll(async () => {
    await agent?.close();
    await server?.close();
  });

  const machineRow = async () => (await server.running.ctx.db.select().from(machines).where(eq(machines.id, identity.machineId)))[0];
  const changeRows = () => server.running.ctx.db.select().from(inventoryChanges).where(eq(inventoryChanges.machineId, identity.machineId));

  /**
   * Waits until the server has handled everything this connection sent so far: messages are handled one at a time
   * in arrival order, and a response to a request nobody made is logged when its turn comes.
   */
  async function barrier(): Promise<void> {
    const id = ++barrierId;
    agent.send({ type: 'response', id, ok: true, result: null });
    await waitFor(async () => server.logs.some((l) => l.msg === 'response to an unknown or expired request' && l.id === id), 10_000, 'barrier');
  }

  async function report(inventory: Inventory, hash = inventoryHash(inventory)): Promise<void> {
    agent.send({ type: 'inventory', hash, inventory });
    await barrier();
  }

  let first: Inventory;

  it('stores a first inventory under the hash the server computes, whatever hash the message claims', async () => {
    let welcome;
    ({ agent, welcome } = await RawAgent.connectAs(server.url, identity));
    expect(welcome.inventoryHash).toBeNull();
    first = sampleInventory();
    await report(first, 'f'.repeat(64));

    const row = await machineRow();
    expect(row.inventoryHash).toBe(inventoryHash(first));
    expect(row.inventoryHash).not.toBe('f'.repeat(64));
    expect(row.inventory).toEqual(first);
    expect(row).toMatchObject({ hostname: 'raw-host', os: 'linux', kind: 'server', domainRole: 'standalone', agentVersion: '0.0.0-raw' });
    const rows = await changeRows();
    expect(rows).toHaveLength(1);
    expect(rows[0].hash).toBe(inventoryHash(first));
    expect(rows[0].changes).toMatchObject({ hostname: { from: null, to: 'raw-host' } });

    const detail = await api.get(`/api/v1/machines/${identity.machineId}`);
    expect(detail.status).toBe(200);
    expect(detail.body.inventory).toEqual(first);
    expect(detail.body.inventoryAt).not.toBeNull();
  });

  it('writes nothing when the same inventory is sent again (new collectedAt, lying hash)', async () => {
    const before = await machineRow();
    const again = { ...first, collectedAt: new Date(Date.now() + 60_000).toISOString() };
    expect(inventoryHash(again)).toBe(inventoryHash(first));
    await report(again);
    await report(again, '0'.repeat(64));
    expect(await changeRows()).toHaveLength(1);
    const after = await machineRow();
    expect(after.inventoryAt).toEqual(before.inventoryAt);
    expect((after.inventory as Inventory).collectedAt).toBe(first.collectedAt);
  });

  let second: Inventory;
  let secondRowId: number;

  it('records exactly one change row naming a changed software version and an added disk', async () => {
    second = sampleInventory({
      software: first.software.map((s) => (s.name === 'openssl' ? { ...s, version: '3.0.13-1~deb12u1' } : s)),
      disks: [...first.disks, { mount: '/data', fs: '/dev/sdb1', type: 'xfs', sizeBytes: 500 * GiB, usedBytes: 1 * GiB }],
    });
    await report(second);
    const rows = await changeRows();
    expect(rows).toHaveLength(2);
    const latest = rows.sort((a, b) => b.id - a.id)[0];
    secondRowId = latest.id;
    expect(latest.hash).toBe(inventoryHash(second));
    expect(latest.changes).toMatchObject({
      software: { added: [], removed: [], changed: expect.arrayContaining(['openssl (dpkg)']) },
      disks: { added: ['/data'], removed: [] },
    });
    expect((await machineRow()).inventoryHash).toBe(inventoryHash(second));
  });

  it('names nothing but what changed in that row (the stored document went through jsonb)', async () => {
    const [row] = await server.running.ctx.db.select().from(inventoryChanges).where(eq(inventoryChanges.id, secondRowId));
    expect(row.changes).toEqual({
      software: { added: [], removed: [], changed: ['openssl (dpkg)'] },
      disks: { added: ['/data'], removed: [], changed: [] },
    });
  });

  it('does not count disk usage moving by less than 1 GiB as a change', async () => {
    const drifted = sampleInventory({
      software: second.software,
      disks: second.disks.map((d) => (d.mount === '/' ? { ...d, usedBytes: d.usedBytes + 300 * 1024 ** 2 } : d)),
    });
    await report(drifted);
    expect(await changeRows()).toHaveLength(2);
    expect((await machineRow()).inventoryHash).toBe(inventoryHash(second));
  });

  it('does not count a few MiB of disk usage drift as a change, wherever in the GiB it happens', async () => {
    // 10.499 GiB → 10.501 GiB: 2 MiB of log growth that happens to cross the rounding boundary of inventoryHash.
    const at = (usedBytes: number) =>
      sampleInventory({ software: second.software, disks: second.disks.map((d) => (d.mount === '/' ? { ...d, usedBytes } : d)) });
    const rowsBefore = (await changeRows()).length;
    await report(at(Math.floor(10.499 * GiB)));
    const settled = (await changeRows()).length;
    await report(at(Math.floor(10.501 * GiB)));
    await report(at(Math.floor(10.499 * GiB)));
    expect(settled - rowsBefore).toBeLessThanOrEqual(1);
    expect((await changeRows()).length).toBe(settled);
  });

  it('lists the changes newest first over the API', async () => {
    const res = await api.get(`/api/v1/machines/${identity.machineId}/inventory/changes`);
    expect(res.status).toBe(200);
    const changes = res.body.changes as { id: number; at: string; hash: string; changes: Record<string, unknown> }[];
    const rows = await changeRows();
    expect(changes).toHaveLength(rows.length);
    expect(changes.map((c) => c.id)).toEqual(rows.map((r) => r.id).sort((a, b) => b - a));
    for (let i = 1; i < changes.length; i++) expect(Date.parse(changes[i - 1].at)).toBeGreaterThanOrEqual(Date.parse(changes[i].at));
    expect(changes.at(-1)!.hash).toBe(inventoryHash(first));
    expect(changes.at(-1)!.changes).toMatchObject({ hostname: { from: null, to: 'raw-host' } });
    expect(changes[0].hash).toBe((await machineRow()).inventoryHash);
    expect(changes.find((c) => c.id === secondRowId)!.changes).toHaveProperty('disks.added', ['/data']);

    const limited = await api.get(`/api/v1/machines/${identity.machineId}/inventory/changes?limit=1`);
    expect(limited.body.changes).toEqual([changes[0]]);
  });

  it('sends the stored hash in welcome when the agent reconnects', async () => {
    const stored = (await machineRow()).inventoryHash;
    await agent.close();
    const reconnected = await RawAgent.connectAs(server.url, identity);
    agent = reconnected.agent;
    expect(reconnected.welcome.inventoryHash).toBe(stored);
    expect(reconnected.welcome.heartbeatSeconds).toBe(1);
  });
});
