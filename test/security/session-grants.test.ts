import fs from 'node:fs';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, signerFor } from '../../protocol/identity.ts';
import { GRANT_CLOCK_SKEW_MS, GRANT_START_WINDOW_MS, signSessionGrant, type SessionGrantBody, type SignedSessionGrant } from '../../protocol/session-grant.ts';
import { sessions } from '../../server/db/schema.ts';
import { waitFor } from '../helpers/api.ts';
import { attachConsole } from '../helpers/console.ts';
import { backends } from '../helpers/db.ts';
import { sessionRow, shellChildren, shellPid, startSessionWorld, waitForProcessGone, type SessionWorld } from '../helpers/sessions.ts';

/**
 * Kaseya VSA 2021 / Tactical RMM: authorization enforced only by the server is one bug away from none. Here the
 * server's own check is skipped on purpose — the test drives the agent's `session.open` command directly, as a
 * compromised server would, with grants it builds itself. The agent alone must refuse forged, other-machine,
 * expired, replayed (also across a restart), tampered and not-yet-supported run-as grants, and spawn nothing.
 *
 * Every refused grant names a session row in status 'starting' on this machine, so a grant the agent wrongly
 * accepted WOULD attach (the session link only checks the agent's key and that status) — the checks below would see
 * the row go active, a shell child appear and the agent log the start.
 */
describe.each(backends())('the agent checks session grants itself on %s', (backend) => {
  let w: SessionWorld;
  const ctx = () => w.server.running.ctx;

  beforeAll(async () => {
    w = await startSessionWorld(backend);
  });
  afterAll(async () => {
    await w?.close();
  });

  /** A session row as requestSession inserts it: status 'starting', owned by the admin's token. */
  async function startingRow(): Promise<string> {
    const [row] = await ctx()
      .db.insert(sessions)
      .values({ machineId: w.machineId, userId: w.adminUserId, ownerTokenId: w.adminTokenId, status: 'starting', runAs: 'agent', files: false, cols: 80, rows: 24, requestedFrom: 'test' })
      .returning({ id: sessions.id });
    return row.id;
  }

  function body(sessionId: string, changes: Partial<SessionGrantBody> = {}): SessionGrantBody {
    const now = Date.now();
    return {
      sessionId,
      machineId: w.machineId,
      userId: w.adminUserId,
      kind: 'terminal',
      runAs: 'agent',
      files: false,
      issuedAt: new Date(now).toISOString(),
      startBy: new Date(now + GRANT_START_WINDOW_MS).toISOString(),
      endsAt: null,
      consent: { mode: 'none', requester: 'Test Admin', whenNobody: 'deny' },
      ...changes,
    };
  }

  const serverSigned = (b: SessionGrantBody) => signSessionGrant(b, ctx().identity.sign);
  const openOnAgent = (grant: SignedSessionGrant) => ctx().agents.request(w.machineId, 'session.open', { grant, cols: 80, rows: 24 }, 15_000);

  /** Sends the grant; expects the agent to refuse it for `reason`, and nothing to have started. */
  async function expectRefused(sessionId: string, grant: SignedSessionGrant, reason: RegExp): Promise<void> {
    const agentPid = w.agent.child.pid!;
    const shellsBefore = shellChildren(agentPid);
    const started = () => w.agent.logs.filter((l) => l.msg === 'terminal session started' && l.sessionId === sessionId).length;
    const startedBefore = started();
    const error = await openOnAgent(grant).then(
      (result) => new Error(`the agent accepted the grant: ${JSON.stringify(result)}`),
      (e: Error) => e,
    );
    expect(error.message).toMatch(/answered 'session\.open' with refused: session grant refused: /);
    expect(error.message).toMatch(reason);
    // Nothing spawned, nothing attached, nothing logged as started.
    await new Promise((r) => setTimeout(r, 100));
    expect(shellChildren(agentPid).filter((pid) => !shellsBefore.includes(pid))).toEqual([]);
    expect((await sessionRow(w.server, sessionId))?.status).toBe('starting');
    expect(ctx().sessions.get(sessionId)).toBeUndefined();
    expect(started()).toBe(startedBefore);
  }

  /**
   * Attaches the owner's console, checks the shell answering is the one the agent reported, then ends the session
   * and waits for the shell to be gone. (Waiting for the shell first also keeps the test from killing a login shell
   * mid-startup, which can leave the account's profile scripts in a bad state, e.g. a stale pyenv lock.)
   */
  async function endOnceReady(sessionId: string, pid: number): Promise<void> {
    const term = await attachConsole(w.server.url, sessionId, { token: w.adminToken });
    expect(await shellPid(term)).toBe(pid);
    ctx().sessions.get(sessionId)!.end('test over');
    await term.closed;
    await waitForProcessGone(pid);
  }

  it('accepts a grant signed by its server once (the control), and refuses its replay, also after a restart', async () => {
    const sessionId = await startingRow();
    const grant = serverSigned(body(sessionId));
    const agentPid = w.agent.child.pid!;
    const opened = await openOnAgent(grant);
    expect(opened.pid).toBeGreaterThan(0);
    // The harness sees an accepted grant: the shell is the agent's child, the row active, the start logged.
    expect(shellChildren(agentPid)).toContain(opened.pid);
    expect((await sessionRow(w.server, sessionId))?.status).toBe('active');
    await w.agent.waitForLog((l) => l.msg === 'terminal session started' && l.sessionId === sessionId, 5000);

    await endOnceReady(sessionId, opened.pid);
    await waitFor(async () => (await sessionRow(w.server, sessionId))?.status === 'ended', 5000, 'session ended');

    // A compromised server re-arms the row so the link would attach again, then replays the captured grant.
    const rearm = () => ctx().db.update(sessions).set({ status: 'starting', endedAt: null, endReason: null, endRequestedAt: null }).where(eq(sessions.id, sessionId));
    await rearm();
    await expectRefused(sessionId, grant, /already used \(replay\)/);

    // The memory of used grants is on disk (private), so a restart does not forget it.
    const usedFile = path.join(w.agent.stateDir, 'used-session-grants.json');
    expect(Object.keys(JSON.parse(fs.readFileSync(usedFile, 'utf8')))).toContain(sessionId);
    expect(fs.statSync(usedFile).mode & 0o077).toBe(0);
    await w.restartAgent();
    await expectRefused(sessionId, grant, /already used \(replay\)/);
  });

  it('refuses a grant signed by another key (forged)', async () => {
    const sessionId = await startingRow();
    const attacker = generateKeyPair();
    await expectRefused(sessionId, signSessionGrant(body(sessionId), signerFor(attacker.secretKey)), /signature is not by this agent's server/);
  });

  it('refuses a grant issued by its server for another machine', async () => {
    const sessionId = await startingRow();
    await expectRefused(sessionId, serverSigned(body(sessionId, { machineId: crypto.randomUUID() })), /issued for another machine/);
  });

  it('refuses a grant whose start window is over (beyond the clock skew)', async () => {
    const sessionId = await startingRow();
    const startBy = Date.now() - GRANT_CLOCK_SKEW_MS - 5_000;
    const grant = serverSigned(body(sessionId, { issuedAt: new Date(startBy - GRANT_START_WINDOW_MS).toISOString(), startBy: new Date(startBy).toISOString() }));
    await expectRefused(sessionId, grant, /expired/);
  });

  it('refuses a grant issued in the future and one whose maximum duration is over', async () => {
    const future = await startingRow();
    const issuedAt = Date.now() + GRANT_CLOCK_SKEW_MS + 60_000;
    await expectRefused(
      future,
      serverSigned(body(future, { issuedAt: new Date(issuedAt).toISOString(), startBy: new Date(issuedAt + GRANT_START_WINDOW_MS).toISOString() })),
      /issued in the future/,
    );
    const over = await startingRow();
    await expectRefused(over, serverSigned(body(over, { endsAt: new Date(Date.now() - 1000).toISOString() })), /maximum duration is over/);
  });

  it('refuses a tampered grant: the signature is over other bytes', async () => {
    const sessionId = await startingRow();
    const genuine = serverSigned(body(sessionId));
    // Same signature, body changed to name another user (an attacker who can edit but not sign).
    const edited = { ...JSON.parse(Buffer.from(genuine.body, 'base64').toString('utf8')), userId: crypto.randomUUID() };
    await expectRefused(sessionId, { body: Buffer.from(JSON.stringify(edited)).toString('base64'), signature: genuine.signature }, /signature is not by this agent's server/);
    // And a signature that is not even well-formed.
    await expectRefused(sessionId, { body: genuine.body, signature: 'AAAA' }, /malformed encoding/);
  });

  it("refuses run-as 'remote_support' where Steward created no Remote Support account", async () => {
    const sessionId = await startingRow();
    await expectRefused(sessionId, serverSigned(body(sessionId, { runAs: 'remote_support' })), /Remote Support account/);
  });

  it('a refused grant is not burnt: the same session id opens with a genuine grant afterwards', async () => {
    // Refusal happens before the replay memory is written, so an attacker's forgery cannot deny a real session.
    const sessionId = await startingRow();
    await expectRefused(sessionId, signSessionGrant(body(sessionId), signerFor(generateKeyPair().secretKey)), /signature/);
    const opened = await openOnAgent(serverSigned(body(sessionId)));
    expect((await sessionRow(w.server, sessionId))?.status).toBe('active');
    await endOnceReady(sessionId, opened.pid);
  });
});
