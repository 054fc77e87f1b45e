import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../../server/db/schema.ts';
import { enrollAgent, startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { createSiteWithToken, setupAdmin, waitFor, type Api } from '../helpers/api.ts';
import { attachConsole } from '../helpers/console.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { assignMachine, createUser, loginAs } from '../helpers/users.ts';

/**
 * File transfer inside a live session, through a real agent into a real file system: upload and download with
 * SHA-256 checked at both ends, progress shown to the console, hostile paths refused by the agent, the files right
 * enforced, every transfer audited.
 */
describe.each(backends())('session file transfer on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  let adminToken: string;
  let agent: AgentProcess;
  let machineId: string;
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-files-'));
  const root = path.join(base, 'root');

  beforeAll(async () => {
    fs.mkdirSync(root);
    fs.mkdirSync(path.join(base, 'outside'));
    fs.writeFileSync(path.join(base, 'outside/secret.txt'), 'not for you');
    fs.symlinkSync(path.join(base, 'outside'), path.join(root, 'escape'));
    server = await startTestServer({ backend });
    ({ api: admin, token: adminToken } = await setupAdmin(server));
    const site = await createSiteWithToken(admin);
    const enrolled = await enrollAgent(server.url, site.token);
    machineId = enrolled.machineId;
    agent = startAgent(enrolled.stateDir, { STEWARD_AGENT_FILE_ROOTS: root });
    await waitFor(async () => (await admin.get(`/api/v1/machines/${machineId}`)).body.online, 20_000, 'agent online');
  });
  afterAll(async () => {
    await agent?.stop();
    await server?.close();
    fs.rmSync(base, { recursive: true, force: true });
  });

  const upload = (token: string, sessionId: string, target: string, data: Buffer, sha = createHash('sha256').update(data).digest('hex')) =>
    fetch(`${server.url}/api/v1/sessions/${sessionId}/files?path=${encodeURIComponent(target)}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'x-content-sha256': sha },
      body: new Uint8Array(data),
    });
  const download = (token: string, sessionId: string, target: string) =>
    fetch(`${server.url}/api/v1/sessions/${sessionId}/files?path=${encodeURIComponent(target)}`, { headers: { authorization: `Bearer ${token}` } });

  it('uploads and downloads through the session with checksums, progress and audit', async () => {
    const session = (await admin.post(`/api/v1/machines/${machineId}/sessions`, { kind: 'terminal', cols: 80, rows: 24 })).body;
    const term = await attachConsole(server.url, session.id, { token: adminToken });
    await term.waitForMessage('joined');
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const sha256 = createHash('sha256').update(data).digest('hex');
    const target = path.join(root, 'payload.bin');
    const res = await upload(adminToken, session.id, target, data);
    expect(res.status, await res.clone().text()).toBe(201);
    expect(await res.json()).toEqual({ path: fs.realpathSync(target), size: data.length, sha256 });
    expect(createHash('sha256').update(fs.readFileSync(target)).digest('hex')).toBe(sha256);
    expect(fs.readdirSync(root).filter((f) => f.endsWith('.part'))).toEqual([]);

    const back = await download(adminToken, session.id, target);
    expect(back.status).toBe(200);
    expect(back.headers.get('x-file-size')).toBe(String(data.length));
    expect(Buffer.from(await back.arrayBuffer()).equals(data)).toBe(true);

    const done = await waitFor(async () => {
      const finished = term.messages.filter((m) => m.type === 'transfer' && m.state === 'done');
      return finished.length === 2 ? finished : null;
    }, 5000, 'transfer progress');
    expect(done.map((m) => (m as { direction: string }).direction).sort()).toEqual(['download', 'upload']);
    expect(term.messages.some((m) => m.type === 'transfer' && m.state === 'running')).toBe(true);
    const audit = await waitFor(async () => {
      const rows = await server.running.ctx.db.select().from(auditEvents).where(eq(auditEvents.targetId, session.id));
      const files = rows.filter((r) => r.action.startsWith('session.file_'));
      return files.length === 2 ? files : null;
    }, 5000, 'transfer audit');
    for (const row of audit) expect(row.details).toMatchObject({ sha256, size: data.length });
    term.close();
  });

  it('refuses hostile paths on the agent, checksum mismatches, and transfers without the files right', async () => {
    const session = (await admin.post(`/api/v1/machines/${machineId}/sessions`, { kind: 'terminal', cols: 80, rows: 24 })).body;
    const data = Buffer.from('steward');
    for (const hostile of [path.join(root, '../outside/dropped.txt'), path.join(root, 'escape/dropped.txt'), '/etc/steward-dropped', 'relative.txt']) {
      const res = await upload(adminToken, session.id, hostile, data);
      expect(res.status, hostile).toBe(422);
      expect((await res.json()).error.message).toMatch(/outside the allowed file roots|not an absolute path/);
    }
    expect(fs.existsSync(path.join(base, 'outside/dropped.txt'))).toBe(false);
    for (const hostile of [path.join(root, 'escape/secret.txt'), '/etc/passwd', path.join(root, '../outside/secret.txt')]) {
      const res = await download(adminToken, session.id, hostile);
      expect(res.status, hostile).toBe(422);
    }
    const wrong = await upload(adminToken, session.id, path.join(root, 'wrong.bin'), data, 'a'.repeat(64));
    expect(wrong.status).toBe(400);
    expect((await wrong.json()).error.message).toMatch(/X-Content-SHA256/);
    expect(fs.existsSync(path.join(root, 'wrong.bin'))).toBe(false);
    expect(fs.readdirSync(root).filter((f) => f.endsWith('.part'))).toEqual([]);
    const failures = await server.running.ctx.db.select().from(auditEvents).where(eq(auditEvents.action, 'session.file_upload'));
    expect(failures.filter((r) => r.outcome === 'failure' && r.targetId === session.id).length).toBe(5);

    // A user whose assignment carries `terminal` but not `files` types into the session but cannot transfer.
    const rw = await createUser(server, { role: 'remote_workforce' });
    await assignMachine(server, rw.id, machineId, ['terminal']);
    const worker = await loginAs(server, rw.email);
    const own = await worker.post(`/api/v1/machines/${machineId}/sessions`, { kind: 'terminal', cols: 80, rows: 24 });
    expect(own.status).toBe(201);
    expect(own.body.files).toBe(false);
    const refused = await upload(worker.token, own.body.id, path.join(root, 'rw.txt'), data);
    expect(refused.status).toBe(403);
    expect(fs.existsSync(path.join(root, 'rw.txt'))).toBe(false);
    await worker.delete(`/api/v1/sessions/${own.body.id}`);
  });
});
