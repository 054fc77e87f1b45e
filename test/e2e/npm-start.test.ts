import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.ts';

/** `npm start` as a newcomer runs it: embedded database, one-time setup token printed and written 0600. */
describe('server process on the embedded database', () => {
  let db: TestDatabase;
  const processes: ServerProcess[] = [];
  afterAll(async () => {
    for (const p of processes) await p.stop('SIGKILL');
    await db?.drop();
  });

  it('starts, prints the setup token it wrote 0600, refuses a second server on the same data dir, stops cleanly', async () => {
    db = await createTestDatabase('pglite');
    const first = startServerProcess({ STEWARD_DATA_DIR: db.dataDir });
    processes.push(first);
    const url = await first.listening;
    const tokenFile = path.join(db.dataDir, 'setup-token');
    const token = fs.readFileSync(tokenFile, 'utf8').trim();
    expect(fs.statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(token.length).toBeGreaterThanOrEqual(32);
    await expect.poll(() => first.stdout()).toContain(token);

    const health = await fetch(`${url}/healthz`).then((r) => r.json());
    expect(health).toMatchObject({ status: 'ok', db: 'pglite' });

    const second = startServerProcess({ STEWARD_DATA_DIR: db.dataDir });
    processes.push(second);
    expect(await second.exited).toBe(3);
    expect(second.stderr()).toMatch(/data directory .* is in use by process \d+/);
    // The first server is unharmed.
    expect((await fetch(`${url}/healthz`)).status).toBe(200);

    expect(await first.stop('SIGTERM')).toBe(0);
    expect(fs.existsSync(path.join(db.dataDir, 'steward.lock'))).toBe(false);
  });

  it('takes over the lock left by a server that was killed', async () => {
    const crashed = startServerProcess({ STEWARD_DATA_DIR: db.dataDir });
    processes.push(crashed);
    await crashed.listening;
    await crashed.stop('SIGKILL');
    expect(fs.existsSync(path.join(db.dataDir, 'steward.lock'))).toBe(true);

    const next = startServerProcess({ STEWARD_DATA_DIR: db.dataDir });
    processes.push(next);
    const url = await next.listening;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    await next.stop();
  });

  it('refuses bad configuration with a message naming the variable', async () => {
    const bad = startServerProcess({ STEWARD_DATA_DIR: db.dataDir, PORT: 'eighty' });
    processes.push(bad);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toContain("PORT must be a whole number, got 'eighty'");
  });
});
