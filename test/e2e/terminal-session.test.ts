import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { eq, inArray } from 'drizzle-orm';
import pty from 'node-pty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, sessions } from '../../server/db/schema.ts';
import { waitFor, type Api } from '../helpers/api.ts';
import { attachConsole } from '../helpers/console.ts';
import { backends } from '../helpers/db.ts';
import type { TestServer } from '../helpers/server.ts';
import { startSessionWorld, type SessionWorld } from '../helpers/sessions.ts';

/**
 * The product's main path with every part real: a server on a loopback port, an enrolled agent process, a pty with
 * the account's login shell, a console on the stream WebSocket. Keystrokes in, output out, resize, exit status.
 */
const hasAsciinema = spawnSync('sh', ['-c', 'command -v asciinema']).status === 0;

/** `asciinema cat` reads keys from /dev/tty, so it runs in a pty of its own; resolves with everything it printed. */
function playInPty(file: string): Promise<string> {
  return new Promise((resolve) => {
    const player = pty.spawn('asciinema', ['cat', file], { cols: 120, rows: 40, env: { ...process.env, TERM: 'xterm-256color' } as Record<string, string> });
    let out = '';
    player.onData((d) => (out += d));
    player.onExit(() => resolve(out));
  });
}

describe.each(backends())('terminal session on %s', (backend) => {
  let world: SessionWorld;
  let server: TestServer;
  let admin: Api;
  let adminToken: string;
  let machineId: string;

  beforeAll(async () => {
    world = await startSessionWorld(backend);
    ({ server, admin, adminToken, machineId } = world);
  });
  afterAll(() => world?.close());

  it('opens a shell, relays keystrokes and output both ways, resizes, and reports the exit status', async () => {
    const opened = await admin.post(`/api/v1/machines/${machineId}/sessions`, { kind: 'terminal', cols: 80, rows: 24 });
    expect(opened.status, JSON.stringify(opened.body)).toBe(201);
    expect(opened.body).toMatchObject({ machineId, status: 'active', kind: 'terminal', runAs: 'agent' });
    const term = await attachConsole(server.url, opened.body.id, { token: adminToken });
    const joined = await term.waitForMessage('joined');
    expect(joined.you.role).toBe('owner');

    term.type('echo relay-$((6*7))\r');
    await term.waitForOutput('relay-42');
    term.resize(101, 37);
    term.type('stty size\r');
    await term.waitForOutput('37 101');
    term.type('exit 3\r');
    const ended = await term.waitForMessage('ended');
    expect(ended.exitCode).toBe(3);
    await term.closed;

    const row = await waitFor(async () => {
      const [r] = await server.running.ctx.db.select().from(sessions).where(eq(sessions.id, opened.body.id));
      return r.status === 'ended' ? r : null;
    }, 5000, 'session row ended');
    expect(row.exitCode).toBe(3);
    const actions = await waitFor(async () => {
      const rows = await server.running.ctx.db.select().from(auditEvents).where(inArray(auditEvents.targetId, [opened.body.id]));
      const names = rows.map((r) => r.action);
      return names.includes('session.end') && names.includes('session.leave') ? names : null;
    }, 5000, 'session audit');
    expect(actions).toEqual(expect.arrayContaining(['session.request', 'session.start', 'session.join', 'session.leave', 'session.end']));

    // The server's recording plays in the real asciinema player: `asciinema cat` reproduces what the console saw.
    const info = await waitFor(async () => {
      const res = await admin.get(`/api/v1/recordings/${opened.body.id}/info`);
      return res.status === 200 && res.body.endedAt ? res.body : null;
    }, 5000, 'recording finished');
    expect(info).toMatchObject({ machineId, cols: 80, rows: 24, inputRecorded: false });
    expect(info.participants).toEqual([expect.objectContaining({ role: 'owner' })]);
    expect(info.bytes).toBeGreaterThan(info.storedBytes);
    const cast = await fetch(`${server.url}/api/v1/recordings/${opened.body.id}?reason=test`, { headers: { authorization: `Bearer ${adminToken}` } });
    expect(cast.status).toBe(200);
    const text = await cast.text();
    const [header, ...events] = text.trim().split('\n').map((line) => JSON.parse(line));
    expect(header).toMatchObject({ version: 2, width: 80, height: 24 });
    expect(events.some((e) => e[1] === 'r' && e[2] === '101x37')).toBe(true);
    expect(events.every((e, i) => i === 0 || e[0] >= events[i - 1][0])).toBe(true);
    const file = path.join(os.tmpdir(), `steward-${opened.body.id}.cast`);
    fs.writeFileSync(file, text);
    if (!hasAsciinema) throw new Error('asciinema is not installed (apt-get install asciinema): cannot check playback');
    const played = await playInPty(file);
    fs.rmSync(file);
    expect(played).toContain('relay-42');
    expect(played).toContain('37 101');
    const gz = await fetch(`${server.url}/api/v1/recordings/${opened.body.id}?format=gzip`, { headers: { authorization: `Bearer ${adminToken}` } });
    expect(zlib.gunzipSync(Buffer.from(await gz.arrayBuffer())).toString('utf8')).toBe(text);
    const plays = await server.running.ctx.db.select().from(auditEvents).where(eq(auditEvents.action, 'recording.play'));
    expect(plays.filter((p) => p.targetId === opened.body.id).map((p) => (p.details as { reason: string | null }).reason)).toEqual(['test', null]);
  });
});
