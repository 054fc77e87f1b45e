import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/api.ts';
import { attachConsole } from '../helpers/console.ts';
import { backends } from '../helpers/db.ts';
import { auditRows, cookieLogin, openSession, originOf, sessionRow, startSessionWorld, type SessionWorld } from '../helpers/sessions.ts';
import { createUser, grantSiteAccess, loginAs } from '../helpers/users.ts';

/**
 * Who may attach a console to a session stream, and how: MeshCentral CVE-2024-26135 (cross-site WebSocket hijacking:
 * a page on another site opens the WebSocket with the victim's cookie) and the usual authentication and
 * authorization refusals, every one an HTTP answer before the upgrade — and the denials by the authorizer audited.
 */
describe.each(backends())('console stream authentication and authorization on %s', (backend) => {
  let w: SessionWorld;
  let sessionId: string;
  const users: Record<'tech' | 'outsider' | 'noRemote' | 'otherClientUser' | 'viewer', { id: string; email: string }> = {} as never;

  beforeAll(async () => {
    w = await startSessionWorld(backend);
    const tech = await createUser(w.server, { role: 'technician' });
    await grantSiteAccess(w.server, tech.id, w.siteId, 'all');
    const outsider = await createUser(w.server, { role: 'technician' });
    const noRemote = await createUser(w.server, { role: 'technician', allowRemoteControl: false });
    await grantSiteAccess(w.server, noRemote.id, w.siteId, 'all');
    const otherClient = await w.admin.post('/api/v1/clients', { name: 'Other Client' });
    const otherClientUser = await createUser(w.server, { role: 'client_end_user', kind: 'client_user', clientId: otherClient.body.id });
    // A custom role that may watch sessions but not join them (no sessions.join).
    const role = await w.admin.post('/api/v1/roles', { name: 'Session Watcher', permissions: ['machines.view', 'sessions.view_only'], scope: 'granted' });
    expect(role.status, JSON.stringify(role.body)).toBe(201);
    const viewer = await createUser(w.server, { role: role.body.id });
    await grantSiteAccess(w.server, viewer.id, w.siteId, 'all');
    Object.assign(users, { tech, outsider, noRemote, otherClientUser, viewer });
    sessionId = await openSession(w.admin, w.machineId);
  });
  afterAll(async () => {
    await w?.close();
  });

  /** Attaches and expects a refusal; returns the HTTP status and the error body. */
  async function refused(id: string, opts: Parameters<typeof attachConsole>[2]): Promise<{ status: number; error: { code: string; message: string } }> {
    const outcome = await attachConsole(w.server.url, id, opts).then(
      (term) => {
        term.close();
        return { status: 101, body: '{}' };
      },
      (e: Error & { status?: number; body?: string }) => ({ status: e.status ?? 0, body: e.body ?? e.message }),
    );
    expect(outcome.status, `expected a refusal, got ${outcome.status}`).not.toBe(101);
    return { status: outcome.status, error: JSON.parse(outcome.body).error };
  }

  async function joinsBy(userId: string) {
    return (await auditRows(w.server, { action: 'session.join', targetId: sessionId })).filter((r) => r.actorId === userId);
  }

  it('refuses a cross-site WebSocket that carries a valid cookie (Origin of another site): 403, nothing joined', async () => {
    const cookie = await cookieLogin(w.server, users.tech.email);
    const crossSite = await refused(sessionId, { headers: { cookie, origin: 'https://evil.example' } });
    expect(crossSite).toMatchObject({ status: 403, error: { code: 'forbidden', message: 'cross-origin WebSocket refused' } });
    // Lookalike origins are not ours either.
    const lookalike = await refused(sessionId, { headers: { cookie, origin: `${originOf(w.server)}.evil.example` } });
    expect(lookalike.status).toBe(403);
    // The Origin rule holds for bearer tokens too.
    const tech = await loginAs(w.server, users.tech.email);
    expect((await refused(sessionId, { token: tech.token, headers: { origin: 'https://evil.example' } })).status).toBe(403);
    expect(await joinsBy(users.tech.id)).toEqual([]);
    expect(w.server.running.ctx.sessions.get(sessionId)!.participants().map((p) => p.userId)).not.toContain(users.tech.id);
    // Each attempt leaves a trace in the audit log, naming the foreign origin.
    const traces = await waitFor(async () => {
      const rows = await auditRows(w.server, { action: 'session.stream_refused', targetId: sessionId });
      return rows.length >= 3 ? rows : null;
    }, 5000, 'cross-origin refusals audited');
    expect(traces.map((r) => (r.details as { origin: string }).origin)).toEqual(expect.arrayContaining(['https://evil.example', `${originOf(w.server)}.evil.example`]));
    expect(traces.every((r) => r.outcome === 'failure')).toBe(true);
  });

  it('refuses a cookie without an Origin header (not from a browser on our console): 403', async () => {
    const cookie = await cookieLogin(w.server, users.tech.email);
    const noOrigin = await refused(sessionId, { headers: { cookie } });
    expect(noOrigin).toMatchObject({ status: 403, error: { code: 'forbidden' } });
    expect(noOrigin.error.message).toMatch(/needs a same-origin Origin/);
    expect(await joinsBy(users.tech.id)).toEqual([]);
  });

  it('admits a valid cookie with the same Origin, as a participant, and audits the join', async () => {
    const cookie = await cookieLogin(w.server, users.tech.email);
    const term = await attachConsole(w.server.url, sessionId, { headers: { cookie, origin: originOf(w.server) } });
    const joined = await term.waitForMessage('joined');
    expect(joined.you).toMatchObject({ userId: users.tech.id, role: 'participant' });
    term.type('echo cookie-$((20+3))\r');
    await term.waitForOutput('cookie-23');
    const rows = await waitFor(async () => {
      const r = await joinsBy(users.tech.id);
      return r.length ? r : null;
    }, 5000, 'join audit');
    expect(rows[0].details).toMatchObject({ role: 'participant', tokenKind: 'console' });
    term.close();
    await term.closed;
  });

  it('refuses missing and invalid credentials: 401', async () => {
    expect(await refused(sessionId, {})).toMatchObject({ status: 401 });
    expect(await refused(sessionId, { token: 'not-a-token' })).toMatchObject({ status: 401 });
    // Well-formed, but issued by nobody.
    expect(await refused(sessionId, { token: `stwt_${'A'.repeat(43)}` })).toMatchObject({ status: 401 });
    expect(await refused(sessionId, { headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } })).toMatchObject({ status: 401 });
    expect(await refused(sessionId, { headers: { cookie: 'steward_session=forged', origin: originOf(w.server) } })).toMatchObject({ status: 401 });
    // The console cookie's token is for the browser only: presented as a bearer token it is refused.
    const cookie = await cookieLogin(w.server, users.tech.email);
    expect(await refused(sessionId, { token: decodeURIComponent(cookie.split('=').slice(1).join('=')) })).toMatchObject({ status: 401 });
    // A revoked (logged out) bearer token no longer attaches.
    const tech = await loginAs(w.server, users.tech.email);
    expect((await tech.post('/api/v1/auth/logout')).status).toBe(204);
    expect(await refused(sessionId, { token: tech.token })).toMatchObject({ status: 401 });
  });

  it('refuses a technician without access to the machine: 403, audited as access.denied', async () => {
    const outsider = await loginAs(w.server, users.outsider.email);
    const denied = await refused(sessionId, { token: outsider.token });
    expect(denied.status).toBe(403);
    const audit = await auditRows(w.server, { action: 'access.denied', actorId: users.outsider.id });
    expect(audit.map((r) => r.details)).toContainEqual(expect.objectContaining({ action: 'sessions.join', sessionId }));
    expect(audit[0]).toMatchObject({ outcome: 'failure', targetType: 'machine', targetId: w.machineId });
    expect(await joinsBy(users.outsider.id)).toEqual([]);
    // Nor may they open a session of their own there.
    expect((await outsider.post(`/api/v1/machines/${w.machineId}/sessions`, { kind: 'terminal', cols: 80, rows: 24 })).status).toBe(403);
  });

  it('answers 404 for an unknown session and 410 for an ended one', async () => {
    expect(await refused(crypto.randomUUID(), { token: w.adminToken })).toMatchObject({ status: 404, error: { code: 'not_found' } });
    const ended = await openSession(w.admin, w.machineId);
    const term = await attachConsole(w.server.url, ended, { token: w.adminToken });
    term.type('echo ready-$((1+1))\r');
    await term.waitForOutput('ready-2');
    expect((await w.admin.delete(`/api/v1/sessions/${ended}`)).status).toBe(202);
    await term.closed;
    await waitFor(async () => (await sessionRow(w.server, ended))?.status === 'ended', 5000, 'session ended');
    expect(await refused(ended, { token: w.adminToken })).toMatchObject({ status: 410, error: { code: 'session_ended' } });
  });

  it('refuses a user whose Allow Remote Control Access is off, on the request and on the stream', async () => {
    const noRemote = await loginAs(w.server, users.noRemote.email);
    const request = await noRemote.post(`/api/v1/machines/${w.machineId}/sessions`, { kind: 'terminal', cols: 80, rows: 24 });
    expect(request.status).toBe(403);
    expect(request.body.error.message).toMatch(/Allow Remote Control Access is off/);
    const stream = await refused(sessionId, { token: noRemote.token });
    expect(stream.status).toBe(403);
    expect(stream.error.message).toMatch(/Allow Remote Control Access is off/);
    const audit = await auditRows(w.server, { action: 'access.denied', actorId: users.noRemote.id });
    expect(audit.length).toBeGreaterThanOrEqual(2);
  });

  it("refuses a client end user of another client, on the request and on the stream", async () => {
    const other = await loginAs(w.server, users.otherClientUser.email);
    const stream = await refused(sessionId, { token: other.token });
    expect(stream.status).toBe(403);
    expect(stream.error.message).toMatch(/only their own client/);
    const request = await other.post(`/api/v1/machines/${w.machineId}/sessions`, { kind: 'terminal', cols: 80, rows: 24 });
    expect(request.status).toBe(403);
    expect(await joinsBy(users.otherClientUser.id)).toEqual([]);
  });

  it('refuses a session request from a user without sessions.join: 403, audited', async () => {
    const viewer = await loginAs(w.server, users.viewer.email);
    const sessionsBefore = (await w.admin.get(`/api/v1/sessions?machineId=${w.machineId}`)).body.sessions;
    const request = await viewer.post(`/api/v1/machines/${w.machineId}/sessions`, { kind: 'terminal', cols: 80, rows: 24 });
    expect(request.status).toBe(403);
    expect(request.body.error.message).toMatch(/lacks permission sessions\.join/);
    const audit = await auditRows(w.server, { action: 'access.denied', actorId: users.viewer.id });
    expect(audit.map((r) => r.details)).toContainEqual(expect.objectContaining({ action: 'sessions.join' }));
    // Nothing was created or sent to the agent.
    expect((await w.admin.get(`/api/v1/sessions?machineId=${w.machineId}`)).body.sessions).toHaveLength(sessionsBefore.length);
    expect(await auditRows(w.server, { action: 'session.request', actorId: users.viewer.id })).toEqual([]);
  });
});
