import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pty from 'node-pty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/agent-process.ts';
import { ADMIN, waitFor, type Api } from '../helpers/api.ts';
import type { TestServer } from '../helpers/server.ts';
import { startSessionWorld, type SessionWorld } from '../helpers/sessions.ts';

/** The technician CLI run in a real terminal (a pty), against a real server and agent: `steward connect` like ssh. */
interface Cli {
  output(): string;
  type(text: string): void;
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  exited: Promise<number>;
}

function runCli(args: string[], env: Record<string, string>): Cli {
  const child = pty.spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'server/cli/steward.ts'), ...args], {
    cols: 120,
    rows: 30,
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', TERM: 'xterm-256color', ...env },
  });
  let out = '';
  child.onData((d) => (out += d));
  const exited = new Promise<number>((resolve) => child.onExit(({ exitCode }) => resolve(exitCode)));
  return {
    output: () => out,
    type: (text) => child.write(text),
    waitFor: (text, timeoutMs = 15_000) => waitFor(async () => out.includes(text), timeoutMs, `'${text}' in CLI output: ${JSON.stringify(out.slice(-300))}`).then(() => undefined),
    exited,
  };
}

describe('steward CLI', () => {
  let world: SessionWorld;
  let server: TestServer;
  let admin: Api;
  let machineId: string;
  const config = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-cli-'));

  beforeAll(async () => {
    world = await startSessionWorld('pglite');
    ({ server, admin, machineId } = world);
  });
  afterAll(async () => {
    await world?.close();
    fs.rmSync(config, { recursive: true, force: true });
  });

  it('signs in with a prompted password (never argv), keeps the token 0600, and connects by hostname like ssh', async () => {
    const login = runCli(['login', '--server', server.url, '--email', ADMIN.email], { XDG_CONFIG_HOME: config });
    await login.waitFor('Password for');
    login.type(`${ADMIN.password}\r`);
    expect(await login.exited).toBe(0);
    expect(login.output()).not.toContain(ADMIN.password);
    const file = path.join(config, 'steward/credentials.json');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);

    const machines = runCli(['machines'], { XDG_CONFIG_HOME: config });
    expect(await machines.exited).toBe(0);
    expect(machines.output()).toContain(machineId);

    const hostname = (await admin.get(`/api/v1/machines/${machineId}`)).body.hostname as string;
    const ssh = runCli(['connect', hostname], { XDG_CONFIG_HOME: config });
    ssh.type('echo cli-$((2+3))\r');
    await ssh.waitFor('cli-5');
    // Raw mode: Ctrl-C goes to the remote shell (which stays alive), not to the CLI.
    ssh.type('sleep 30\r');
    await new Promise((r) => setTimeout(r, 300));
    ssh.type('\u0003');
    ssh.type('echo still-$((40+2))\r');
    await ssh.waitFor('still-42');
    ssh.type('exit 7\r');
    expect(await ssh.exited).toBe(7);
  });

  it('exits 255 with the reason when the session cannot run', async () => {
    const cli = runCli(['connect', 'no-such-machine'], { XDG_CONFIG_HOME: config });
    const code = await cli.exited;
    expect(code).not.toBe(0);
    expect(cli.output()).toContain("no machine you can see is called 'no-such-machine'");
    const unauth = runCli(['join', '00000000-0000-4000-8000-000000000000'], { STEWARD_URL: server.url, STEWARD_TOKEN: 'stw_not_a_token' });
    expect(await unauth.exited).toBe(255);
    expect(unauth.output()).toMatch(/refused the session stream/);
  });
});
