import { rmSync } from 'node:fs';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, authTokens, credentialAccounts, credentialPolicies, credentialVersions, outboxMessages, siteAccess } from '../../server/db/schema.ts';
import { groupMembers, linuxFakeRoot, linuxPasswordOpens, passwdEntry } from '../helpers/account-stores.ts';
import { enrollAgent, startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { createSiteWithToken, setupAdmin, waitFor, ADMIN, type Api } from '../helpers/api.ts';
import { attachConsole } from '../helpers/console.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { awaitStepHeadroom, enrollTotp, forgetLastStep, totpCode } from '../helpers/totp.ts';
import { createUser, grantSiteAccess, loginAs } from '../helpers/users.ts';

/**
 * Automatic credentials end to end with every part real: a server, enrolled agent processes, and their account store
 * a fake-root copy of /etc driven by the real shadow tools. Setup creates the Remote Support account, the escrowed
 * password opens it (checked with crypt(3) against the shadow file), rotation changes it, and the database holds
 * nothing that reveals it.
 */
describe.each(backends())('automatic credentials on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  let adminToken: string;
  let secret: string;
  let adminUserId: string;
  let siteId: string;
  let desktop: { root: string; agent: AgentProcess; machineId: string };
  let serverMachine: { root: string; agent: AgentProcess; machineId: string };
  const revealed: string[] = [];

  const tick = () => server.running.rotations.tick();
  const policyBody = (changes: { server?: object; desktop?: object; rotation?: object } = {}) => ({
    server: { enabled: false, username: 'NOC_HelpDesk', nocAccessLevel: 2, serviceLevel: 'elite', ...changes.server },
    desktop: { enabled: true, ...changes.desktop },
    rotation: { mode: 'characters', length: 20, classes: ['lower', 'upper', 'digit', 'symbol'], passphraseWords: 6, maxAgeDays: 30, rotateAfterUseMinutes: 60, historyDepth: 5, rotateOnAccessRevoked: true, ...changes.rotation },
  });
  /** Reveals; the first call steps up with a code, later ones ride on that step-up (15 minutes). */
  async function reveal(machineId: string, account = 'remote_support') {
    const res = await admin.post(`/api/v1/machines/${machineId}/credentials/${account}/reveal`, { reason: 'e2e test' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    revealed.push(res.body.password);
    return res.body;
  }
  async function startMachine(kind: 'desktop' | 'server', token: string) {
    const root = linuxFakeRoot();
    const enrolled = await enrollAgent(server.url, token);
    const agent = startAgent(enrolled.stateDir, { STEWARD_AGENT_ACCOUNTS_ROOT: root, STEWARD_AGENT_KIND: kind, STEWARD_AGENT_INVENTORY_SECONDS: '3600' });
    await agent.waitForLog((l) => l.msg === 'connected to server', 20_000);
    await waitFor(async () => (await admin.get(`/api/v1/machines/${enrolled.machineId}`)).body.kind === kind, 20_000, `${kind} inventory`);
    return { root, agent, machineId: enrolled.machineId };
  }

  beforeAll(async () => {
    server = await startTestServer({ backend, env: { STEWARD_CREDENTIAL_TICK_SECONDS: '3600' } });
    ({ api: admin, userId: adminUserId, token: adminToken } = await setupAdmin(server));
    ({ secret } = await enrollTotp(admin));
    const site = await createSiteWithToken(admin, { maxUses: 5 });
    siteId = site.siteId;
    desktop = await startMachine('desktop', site.token);
    serverMachine = await startMachine('server', site.token);
  });
  afterAll(async () => {
    await desktop?.agent.stop();
    await serverMachine?.agent.stop();
    await server?.close();
    for (const m of [desktop, serverMachine]) if (m) rmSync(m.root, { recursive: true, force: true });
  });

  it('setup creates the Remote Support account as an admin, and the escrowed password opens it', async () => {
    const put = await admin.put(`/api/v1/sites/${siteId}/credential-policy`, policyBody());
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body.setup.state).toBe('in_progress');
    const locked = await admin.put(`/api/v1/sites/${siteId}/credential-policy`, policyBody({ rotation: { length: 24 } }));
    expect(locked.status).toBe(409);
    expect(locked.body.error.code).toBe('credential_setup_in_progress');

    await tick();
    const status = await admin.get(`/api/v1/sites/${siteId}/credential-status`);
    expect(status.body.desktop.status).toBe('created');
    expect(status.body.setup.state).toBe('complete');
    const entry = passwdEntry(desktop.root, 'remote-support');
    expect(entry?.[4]).toBe('Remote Support,,,,Managed by Steward');
    expect(groupMembers(desktop.root, 'sudo')).toContain('remote-support');

    // The admin's last second factor (confirming enrollment) is made 20 minutes old: a reveal needs a new one.
    await server.running.ctx.db.update(authTokens).set({ mfaVerifiedAt: new Date(Date.now() - 20 * 60_000) }).where(eq(authTokens.userId, adminUserId));
    const refused = await admin.post(`/api/v1/machines/${desktop.machineId}/credentials/remote_support/reveal`, { reason: 'e2e test' });
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toContain('second factor given within the last 15 minutes');
    await forgetLastStep(server, adminUserId); // enrollment just used this step's code
    await awaitStepHeadroom();
    const stepUp = await admin.post(`/api/v1/machines/${desktop.machineId}/credentials/remote_support/reveal`, { reason: 'e2e test', totpCode: await totpCode(secret) });
    expect(stepUp.status, JSON.stringify(stepUp.body)).toBe(200);
    revealed.push(stepUp.body.password);
    const { password, unconfirmed } = await reveal(desktop.machineId);
    expect(password).toBe(stepUp.body.password);
    expect(unconfirmed).toEqual([]);
    expect(password.length).toBeGreaterThanOrEqual(20);
    expect(linuxPasswordOpens(desktop.root, 'remote-support', password)).toBe(true);
    expect(linuxPasswordOpens(desktop.root, 'remote-support', `${password}x`)).toBe(false);

    const [mail] = await server.running.ctx.db.select().from(outboxMessages).where(eq(outboxMessages.purpose, 'credential_setup_summary'));
    expect(mail.recipient).toBe(ADMIN.email);
  });

  it('a reveal rides on a recent step-up, refuses a wrong code, is audited with its reason, and schedules a rotation after use', async () => {
    // Within 15 minutes of the step-up, no new code is needed.
    const without = await admin.post(`/api/v1/machines/${desktop.machineId}/credentials/remote_support/reveal`, { reason: 'no code' });
    expect(without.status).toBe(200);
    const wrong = await admin.post(`/api/v1/machines/${desktop.machineId}/credentials/remote_support/reveal`, { reason: 'wrong code', totpCode: '000000' });
    expect(wrong.status).toBe(403);
    const audits = await server.running.ctx.db.select().from(auditEvents).where(and(eq(auditEvents.action, 'credential.reveal'), eq(auditEvents.targetId, desktop.machineId)));
    expect(audits.map((a) => (a.details as { reason: string }).reason)).toEqual(expect.arrayContaining(['e2e test', 'no code']));
    const [account] = (await admin.get(`/api/v1/machines/${desktop.machineId}/credentials`)).body;
    expect(account.rotation).toMatchObject({ reason: 'after_reveal', state: 'queued' });
  });

  it('rotates on demand: the new password opens the account, the old one no longer does, history is kept sealed', async () => {
    const before = (await reveal(desktop.machineId)).password;
    const rotate = await admin.post(`/api/v1/machines/${desktop.machineId}/credentials/remote_support/rotate`, {});
    expect(rotate.status).toBe(202);
    await tick();
    const after = (await reveal(desktop.machineId)).password;
    expect(after).not.toBe(before);
    expect(linuxPasswordOpens(desktop.root, 'remote-support', after)).toBe(true);
    expect(linuxPasswordOpens(desktop.root, 'remote-support', before)).toBe(false);
    const history = (await admin.get(`/api/v1/machines/${desktop.machineId}/credentials/remote_support/history`)).body;
    expect(history.filter((v: { state: string }) => v.state === 'current')).toHaveLength(1);
    expect(JSON.stringify(history)).not.toContain(after);
    const previous = history.find((v: { state: string }) => v.state === 'retired');
    const old = await admin.post(`/api/v1/machines/${desktop.machineId}/credentials/remote_support/reveal`, { reason: 'restoring a backup', versionId: previous.id });
    expect(old.status, JSON.stringify(old.body)).toBe(200);
    expect(old.body).toMatchObject({ password: before, state: 'retired', versionId: previous.id });
  });

  it('rotates once a revealer loses access to the machine, and after use when the delay is over', async () => {
    const tech = await createUser(server, { role: 'technician' });
    const access = await grantSiteAccess(server, tech.id, siteId, 'all');
    const techApi = await loginAs(server, tech.email);
    await enrollTotp(techApi); // confirming enrollment is a fresh second factor: the reveal step-up is satisfied
    const seen = await techApi.post(`/api/v1/machines/${desktop.machineId}/credentials/remote_support/reveal`, { reason: 'ticket 4711' });
    expect(seen.status, JSON.stringify(seen.body)).toBe(200);
    revealed.push(seen.body.password);
    await tick();
    expect(linuxPasswordOpens(desktop.root, 'remote-support', seen.body.password)).toBe(true); // still has access: unchanged

    await server.running.ctx.db.delete(siteAccess).where(eq(siteAccess.id, access.id));
    await tick(); // queues the access_revoked rotation …
    await tick(); // … and runs it
    expect(linuxPasswordOpens(desktop.root, 'remote-support', seen.body.password)).toBe(false);
    const rotations = await server.running.ctx.db.select().from(auditEvents).where(and(eq(auditEvents.action, 'credential.rotate'), eq(auditEvents.targetId, desktop.machineId)));
    expect(rotations.map((r) => (r.details as { reason: string }).reason)).toContain('access_revoked');

    // After use: with no delay, the rotation a reveal schedules runs at the next round.
    await server.running.ctx.db.update(credentialPolicies).set({ rotateAfterUseMinutes: 0 }).where(eq(credentialPolicies.siteId, siteId));
    const used = (await reveal(desktop.machineId)).password;
    await tick();
    expect(linuxPasswordOpens(desktop.root, 'remote-support', used)).toBe(false);
    expect(linuxPasswordOpens(desktop.root, 'remote-support', (await reveal(desktop.machineId)).password)).toBe(true);
  });

  it('runs a session as the Remote Support account when the site says so, and rotates its password afterwards', async () => {
    const uid = passwdEntry(desktop.root, 'remote-support')?.[2];
    await tick(); // no rotation left open from earlier tests
    // Read straight from escrow (a reveal would itself schedule a rotation).
    const [current] = await server.running.ctx.db.select().from(credentialVersions).where(eq(credentialVersions.state, 'current'));
    const before = Buffer.from(server.running.ctx.escrow.open(current.sealed) as Uint8Array).toString('utf8');
    expect(linuxPasswordOpens(desktop.root, 'remote-support', before)).toBe(true);
    const policy = (await admin.get(`/api/v1/sites/${siteId}/session-policy`)).body;
    const { updatedAt: _u, ...sessionPolicy } = policy;
    expect((await admin.put(`/api/v1/sites/${siteId}/session-policy`, { ...sessionPolicy, runAs: 'remote_support' })).status).toBe(200);
    const opened = await admin.post(`/api/v1/machines/${desktop.machineId}/sessions`, { kind: 'terminal', cols: 80, rows: 24 });
    expect(opened.status, JSON.stringify(opened.body)).toBe(201);
    expect(opened.body.runAs).toBe('remote_support');
    const term = await attachConsole(server.url, opened.body.id, { token: adminToken });
    term.type('echo uid=$(id -u) home=$HOME\r');
    await term.waitForOutput(`uid=${uid} home=/home/remote-support`);
    term.type('exit\r');
    await term.waitForMessage('ended');
    await waitFor(async () => (await admin.get(`/api/v1/machines/${desktop.machineId}/credentials`)).body[0].rotation?.reason === 'after_session', 5000, 'the after-session rotation');
    await tick();
    expect(linuxPasswordOpens(desktop.root, 'remote-support', before)).toBe(false);
    await admin.put(`/api/v1/sites/${siteId}/session-policy`, { ...sessionPolicy, runAs: 'agent' });
  });

  it('rotates every account of a site in one request, audited once', async () => {
    await tick();
    const [current] = await server.running.ctx.db.select().from(credentialVersions).where(eq(credentialVersions.state, 'current'));
    const before = Buffer.from(server.running.ctx.escrow.open(current.sealed) as Uint8Array).toString('utf8');
    const res = await admin.post(`/api/v1/sites/${siteId}/credentials/rotate`, { purpose: 'remote_support', reason: 'technician left' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body.queued).toBe(1);
    await tick();
    expect(linuxPasswordOpens(desktop.root, 'remote-support', before)).toBe(false);
    const audits = await server.running.ctx.db.select().from(auditEvents).where(eq(auditEvents.action, 'credential.rotate_site'));
    expect(audits).toHaveLength(1);
    expect(audits[0].details).toMatchObject({ accounts: 1, reason: 'technician left' });
  });

  it('rotates on schedule once the password is older than the site\'s maximum age', async () => {
    await tick();
    const [current] = await server.running.ctx.db.select().from(credentialVersions).where(eq(credentialVersions.state, 'current'));
    const before = Buffer.from(server.running.ctx.escrow.open(current.sealed) as Uint8Array).toString('utf8');
    await server.running.ctx.db.update(credentialAccounts).set({ lastRotatedAt: new Date(Date.now() - 31 * 86400_000) }).where(eq(credentialAccounts.machineId, desktop.machineId));
    await tick(); // queues the scheduled rotation and runs it
    expect(linuxPasswordOpens(desktop.root, 'remote-support', before)).toBe(false);
    const [account] = (await admin.get(`/api/v1/machines/${desktop.machineId}/credentials`)).body;
    expect(Date.now() - Date.parse(account.lastRotatedAt)).toBeLessThan(60_000);
    const scheduled = await server.running.ctx.db.select().from(auditEvents).where(and(eq(auditEvents.action, 'credential.rotate'), eq(auditEvents.targetId, desktop.machineId)));
    expect(scheduled.map((r) => (r.details as { reason: string }).reason)).toContain('schedule');
  });

  it('a server whose service runs as the NOC name, or a site below the eligible service level, is not qualified, with reasons', async () => {
    mkdirSync(path.join(serverMachine.root, 'etc/systemd/system'), { recursive: true });
    writeFileSync(path.join(serverMachine.root, 'etc/systemd/system/legacy-backup.service'), '[Service]\nUser=NOC_HelpDesk\nExecStart=/bin/true\n');
    expect((await admin.put(`/api/v1/sites/${siteId}/credential-policy`, policyBody({ server: { enabled: true } }))).status).toBe(200);
    await tick();
    const status = await admin.get(`/api/v1/sites/${siteId}/credential-status`);
    const noc = status.body.machines.find((m: { purpose: string }) => m.purpose === 'noc');
    expect(noc.status).toBe('not_qualified');
    expect(noc.reasons.join(' ')).toContain("systemd unit 'legacy-backup.service' runs as 'NOC_HelpDesk'");
    expect(passwdEntry(serverMachine.root, 'NOC_HelpDesk')).toBeNull();
    expect(status.body.server.status).toBe('not_qualified');

    expect((await admin.put(`/api/v1/sites/${siteId}/credential-policy`, policyBody({ server: { enabled: true, serviceLevel: 'standard' } }))).status).toBe(200);
    const after = await admin.get(`/api/v1/sites/${siteId}/credential-status`);
    expect(after.body.machines.find((m: { purpose: string }) => m.purpose === 'noc').reasons.join(' ')).toContain("service level 'standard' is not eligible");
  });

  it('a custom NOC name may not be a reserved account', async () => {
    await tick(); // let the previous setup finish, so the settings are not locked
    for (const name of ['Administrator', 'ROOT', 'besadmin', 'BackupAgent']) {
      const res = await admin.put(`/api/v1/sites/${siteId}/credential-policy`, policyBody({ server: { enabled: true, username: name } }));
      expect(res.status, name).toBe(400);
      expect(res.body.error.message).toContain('reserved');
    }
  });

  it('keeps only ciphertext: no table and no log line holds any revealed password', async () => {
    expect(revealed.length).toBeGreaterThan(2);
    const tables = ['credential_versions', 'credential_accounts', 'credential_jobs', 'credential_reveals', 'audit_events', 'outbox_messages', 'machines'];
    for (const table of tables) {
      const rows = await server.running.ctx.db.execute(sql.raw(`select row_to_json(t)::text as j from ${table} t`));
      const text = ((Array.isArray(rows) ? rows : (rows as { rows: unknown[] }).rows) as { j: string }[]).map((r) => r.j).join('\n');
      for (const password of revealed) expect(text.includes(password), `${table} holds a password`).toBe(false);
    }
    for (const password of revealed) expect(server.logText().includes(password)).toBe(false);
    for (const m of [desktop, serverMachine]) for (const password of revealed) expect(JSON.stringify(m.agent.logs).includes(password)).toBe(false);
  });
});
