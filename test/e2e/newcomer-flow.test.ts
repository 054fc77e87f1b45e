import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InventorySchema } from '../../protocol/inventory.ts';
import { compile } from '../../protocol/validate.ts';
import { createSiteWithToken, setupAdmin, waitFor, type Api } from '../helpers/api.ts';
import { enrollAgent, startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const inventoryValidator = compile(InventorySchema);

/** The README's walk-through, end to end: setup, login, client, site, token, enroll, run, online with inventory. */
describe.each(backends())('newcomer flow on %s', (backend) => {
  let server: TestServer;
  let api: Api;
  let agent: AgentProcess | null = null;

  beforeAll(async () => {
    server = await startTestServer({ backend, env: { STEWARD_HEARTBEAT_SECONDS: '1' } });
    ({ api } = await setupAdmin(server));
  });
  afterAll(async () => {
    await agent?.stop();
    await server?.close();
  });

  it('enrolls a real agent process that comes online with its full inventory', async () => {
    const site = await createSiteWithToken(api);
    const { stateDir, machineId, stdout } = await enrollAgent(server.url, site.token);
    expect(stdout).toContain(machineId);
    agent = startAgent(stateDir);

    const listed = await waitFor(async () => {
      const res = await api.get('/api/v1/machines');
      const machine = res.body.machines.find((m: { id: string }) => m.id === machineId);
      return machine?.online && machine.inventoryAt ? machine : null;
    }, 30_000, 'machine online with inventory');
    expect(listed.siteId).toBe(site.siteId);
    expect(listed.clientId).toBe(site.clientId);
    expect(listed.os).toBe('linux');
    expect(['desktop', 'server']).toContain(listed.kind);

    const detail = await api.get(`/api/v1/machines/${machineId}`);
    expect(detail.status).toBe(200);
    expect(inventoryValidator.check(detail.body.inventory)).toBe(true);
    expect(detail.body.inventory.os.platform).toBe('linux');
    expect(detail.body.hostname).toBe(detail.body.inventory.hostname);

    const refreshed = await api.post(`/api/v1/machines/${machineId}/inventory/refresh`);
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.inventory.hostname).toBe(detail.body.inventory.hostname);

    const history = await api.get(`/api/v1/machines/${machineId}/inventory/changes`);
    expect(history.body.changes.length).toBeGreaterThanOrEqual(1);
    expect(history.body.changes.at(-1).changes.hostname).toEqual({ from: null, to: detail.body.inventory.hostname });
  });
});
