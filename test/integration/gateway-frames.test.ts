import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode } from '../../protocol/close-codes.ts';
import { generateKeyPair } from '../../protocol/identity.ts';
import { MAX_FRAME_BYTES } from '../../protocol/version.ts';
import { createSiteWithToken, setupAdmin, waitFor } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { enrollRawIdentity, RawAgent, sampleInventory, type RawIdentity } from '../helpers/raw-agent.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * Malformed input on the agent gateway, before and after the handshake: each closes only the offending connection
 * with the documented code and a logged reason; the server stays healthy and serves the next agent.
 */
type Phase = 'before the handshake' | 'after the handshake';

interface BadInput {
  name: string;
  send(raw: RawAgent, phase: Phase): void;
  code: number;
  /** What the close reason (and the server's log) must say; null for 1009, whose reason `ws` writes. */
  reason: ((phase: Phase) => RegExp) | null;
}

const heartbeat = () => ({ type: 'heartbeat', v: 1, at: new Date().toISOString() });

const BAD_INPUTS: BadInput[] = [
  { name: 'non-JSON text', send: (raw) => raw.sendText('{"type": "heartbeat", '), code: CloseCode.invalidMessage, reason: () => /message is not valid JSON/ },
  {
    name: 'an unknown message type',
    send: (raw) => raw.sendJson({ type: 'run_script', v: 1, script: 'rm -rf /' }),
    code: CloseCode.invalidMessage,
    reason: () => /unknown message type 'run_script'/,
  },
  {
    name: 'protocol version 2',
    send: (raw) => raw.sendJson({ ...heartbeat(), v: 2 }),
    code: CloseCode.unsupportedVersion,
    reason: () => /protocol version 2 is not supported/,
  },
  {
    name: 'a schema-invalid message',
    send: (raw, phase) =>
      phase === 'after the handshake'
        ? raw.sendJson({ type: 'inventory', v: 1, hash: 'x', inventory: { ...sampleInventory(), memory: { totalBytes: 'lots' } } })
        : raw.sendHello({ agentKey: generateKeyPair().publicKey, overrides: { mode: 'superuser' } }),
    code: CloseCode.invalidMessage,
    reason: (phase) => (phase === 'after the handshake' ? /invalid 'inventory' message: \/inventory\/memory\/totalBytes/ : /invalid 'hello' message: \/mode/),
  },
  { name: 'a frame larger than MAX_FRAME_BYTES', send: (raw) => raw.sendText(' '.repeat(MAX_FRAME_BYTES + 1)), code: CloseCode.tooBig, reason: null },
  { name: 'a binary frame', send: (raw) => raw.sendBinary(new Uint8Array([1, 0, 0, 0, 1, 42])), code: CloseCode.invalidMessage, reason: () => /binary frame/ },
  {
    name: 'a message out of order',
    send: (raw, phase) => (phase === 'after the handshake' ? raw.sendJson({ type: 'agent_proof', v: 1, signature: 'AAAA' }) : raw.sendJson(heartbeat())),
    code: CloseCode.invalidMessage,
    reason: (phase) => (phase === 'after the handshake' ? /'agent_proof' is not allowed after the handshake/ : /expected 'hello', got 'heartbeat'/),
  },
];

describe.each(backends())('agent gateway frame handling on %s', (backend) => {
  let server: TestServer;
  let identity: RawIdentity;
  /** A second machine for the health probe, so the probe's reconnects never overlap the test's own agent. */
  let probe: RawIdentity;

  beforeAll(async () => {
    server = await startTestServer({ backend, env: { STEWARD_HEARTBEAT_SECONDS: '1' } });
    const { api } = await setupAdmin(server);
    const site = await createSiteWithToken(api);
    identity = await enrollRawIdentity(server.url, site.token);
    probe = await enrollRawIdentity(server.url, site.token);
  });
  afterAll(async () => {
    await server?.close();
  });

  async function open(phase: Phase): Promise<RawAgent> {
    if (phase === 'after the handshake') return (await RawAgent.connectAs(server.url, identity)).agent;
    const raw = await RawAgent.open(server.url);
    await raw.readChallenge();
    return raw;
  }

  async function expectServerStillServes(): Promise<void> {
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', db: backend });
    const { agent, welcome } = await RawAgent.connectAs(server.url, probe);
    expect(welcome.machineId).toBe(probe.machineId);
    agent.send({ type: 'heartbeat', at: new Date().toISOString() });
    await agent.expect('heartbeat', 5000); // the server's own heartbeat tick reaches the fresh connection
    await agent.close();
  }

  const cases = (['before the handshake', 'after the handshake'] as Phase[]).flatMap((phase) => BAD_INPUTS.map((input) => [phase, input.name, input] as const));

  it.each(cases)('%s: %s closes the connection with its code and a logged reason', async (phase, _name, input) => {
    const raw = await open(phase);
    const logsBefore = server.logs.length;
    input.send(raw, phase);
    const closed = await raw.waitClosed();
    expect(closed.code).toBe(input.code);

    if (input.reason) {
      const reason = input.reason(phase);
      expect(closed.reason).toMatch(reason);
      const logged = await waitFor(
        async () => server.logs.slice(logsBefore).find((l) => l.msg === 'closing agent connection' && reason.test(String(l.reason))),
        5000,
        'the close logged with its reason',
      );
      expect(logged.code).toBe(Object.entries(CloseCode).find(([, v]) => v === input.code)![0]);
      expect(logged.machineId).toBe(phase === 'after the handshake' ? identity.machineId : null);
    } else {
      const logged = await waitFor(
        async () => server.logs.slice(logsBefore).find((l) => l.msg === 'agent socket error'),
        5000,
        'the oversized frame logged',
      );
      expect(JSON.stringify(logged.err)).toMatch(/Max payload size exceeded/);
    }
    await expectServerStillServes();
  });

  it('keeps serving other agents while one sends garbage', async () => {
    const { agent: healthy } = await RawAgent.connectAs(server.url, identity);
    const attacker = await RawAgent.open(server.url);
    await attacker.readChallenge();
    attacker.sendText('\u0000\u0001garbage');
    expect((await attacker.waitClosed()).code).toBe(CloseCode.invalidMessage);
    healthy.send({ type: 'heartbeat', at: new Date().toISOString() });
    expect((await healthy.expect('heartbeat', 5000)).type).toBe('heartbeat');
    expect(server.running.ctx.agents.get(identity.machineId)).toBeDefined();
    await healthy.close();
  });
});
