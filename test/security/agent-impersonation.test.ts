import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode } from '../../protocol/close-codes.ts';
import { generateKeyPair, toBase64 } from '../../protocol/identity.ts';
import { enrollmentTokens, machines } from '../../server/db/schema.ts';
import { createSiteWithToken, setupAdmin, waitFor, type Api } from '../helpers/api.ts';
import { enrollAgent, runAgentCommand, startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { backends } from '../helpers/db.ts';
import { enrollRawIdentity, RawAgent, sampleInventory, type RawIdentity } from '../helpers/raw-agent.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * Kaseya VSA 2021 (agent-facing API as an auth bypass) and MeshCentral (a stolen agent identity impersonates the
 * machine): the agent gateway must accept a machine only on a fresh proof by the enrolled key, made for this very
 * connection, after the server proved itself; agents keep their key private and refuse an impostor server.
 */
describe.each(backends())('agent impersonation on %s', (backend) => {
  let server: TestServer;
  let api: Api;
  let site: Awaited<ReturnType<typeof createSiteWithToken>>;
  let victim: RawIdentity;
  const agents: AgentProcess[] = [];
  const others: TestServer[] = [];

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api } = await setupAdmin(server));
    site = await createSiteWithToken(api, { maxUses: 20 });
    victim = await enrollRawIdentity(server.url, site.token);
  });
  afterAll(async () => {
    for (const agent of agents) await agent.stop();
    for (const other of others) await other.close();
    await server?.close();
  });

  const auditFailures = async (machineId: string | null) => {
    const res = await api.get('/api/v1/audit?action=agent.authenticate');
    expect(res.status).toBe(200);
    return (res.body.events as { targetId: string | null; outcome: string; details: { reason: string } }[]).filter((e) => e.targetId === machineId);
  };

  it('closes 4401 and audits a failure when an enrolled machineId connects with a different key', async () => {
    const intruder = generateKeyPair();
    const before = (await auditFailures(victim.machineId)).length;
    const raw = await RawAgent.open(server.url);
    await raw.readChallenge();
    raw.sendHello({ agentKey: intruder.publicKey, mode: 'connect', machineId: victim.machineId });
    await raw.readServerProof();
    raw.sendProof(raw.sign(intruder.secretKey)); // a perfectly valid proof, for the wrong key
    expect(await raw.waitClosed()).toEqual({ code: CloseCode.authenticationFailed, reason: 'agent key does not match the enrolled machine' });

    const failures = await waitFor(async () => {
      const events = await auditFailures(victim.machineId);
      return events.length > before ? events : null;
    }, 10_000, 'agent.authenticate failure in the audit log');
    expect(failures[0]).toMatchObject({ outcome: 'failure', details: { reason: 'agent key does not match the enrolled machine' } });
    const [row] = await server.running.ctx.db.select().from(machines).where(eq(machines.id, victim.machineId));
    expect(row.online).toBe(false);
  });

  it('refuses an agent_proof captured on one connection and replayed on another (4401)', async () => {
    const first = await RawAgent.open(server.url);
    await first.readChallenge();
    first.sendHello({ agentKey: victim.keyPair.publicKey, mode: 'connect', machineId: victim.machineId });
    await first.readServerProof();
    const captured = first.sign(victim.keyPair.secretKey);
    first.sendProof(captured);
    expect((await first.expect('welcome')).machineId).toBe(victim.machineId); // the captured proof was genuine
    await first.close();

    // The attacker replays the whole hello (same nonce and key) and the proof; only the server nonce is new.
    const replay = await RawAgent.open(server.url);
    const challenge = await replay.readChallenge();
    expect(challenge.serverNonce).not.toBe(first.challenge!.serverNonce);
    replay.sendHello({ agentKey: victim.keyPair.publicKey, agentNonce: first.agentNonce!, mode: 'connect', machineId: victim.machineId });
    await replay.readServerProof();
    replay.sendProof(captured);
    expect(await replay.waitClosed()).toEqual({ code: CloseCode.authenticationFailed, reason: 'agent proof signature is invalid' });
  });

  it("refuses the server's own server_proof reflected back as agent_proof (4401)", async () => {
    const raw = await RawAgent.open(server.url);
    await raw.readChallenge();
    raw.sendHello({ agentKey: victim.keyPair.publicKey, mode: 'connect', machineId: victim.machineId });
    const proof = await raw.readServerProof();
    raw.sendProof(proof.signature);
    expect(await raw.waitClosed()).toEqual({ code: CloseCode.authenticationFailed, reason: 'agent proof signature is invalid' });
  });

  it("refuses to enroll the server's own key by reflecting its proof (role label binds the transcript)", async () => {
    const fresh = await createSiteWithToken(api, { maxUses: 1 });
    const raw = await RawAgent.open(server.url);
    const challenge = await raw.readChallenge();
    const serverKey = Buffer.from(challenge.serverKey, 'base64');
    raw.sendHello({ agentKey: serverKey, mode: 'enroll' });
    const proof = await raw.readServerProof();
    raw.sendProof(proof.signature, { enrollmentToken: fresh.token });
    expect((await raw.waitClosed()).code).toBe(CloseCode.authenticationFailed);
    const db = server.running.ctx.db;
    expect(await db.select().from(machines).where(eq(machines.agentPublicKey, serverKey))).toEqual([]);
    const [token] = await db.select().from(enrollmentTokens).where(eq(enrollmentTokens.id, fresh.tokenId));
    expect(token.uses).toBe(0);
  });

  it.each([
    ['agent_proof before hello', (raw: RawAgent) => raw.sendProof(toBase64(new Uint8Array(64))), "expected 'hello', got 'agent_proof'"],
    ['heartbeat before hello', (raw: RawAgent) => raw.send({ type: 'heartbeat', at: new Date().toISOString() }), "expected 'hello', got 'heartbeat'"],
    ['inventory before hello', (raw: RawAgent) => raw.send({ type: 'inventory', hash: 'x', inventory: sampleInventory() }), "expected 'hello', got 'inventory'"],
  ])('closes 4400 on %s', async (_name, misstep, reason) => {
    const raw = await RawAgent.open(server.url);
    await raw.readChallenge();
    misstep(raw);
    expect(await raw.waitClosed()).toEqual({ code: CloseCode.invalidMessage, reason });
  });

  it.each([
    ['heartbeat', (raw: RawAgent) => raw.send({ type: 'heartbeat', at: new Date().toISOString() })],
    ['inventory', (raw: RawAgent) => raw.send({ type: 'inventory', hash: 'x', inventory: sampleInventory() })],
    ['a second hello', (raw: RawAgent) => raw.sendHello({ agentKey: victim.keyPair.publicKey, mode: 'connect', machineId: victim.machineId })],
  ])('closes 4400 on %s between hello and agent_proof, and nothing is stored', async (_name, misstep) => {
    const raw = await RawAgent.open(server.url);
    await raw.readChallenge();
    raw.sendHello({ agentKey: victim.keyPair.publicKey, mode: 'connect', machineId: victim.machineId });
    await raw.readServerProof();
    misstep(raw);
    const closed = await raw.waitClosed();
    expect(closed.code).toBe(CloseCode.invalidMessage);
    expect(closed.reason).toMatch(/^expected 'agent_proof', got '(heartbeat|inventory|hello)'$/);
    const [row] = await server.running.ctx.db.select().from(machines).where(eq(machines.id, victim.machineId));
    expect(row.inventory).toBeNull();
  });

  it('closes 4404 for a machineId that was never enrolled, even with a valid proof', async () => {
    const stranger = generateKeyPair();
    const unknownId = randomUUID();
    const raw = await RawAgent.open(server.url);
    await raw.readChallenge();
    raw.sendHello({ agentKey: stranger.publicKey, mode: 'connect', machineId: unknownId });
    await raw.readServerProof();
    raw.sendProof(raw.sign(stranger.secretKey));
    expect(await raw.waitClosed()).toEqual({ code: CloseCode.machineUnknown, reason: 'no machine with this id is enrolled' });
    await waitFor(async () => (await auditFailures(unknownId)).length === 1, 10_000, 'audit of the unknown machine');
  });

  it('closes 4410 when the handshake stalls, before or after hello', async () => {
    const silent = await RawAgent.open(server.url);
    await silent.readChallenge();
    const halfway = await RawAgent.open(server.url);
    await halfway.readChallenge();
    halfway.sendHello({ agentKey: victim.keyPair.publicKey, mode: 'connect', machineId: victim.machineId });
    await halfway.readServerProof();
    const started = Date.now();
    const [a, b] = await Promise.all([silent.waitClosed(25_000), halfway.waitClosed(25_000)]);
    expect(a).toEqual({ code: CloseCode.handshakeTimeout, reason: 'handshake did not complete in time' });
    expect(b.code).toBe(CloseCode.handshakeTimeout);
    expect(Date.now() - started).toBeGreaterThan(10_000);
  }, 40_000);

  it('refuses to run with an agent key file readable by others (0644)', async () => {
    const { stateDir } = await enrollAgent(server.url, site.token);
    const keyFile = path.join(stateDir, 'agent.key');
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    fs.chmodSync(keyFile, 0o644);
    const result = await runAgentCommand(['run', '--state-dir', stateDir]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('mode 644');
    expect(result.stderr).toContain(keyFile);
  });

  it("refuses a server whose identity key differs from the one saved at enrollment, and never proves itself to it", async () => {
    const { stateDir, machineId } = await enrollAgent(server.url, site.token);
    const impostor = await startTestServer({ backend });
    others.push(impostor);
    const { api: impostorApi } = await setupAdmin(impostor);
    const enrollmentFile = path.join(stateDir, 'agent.json');
    const enrollment = JSON.parse(fs.readFileSync(enrollmentFile, 'utf8'));
    fs.writeFileSync(enrollmentFile, JSON.stringify({ ...enrollment, serverUrl: impostor.url }), { mode: 0o600 });

    const agent = startAgent(stateDir);
    agents.push(agent);
    const refused = await agent.waitForLog((l) => l.msg === 'could not connect to server');
    expect(String(refused.err)).toMatch(/identity key .* is not the one this agent trusts/);
    expect(agent.logs.some((l) => l.msg === 'connected to server')).toBe(false);

    await impostor.running.ctx.audit.flush();
    const events = (await impostorApi.get('/api/v1/audit?limit=1000')).body.events as { action: string }[];
    expect(events.length).toBeGreaterThan(0); // the impostor's own setup/login events are there
    expect(events.filter((e) => e.action === 'agent.connect')).toEqual([]);
    // An agent_proof would have reached the impostor's machine lookup and been audited as agent.authenticate.
    expect(events.filter((e) => e.action === 'agent.authenticate')).toEqual([]);
    expect(await impostor.running.ctx.db.select().from(machines)).toEqual([]);
    expect(machineId).toMatch(/^[0-9a-f-]{36}$/);
  }, 90_000);
});
