import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleAgent } from '../../installers/build/bundle.ts';
import { cachedNodePath } from '../../installers/build/node-binaries.ts';
import { packageAgent, type BuiltExecutable } from '../../installers/build/package-agent.ts';
import { buildExecutable, SEA_MACHO_SEGMENT, SEA_RESOURCE_NAME, SEA_SENTINEL_FUSE, writeSeaBlob } from '../../installers/build/sea.ts';
import { NODE_VERSION, TARGETS } from '../../installers/build/targets.ts';
import { InventorySchema } from '../../protocol/inventory.ts';
import { compile } from '../../protocol/validate.ts';
import { STEWARD_VERSION } from '../../protocol/version.ts';
import { createSiteWithToken, setupAdmin, waitFor, type Api } from '../helpers/api.ts';
import { enrollAgent, newStateDir, REPO_ROOT, startAgent, type AgentCommand, type AgentProcess } from '../helpers/agent-process.ts';
import { attachConsole } from '../helpers/console.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { machoSegments, peCertificateTableSize, peResourceNames, seaFuseState } from './executable-formats.ts';

/**
 * The agent as a single executable (Node SEA) on the pinned official Node 22: built by the real packaging code
 * (the Node download is cached in installers/.cache), then run from its artifact directory — outside the source
 * tree — for the CLI, inventory and a real enrollment; the other targets are checked for the injected blob.
 */
const BUILD_TIMEOUT = 10 * 60_000;
const outRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-sea-'));
afterAll(() => fs.rmSync(outRoot, { recursive: true, force: true }));

function run(file: string, args: string[], cwd: string) {
  const result = spawnSync(file, args, { cwd, encoding: 'utf8', timeout: 60_000, env: { ...process.env, STEWARD_AGENT_STATE_DIR: path.join(cwd, 'state') } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('linux-x64 single executable', () => {
  let built: BuiltExecutable;
  let artifactDir: string;
  let agentCommand: AgentCommand;

  beforeAll(async () => {
    [built] = await packageAgent(['linux-x64'], outRoot);
    artifactDir = path.dirname(built.executable);
    agentCommand = { file: built.executable, args: [], cwd: artifactDir };
  }, BUILD_TIMEOUT);

  it('is the Node 22 binary with the blob injected, and node-pty beside it', () => {
    expect(built.executable).toBe(path.join(outRoot, 'linux-x64', 'steward-agent'));
    expect(fs.statSync(built.executable).mode & 0o111).toBe(0o111);
    expect(seaFuseState(built.executable, SEA_SENTINEL_FUSE)).toBe('set');
    expect(seaFuseState(cachedNodePath(TARGETS['linux-x64']), SEA_SENTINEL_FUSE)).toBe('unset');
    const pty = path.join(artifactDir, 'node_modules/node-pty');
    for (const file of ['package.json', 'lib/index.js', 'lib/unixTerminal.js', 'build/Release/pty.node']) expect(fs.existsSync(path.join(pty, file)), file).toBe(true);
    expect(fs.readdirSync(path.join(pty, 'lib')).filter((f) => f.endsWith('.test.js') || f.endsWith('.map'))).toEqual([]);
    expect(fs.existsSync(path.join(pty, 'prebuilds')), 'no other platforms').toBe(false);
  });

  it('prints its version in the usage, without the experimental SEA warning', () => {
    const result = run(built.executable, ['--help'], artifactDir);
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')[0]).toBe(`steward-agent ${STEWARD_VERSION}`);
    expect(STEWARD_VERSION).toBe(JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')).version);
    expect(result.stderr).toBe('');
  });

  it('prints a valid inventory of this machine as JSON', () => {
    const result = run(built.executable, ['inventory'], artifactDir);
    expect(result.code, result.stderr).toBe(0);
    const inventory = JSON.parse(result.stdout);
    expect(compile(InventorySchema).check(inventory)).toBe(true);
    expect(inventory).toMatchObject({ agentVersion: STEWARD_VERSION, hostname: os.hostname(), os: { platform: 'linux', arch: 'x64' } });
    expect(inventory.software.length).toBeGreaterThan(10);
  });

  describe('against a real server', () => {
    let server: TestServer;
    let api: Api;
    let adminToken: string;
    let agent: AgentProcess | undefined;

    beforeAll(async () => {
      server = await startTestServer({ backend: 'pglite' });
      ({ api, token: adminToken } = await setupAdmin(server));
    });
    afterAll(async () => {
      await agent?.stop();
      await server?.close();
    });

    it('enrolls, comes online and reports its inventory', async () => {
      const { token } = await createSiteWithToken(api);
      const { machineId, stateDir, stdout } = await enrollAgent(server.url, token, newStateDir(), [], agentCommand);
      expect(stdout).toContain(`enrolled as machine ${machineId}`);
      agent = startAgent(stateDir, {}, [], agentCommand);
      await agent.waitForLog((l) => l.msg === 'agent starting');
      expect(agent.logs.find((l) => l.msg === 'agent starting')).toMatchObject({ version: STEWARD_VERSION });
      const machine = await waitFor(async () => {
        const res = await api.get(`/api/v1/machines/${machineId}`);
        return res.body.online && res.body.inventory ? res.body : undefined;
      }, 30_000, 'packaged agent online with inventory');
      expect(machine.inventory).toMatchObject({ agentVersion: STEWARD_VERSION, hostname: os.hostname() });
    });

    it('opens a terminal session: grant verified, node-pty loaded from beside the executable, keystrokes relayed', async () => {
      const machineId = (await api.get('/api/v1/machines')).body.machines[0].id as string;
      const opened = await api.post(`/api/v1/machines/${machineId}/sessions`, { kind: 'terminal', cols: 80, rows: 24 });
      expect(opened.status, JSON.stringify(opened.body)).toBe(201);
      const term = await attachConsole(server.url, opened.body.id, { token: adminToken });
      term.type('echo packaged-$((20+22))\r');
      await term.waitForOutput('packaged-42');
      term.type('exit 5\r');
      expect((await term.waitForMessage('ended')).exitCode).toBe(5);
    });
  });

  it('loads node-pty from beside the executable and survives a fork() re-launch of a node-pty script', async () => {
    // A throwaway SEA built the same way as the agent, whose entry uses agent/platform/native-modules.ts.
    const work = path.join(outRoot, 'probe-work');
    const bundle = await bundleAgent(path.join(work, 'probe.cjs'), path.join(REPO_ROOT, 'test/fixtures/sea-native-probe.ts'));
    await writeSeaBlob(bundle.file, path.join(work, 'probe.blob'));
    const probeDir = path.join(outRoot, 'probe');
    const probe = await buildExecutable(TARGETS['linux-x64'], path.join(work, 'probe.blob'), probeDir);
    fs.writeFileSync(
      path.join(probeDir, 'node_modules/node-pty/lib/probe-helper.js'),
      'process.send({ argv: process.argv.slice(2), isSea: require("node:sea").isSea() }, () => process.exit(0));\n',
    );
    const result = run(probe, [], probeDir);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.ptyOutput).toContain('pty-says-42');
    expect(report.ptyExitCode).toBe(0);
    expect(report.nodeVersion).toBe(`v${NODE_VERSION}`);
    // The helper ran as a plain script (not the SEA main) and saw its own arguments, as under `node script 42`.
    expect(report.helperMessage).toEqual({ argv: ['42'], isSea: true });
  }, BUILD_TIMEOUT);
});

describe('win-x64, darwin-x64 and darwin-arm64 executables (not runnable here)', () => {
  let built: Map<string, BuiltExecutable>;

  beforeAll(async () => {
    built = new Map((await packageAgent(['win-x64', 'darwin-x64', 'darwin-arm64'], outRoot)).map((b) => [b.target, b]));
  }, BUILD_TIMEOUT);

  it('win-x64 carries the blob as a NODE_SEA_BLOB resource, the fuse set, the Authenticode signature stripped', () => {
    const exe = built.get('win-x64')!.executable;
    const base = cachedNodePath(TARGETS['win-x64']);
    expect(path.basename(exe)).toBe('steward-agent.exe');
    expect(peResourceNames(exe)).toContain(SEA_RESOURCE_NAME);
    expect(peResourceNames(base)).not.toContain(SEA_RESOURCE_NAME);
    expect(seaFuseState(exe, SEA_SENTINEL_FUSE)).toBe('set');
    expect(seaFuseState(base, SEA_SENTINEL_FUSE)).toBe('unset');
    expect(peCertificateTableSize(base)).toBeGreaterThan(0);
    expect(peCertificateTableSize(exe)).toBe(0);
    const pty = path.join(path.dirname(exe), 'node_modules/node-pty/prebuilds/win32-x64');
    for (const file of ['pty.node', 'conpty.node', 'conpty_console_list.node', 'winpty-agent.exe', 'conpty/conpty.dll']) expect(fs.existsSync(path.join(pty, file)), file).toBe(true);
    expect(fs.readdirSync(pty).filter((f) => f.endsWith('.pdb'))).toEqual([]);
  });

  for (const [id, cpu] of [['darwin-x64', 'x86_64'], ['darwin-arm64', 'arm64']] as const) {
    it(`${id} is a ${cpu} Mach-O with a ${SEA_MACHO_SEGMENT} segment holding the blob, and node-pty's spawn-helper`, () => {
      const exe = built.get(id)!.executable;
      const { cpu: actual, segments } = machoSegments(exe);
      expect(actual).toBe(cpu);
      expect(segments.find((s) => s.name === SEA_MACHO_SEGMENT)).toEqual({ name: SEA_MACHO_SEGMENT, sections: [`__${SEA_RESOURCE_NAME}`] });
      expect(machoSegments(cachedNodePath(TARGETS[id])).segments.map((s) => s.name)).not.toContain(SEA_MACHO_SEGMENT);
      expect(seaFuseState(exe, SEA_SENTINEL_FUSE)).toBe('set');
      const helper = path.join(path.dirname(exe), 'node_modules/node-pty/prebuilds', id, 'spawn-helper');
      expect(fs.statSync(helper).mode & 0o111).toBe(0o111);
    });
  }
});
