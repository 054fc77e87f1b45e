import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import pty, { type IPty } from 'node-pty';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { auditEvents, sessions } from '../../server/db/schema.ts';
import { waitFor } from '../helpers/api.ts';
import { clickDialogButton, HAVE_DESKTOP_TOOLS, startVirtualDisplay, writeUtmp, type VirtualDisplay } from '../helpers/desktop.ts';
import { shellChildren, startSessionWorld, type SessionWorld } from '../helpers/sessions.ts';

/**
 * The site's desktop consent policy with every part real: the agent reads the logged-on users from a utmp file
 * (written by the real utmpdump), tells a text login on its real tty (a pty this test holds) and asks a graphical
 * login with a real dialog on a real X server (Xvfb), which the test answers by clicking it.
 */
if (!HAVE_DESKTOP_TOOLS) console.warn('SKIPPED: desktop consent end-to-end tests: Xvfb/xdotool/xmessage/utmpdump missing (apt-get install xvfb xdotool x11-utils)');

describe.skipIf(!HAVE_DESKTOP_TOOLS)('desktop consent before a session', () => {
  let world: SessionWorld;
  let dir: string;
  let utmp: string;
  let x: VirtualDisplay;
  let endUserTerminal: IPty;
  let endUserScreen = '';
  const DIALOG = 'Allow remote support?';

  const policy = (changes: Record<string, unknown>) =>
    world.admin.put(`/api/v1/sites/${world.siteId}/session-policy`, { desktopConsent: 'none', serverApproval: false, approvalMaxMinutes: 60, runAs: 'agent', recordInput: false, ...changes });
  const open = () => world.admin.post(`/api/v1/machines/${world.machineId}/sessions`, { kind: 'terminal', cols: 80, rows: 24 });
  const consentAudit = (sessionId: string) =>
    waitFor(async () => {
      const [row] = await world.server.running.ctx.db.select().from(auditEvents).where(and(eq(auditEvents.targetId, sessionId), eq(auditEvents.action, 'session.consent')));
      return row;
    }, 5000, 'session.consent audit row');
  const sessionRow = async (id: string) => (await world.server.running.ctx.db.select().from(sessions).where(eq(sessions.id, id)))[0];
  const textLogin = () => ({ user: 'root', line: (endUserTerminal as unknown as { _pty: string })._pty.replace('/dev/', ''), pid: process.pid });
  const graphicalLogin = () => ({ user: 'nobody', line: x.display, host: x.display, pid: process.pid });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'steward-consent-'));
    utmp = path.join(dir, 'utmp');
    await writeUtmp(utmp, []);
    x = await startVirtualDisplay();
    endUserTerminal = pty.spawn('/bin/sh', [], { cols: 100, rows: 30, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    endUserTerminal.onData((d) => (endUserScreen += d));
    // One inventory only (at connect): it reports the kind, and a later one would undo the servers test's change.
    world = await startSessionWorld('pglite', {}, { STEWARD_AGENT_UTMP: utmp, STEWARD_AGENT_KIND: 'desktop', STEWARD_AGENT_INVENTORY_SECONDS: '3600' });
    await waitFor(async () => (await world.admin.get(`/api/v1/machines/${world.machineId}`)).body.kind === 'desktop', 20_000, 'the machine reported as a desktop');
  });
  afterAll(async () => {
    endUserTerminal?.kill();
    await world?.close();
    await x?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    endUserScreen = '';
  });

  it('notify: the logged-on user reads the notice on their own terminal, and the session starts', async () => {
    await writeUtmp(utmp, [textLogin()]);
    expect((await policy({ desktopConsent: 'notify' })).status).toBe(200);
    const opened = await open();
    expect(opened.status, JSON.stringify(opened.body)).toBe(201);
    await waitFor(async () => endUserScreen.includes('is starting a remote support session'), 5000, 'the notice on the end user\'s tty');
    expect(endUserScreen).toContain('Remote support session');
    const row = await sessionRow(opened.body.id);
    expect(row.consentOutcome).toBe('notified');
    expect((await consentAudit(opened.body.id)).details).toMatchObject({ mode: 'notify', outcome: 'notified', users: ['root'] });
    await world.admin.delete(`/api/v1/sessions/${opened.body.id}`);
  });

  it('require: the end user clicks Allow in the dialog on their display, and the session starts', async () => {
    await writeUtmp(utmp, [graphicalLogin()]);
    await policy({ desktopConsent: 'require' });
    const opening = open();
    await clickDialogButton(x.display, DIALOG, 0);
    const opened = await opening;
    expect(opened.status, JSON.stringify(opened.body)).toBe(201);
    expect(opened.body.status).toBe('active');
    expect((await sessionRow(opened.body.id)).consentOutcome).toBe('allowed');
    expect((await consentAudit(opened.body.id)).details).toMatchObject({ mode: 'require', outcome: 'allowed', users: ['nobody'] });
    await world.admin.delete(`/api/v1/sessions/${opened.body.id}`);
  });

  it('require: Deny keeps the shell from ever starting, and the refusal is audited', async () => {
    await writeUtmp(utmp, [graphicalLogin()]);
    await policy({ desktopConsent: 'require' });
    const before = shellChildren(world.agent.child.pid!).length;
    const opening = open();
    await clickDialogButton(x.display, DIALOG, 1);
    const refused = await opening;
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('consent_refused');
    expect(refused.body.error.message).toContain('nobody denied the session');
    expect(shellChildren(world.agent.child.pid!).length).toBe(before);
    const [row] = await world.server.running.ctx.db.select().from(sessions).where(and(eq(sessions.machineId, world.machineId), eq(sessions.consentOutcome, 'refused')));
    expect(row.status).toBe('failed');
    const audit = await consentAudit(row.id);
    expect(audit.outcome).toBe('failure');
    expect(audit.details).toMatchObject({ outcome: 'refused' });
  });

  it('require with only a text login: nobody can be asked, so the desktop stays closed', async () => {
    await writeUtmp(utmp, [textLogin()]);
    await policy({ desktopConsent: 'require' });
    const refused = await open();
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toContain('could not be asked');
  });

  it('require with nobody logged on: refused by default, allowed when the site says so', async () => {
    await writeUtmp(utmp, []);
    await policy({ desktopConsent: 'require' });
    const refused = await open();
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toContain('nobody is logged on');
    await policy({ desktopConsent: 'require', consentWhenNobody: 'allow' });
    const opened = await open();
    expect(opened.status, JSON.stringify(opened.body)).toBe(201);
    expect((await sessionRow(opened.body.id)).consentOutcome).toBe('nobody_logged_on');
    await world.admin.delete(`/api/v1/sessions/${opened.body.id}`);
  });

  it('servers run unattended whatever the desktop policy says', async () => {
    await writeUtmp(utmp, []);
    await policy({ desktopConsent: 'require' });
    const { machines } = await import('../../server/db/schema.ts');
    await world.server.running.ctx.db.update(machines).set({ kind: 'server' }).where(eq(machines.id, world.machineId));
    try {
      const opened = await open();
      expect(opened.status, JSON.stringify(opened.body)).toBe(201);
      expect((await sessionRow(opened.body.id)).consentOutcome).toBeNull();
      await world.admin.delete(`/api/v1/sessions/${opened.body.id}`);
    } finally {
      await world.server.running.ctx.db.update(machines).set({ kind: 'desktop' }).where(eq(machines.id, world.machineId));
    }
  });
});
