import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { gatewayUrl } from '../../agent/connection/server-url.ts';
import { enrollmentTokens, machines } from '../../server/db/schema.ts';
import { createSiteWithToken, setupAdmin, waitFor, type Api } from '../helpers/api.ts';
import { enrollAgent, newStateDir, REPO_ROOT, runAgentCommand, startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * The server on https:// with a self-signed certificate: agents trust it only through --ca-file or --pin-cert,
 * and refuse it otherwise, before any secret (the enrollment token) leaves the machine.
 */
interface Pki {
  dir: string;
  cert: string;
  key: string;
  fingerprint: string;
}

function makeSelfSignedCert(): Pki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ed25519', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ], { stdio: 'pipe' });
  const printed = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', cert], { encoding: 'utf8' });
  const fingerprint = printed.trim().split('=')[1];
  return { dir, cert, key, fingerprint };
}

/** `fetch` for this test process only, trusting exactly our CA (the agent children must not inherit any trust). */
function fetchTrusting(ca: Buffer): typeof fetch {
  return ((input: string | URL, init: RequestInit = {}) =>
    new Promise<Response>((resolve, reject) => {
      const request = https.request(new URL(String(input)), { method: init.method ?? 'GET', headers: init.headers as Record<string, string>, ca }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) if (typeof value === 'string') headers.set(name, value);
          const body = res.statusCode === 204 || chunks.length === 0 ? null : Buffer.concat(chunks);
          resolve(new Response(body, { status: res.statusCode, headers }));
        });
      });
      request.on('error', reject);
      request.end(typeof init.body === 'string' ? init.body : undefined);
    })) as typeof fetch;
}

describe.each(backends())('agent over TLS on %s', (backend) => {
  let pki: Pki;
  let server: TestServer;
  let api: Api;
  let site: Awaited<ReturnType<typeof createSiteWithToken>>;
  const realFetch = globalThis.fetch;
  const agents: AgentProcess[] = [];

  beforeAll(async () => {
    pki = makeSelfSignedCert();
    vi.stubGlobal('fetch', fetchTrusting(fs.readFileSync(pki.cert)));
    server = await startTestServer({
      backend,
      env: { STEWARD_TLS_CERT: pki.cert, STEWARD_TLS_KEY: pki.key, STEWARD_HEARTBEAT_SECONDS: '1' },
    });
    ({ api } = await setupAdmin(server));
    site = await createSiteWithToken(api, { maxUses: 10 });
  });
  afterAll(async () => {
    for (const agent of agents) await agent.stop();
    await server?.close();
    vi.unstubAllGlobals();
    if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
  });

  const machineCount = async () => (await server.running.ctx.db.select({ id: machines.id }).from(machines)).length;
  const tokenUses = async () =>
    (await server.running.ctx.db.select().from(enrollmentTokens).where(eq(enrollmentTokens.id, site.tokenId)))[0].uses;

  async function runUntilOnline(stateDir: string, machineId: string): Promise<void> {
    const agent = startAgent(stateDir);
    agents.push(agent);
    await waitFor(async () => {
      const res = await api.get(`/api/v1/machines/${machineId}`);
      return res.status === 200 && res.body.online;
    }, 30_000, 'machine online over TLS');
    await agent.stop();
  }

  it('serves https:// with the self-signed certificate, which an untrusting client refuses', async () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    await expect(realFetch(`${server.url}/healthz`)).rejects.toThrow();
  });

  it('enrolls with --ca-file and comes online with agent run', async () => {
    const { stateDir, machineId } = await enrollAgent(server.url, site.token, newStateDir(), ['--ca-file', pki.cert]);
    const saved = JSON.parse(fs.readFileSync(path.join(stateDir, 'agent.json'), 'utf8'));
    expect(saved).toMatchObject({ serverUrl: server.url, tls: { caFile: pki.cert, pinnedCertSha256: null } });
    await runUntilOnline(stateDir, machineId);
  });

  it('saves a relative --ca-file as an absolute path, so agent run works from any working directory', async () => {
    const relative = path.relative(REPO_ROOT, pki.cert); // enroll runs with cwd = REPO_ROOT
    expect(path.isAbsolute(relative)).toBe(false);
    const { stateDir } = await enrollAgent(server.url, site.token, newStateDir(), ['--ca-file', relative]);
    const saved = JSON.parse(fs.readFileSync(path.join(stateDir, 'agent.json'), 'utf8'));
    expect(saved.tls.caFile).toBe(pki.cert); // a service started from / would not find the relative path
  });

  it('fails to enroll without the CA file (TLS error), leaving no machine and the token unused', async () => {
    const [machinesBefore, usesBefore] = [await machineCount(), await tokenUses()];
    const stateDir = newStateDir();
    const result = await runAgentCommand(['enroll', '--server', server.url, '--token', site.token, '--state-dir', stateDir]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/enrollment failed: .*self[- ]signed certificate/i);
    expect(await machineCount()).toBe(machinesBefore);
    expect(await tokenUses()).toBe(usesBefore);
    expect(fs.existsSync(path.join(stateDir, 'agent.json'))).toBe(false);
  });

  it('enrolls with --pin-cert <sha256 fingerprint> and comes online with agent run', async () => {
    expect(pki.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const { stateDir, machineId } = await enrollAgent(server.url, site.token, newStateDir(), ['--pin-cert', pki.fingerprint]);
    expect(JSON.parse(fs.readFileSync(path.join(stateDir, 'agent.json'), 'utf8')).tls.pinnedCertSha256).toBe(pki.fingerprint);
    await runUntilOnline(stateDir, machineId);
  });

  it('refuses a server whose certificate does not match the pin, before presenting the token', async () => {
    const [machinesBefore, usesBefore] = [await machineCount(), await tokenUses()];
    const wrongPin = pki.fingerprint.replace(/^../, pki.fingerprint.startsWith('00') ? '11' : '00');
    const stateDir = newStateDir();
    const result = await runAgentCommand(['enroll', '--server', server.url, '--token', site.token, '--state-dir', stateDir, '--pin-cert', wrongPin]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('does not match the pinned fingerprint');
    expect(await machineCount()).toBe(machinesBefore);
    expect(await tokenUses()).toBe(usesBefore);
  });
});

describe('gatewayUrl', () => {
  it.each(['http://10.1.2.3:8080', 'ws://example.com', 'http://steward.example.com', 'http://127.0.0.1.nip.io', 'http://localhost.example.com'])(
    'refuses unencrypted %s without allowInsecure, and allows it with it',
    (serverUrl) => {
      expect(() => gatewayUrl(serverUrl, false)).toThrow(/refusing unencrypted connection/);
      const url = gatewayUrl(serverUrl, true);
      expect(url.protocol).toBe('ws:');
      expect(url.pathname).toBe('/api/v1/agent/connect');
    },
  );

  it.each([
    ['http://127.0.0.1:8080', 'ws://127.0.0.1:8080/api/v1/agent/connect'],
    ['http://127.1.2.3', 'ws://127.1.2.3/api/v1/agent/connect'],
    ['http://[::1]:9000', 'ws://[::1]:9000/api/v1/agent/connect'],
    ['http://localhost:3000', 'ws://localhost:3000/api/v1/agent/connect'],
    ['https://steward.example.com', 'wss://steward.example.com/api/v1/agent/connect'],
    ['https://steward.example.com:8443/console/?x=1#top', 'wss://steward.example.com:8443/api/v1/agent/connect'],
    ['wss://steward.example.com', 'wss://steward.example.com/api/v1/agent/connect'],
  ])('maps %s to %s without allowInsecure', (serverUrl, expected) => {
    expect(gatewayUrl(serverUrl, false).toString()).toBe(expected);
  });

  it('refuses other schemes and garbage', () => {
    expect(() => gatewayUrl('ftp://steward.example.com', true)).toThrow(/must use https:\/\//);
    expect(() => gatewayUrl('steward.example.com', true)).toThrow(/not a valid server URL/);
  });
});
