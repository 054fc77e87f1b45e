import http from 'node:http';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode } from '../../protocol/close-codes.ts';
import { createSiteWithToken, setupAdmin, waitFor } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { enrollRawIdentity, gatewayUrlOf, RawAgent } from '../helpers/raw-agent.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/** Status of a WebSocket upgrade attempt: 101 when it opened, else the HTTP status the server answered. */
function upgradeStatus(serverUrl: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(gatewayUrlOf(serverUrl));
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

/** A reconnect storm must not drown the server: handshakes in progress are capped, the rest told to come back. */
describe.each(backends())('gateway admission control on %s', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ backend, env: { STEWARD_MAX_PENDING_HANDSHAKES: '2' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers 503 with Retry-After beyond the cap, and admits again once a handshake ends', async () => {
    const first = await RawAgent.open(server.url);
    const second = await RawAgent.open(server.url);
    await first.readChallenge();
    await second.readChallenge();
    expect(await upgradeStatus(server.url)).toBe(503);

    const busy = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const url = new URL(gatewayUrlOf(server.url));
      http
        .request({ host: url.hostname, port: url.port, path: url.pathname, headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } })
        .on('response', resolve)
        .on('upgrade', () => reject(new Error('upgraded beyond the cap')))
        .on('error', reject)
        .end();
    });
    expect(busy.statusCode).toBe(503);
    expect(busy.headers['retry-after']).toBe('5');

    await first.close();
    await waitFor(async () => (await upgradeStatus(server.url)) === 101, 5000, 'admission after a handshake ended');
    await second.close();
  });

  it('stops promptly with agents connected and in mid-handshake, and lets none slip in behind the shutdown', async () => {
    const { api } = await setupAdmin(server);
    const identity = await enrollRawIdentity(server.url, (await createSiteWithToken(api)).token);
    const { agent: connected } = await RawAgent.connectAs(server.url, identity);
    const midway = await RawAgent.open(server.url);
    await midway.readChallenge();

    const started = Date.now();
    await server.stop();
    expect(Date.now() - started).toBeLessThan(8000);
    expect((await connected.waitClosed()).code).toBe(CloseCode.goingAway);
    expect((await midway.waitClosed()).code).not.toBe(CloseCode.normal);
    await expect(upgradeStatus(server.url)).rejects.toThrow(/ECONNREFUSED/);
    await server.restart();
  });
});
