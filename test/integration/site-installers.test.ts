import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTarGz } from '../../installers/build/archive.ts';
import { buildDeb, debFileName } from '../../installers/linux/deb.ts';
import { LINUX_DIR } from '../../installers/linux/payload.ts';
import { buildTarball, tarballBaseName } from '../../installers/linux/tarball.ts';
import { buildMacTarball, macTarballBaseName } from '../../installers/macos/tarball.ts';
import { msiFileName } from '../../installers/windows/msi.ts';
import { parseEnrollmentToken } from '../../protocol/enrollment-token.ts';
import { STEWARD_VERSION } from '../../protocol/version.ts';
import { loadConfig } from '../../server/config.ts';
import { machines } from '../../server/db/schema.ts';
import { DomainError } from '../../server/errors.ts';
import { agentServerUrl } from '../../server/installers/agent-server-url.ts';
import { enrollEnv, installCmd } from '../../server/installers/enroll-settings.ts';
import { runAgentCommand, newStateDir, REPO_ROOT } from '../helpers/agent-process.ts';
import { apiClient, setupAdmin, type Api } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createUser, grantSiteAccess, loginAs } from '../helpers/users.ts';

/**
 * GET /api/v1/sites/:id/installers/:os against installers made by the production builders (buildTarball,
 * buildDeb, buildMacTarball) from a stand-in artifact: `steward-agent` is a shell script that runs the source agent,
 * so the downloaded Linux tarball's install.sh and the downloaded .deb's postinst (dpkg into a throwaway root)
 * really enroll with the token they carry. The MSI is a stand-in file of random bytes: building a real one needs
 * WinSW from npm and takes long (test/installers/msi.test.ts covers it); the server treats it as opaque bytes.
 * Archives are unpacked with the real tar and unzip.
 */
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-site-installers-'));
const installersDir = path.join(work, 'installers');
const V = STEWARD_VERSION;
const TOKEN_PATTERN = /^stw1\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/;

/** An artifact directory as installers/build writes it, with a script in place of the single executable. */
function standInArtifact(name: string, ptyFiles: string[]): string {
  const dir = path.join(work, 'agent', name);
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const agent = `#!/bin/sh\n# Stand-in for the single executable: the source agent under tsx.\nexec '${process.execPath}' --import '${tsx}' '${path.join(REPO_ROOT, 'agent/main.ts')}' "$@"\n`;
  fs.mkdirSync(path.join(dir, 'node_modules/node-pty'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'steward-agent'), agent, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'node_modules/node-pty/package.json'), '{"name":"node-pty"}\n');
  for (const file of ptyFiles) {
    fs.mkdirSync(path.dirname(path.join(dir, 'node_modules/node-pty', file)), { recursive: true });
    fs.writeFileSync(path.join(dir, 'node_modules/node-pty', file), 'not a real native module\n');
  }
  return dir;
}

beforeAll(() => {
  const linux = standInArtifact('linux-x64', []);
  buildTarball({ artifactDir: linux, outDir: installersDir });
  buildDeb({ artifactDir: linux, outDir: installersDir, compressionLevel: 0 });
  for (const arch of ['x64', 'arm64'] as const) {
    buildMacTarball({ artifactDir: standInArtifact(`darwin-${arch}`, [`prebuilds/darwin-${arch}/pty.node`, `prebuilds/darwin-${arch}/spawn-helper`]), outDir: installersDir, arch });
  }
  fs.writeFileSync(path.join(installersDir, msiFileName()), Buffer.alloc(256 * 1024, 'MSI stand-in '));
}, 60_000);

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

interface Download {
  status: number;
  headers: Headers;
  body: Buffer;
  json: { error?: { code: string; message: string } } | null;
  ms: number;
}

async function download(server: TestServer, bearer: string | null, siteId: string, osName: string, query = ''): Promise<Download> {
  const started = performance.now();
  const res = await fetch(`${server.url}/api/v1/sites/${siteId}/installers/${osName}${query}`, { headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });
  const body = Buffer.from(await res.arrayBuffer());
  const ms = performance.now() - started;
  const json = (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(body.toString('utf8')) : null;
  return { status: res.status, headers: res.headers, body, json, ms };
}

/** Writes `body` to a fresh directory and unpacks it there with the real tool. */
function unpack(body: Buffer, kind: 'tar.gz' | 'tar' | 'zip'): string {
  const dir = fs.mkdtempSync(path.join(work, 'unpacked-'));
  const file = path.join(dir, `download.${kind}`);
  fs.writeFileSync(file, body);
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  if (kind === 'zip') execFileSync('unzip', ['-q', file, '-d', out]);
  else execFileSync('tar', [kind === 'tar.gz' ? '-xzf' : '-xf', file, '-C', out]);
  return out;
}

/** KEY='value' lines as the install scripts read them (they strip one pair of quotes, never evaluate). */
function readEnrollEnv(file: string): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const [, key, value] = /^([A-Z_]+)='([^']*)'$/.exec(line) ?? [];
    expect(key, `enroll.env line '${line}'`).toBeTruthy();
    settings[key] = value;
  }
  return settings;
}

const mode = (file: string) => (fs.statSync(file).mode & 0o7777).toString(8);

/**
 * Runs an install script to completion without blocking this process (the server under test runs in it), with
 * nothing STEWARD_* from the developer's shell in its environment.
 */
function runScript(file: string, args: string[]): Promise<{ status: number | null; output: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('STEWARD_')));
  return new Promise((resolve) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('close', (status) => resolve({ status, output }));
  });
}

/** A throwaway dpkg root that satisfies the .deb's Depends (libc6's status copied from the host). */
function dpkgRoot(): string {
  const root = fs.mkdtempSync(path.join(work, 'root-'));
  for (const dir of ['var/lib/dpkg/updates', 'var/lib/dpkg/info', 'etc/systemd/system']) fs.mkdirSync(path.join(root, dir), { recursive: true });
  fs.writeFileSync(path.join(root, 'var/lib/dpkg/available'), '');
  const libc = execFileSync('dpkg-query', ['-s', 'libc6'], { encoding: 'utf8' }).split('\n').filter((l) => !/^(Conffiles:| \/)/.test(l)).join('\n');
  fs.writeFileSync(path.join(root, 'var/lib/dpkg/status'), `${libc.trim()}\n\n`);
  return root;
}

describe('installer settings', () => {
  it('enroll.env and install.cmd refuse values a shell or cmd.exe could read as code', () => {
    const good = { serverUrl: 'wss://steward.example.com:8443', token: `stw1.${'a'.repeat(43)}.${'b'.repeat(43)}`, expiresAt: new Date(), maxUses: 1 };
    expect(enrollEnv(good).toString()).toContain("STEWARD_SERVER_URL='wss://steward.example.com:8443'\n");
    for (const bad of ["wss://x'; reboot; '", 'wss://x$(reboot)', 'wss://x`id`', 'wss://x\nSTEWARD_REENROLL=1', 'wss://x" & calc & "', 'wss://%PATH%']) {
      expect(() => enrollEnv({ ...good, serverUrl: bad })).toThrow(/not safe/);
      expect(() => installCmd('steward-agent.msi', { ...good, serverUrl: bad })).toThrow(/not safe/);
      expect(() => enrollEnv({ ...good, token: bad })).toThrow(/not safe/);
    }
  });

  it('names the server by STEWARD_PUBLIC_URL with ws(s)://, else by the request, and refuses plain ws:// off loopback', () => {
    const request = { protocol: 'http', host: '127.0.0.1:8080' };
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return (error as DomainError).code;
      }
      return 'none';
    };
    expect(agentServerUrl(loadConfig({ STEWARD_PUBLIC_URL: 'https://steward.example.com/' }), request)).toBe('wss://steward.example.com');
    expect(agentServerUrl(loadConfig({ STEWARD_PUBLIC_URL: 'https://Steward.Example.com:8443/console' }), request)).toBe('wss://steward.example.com:8443');
    expect(agentServerUrl(loadConfig({ STEWARD_PUBLIC_URL: 'http://localhost:8080' }), request)).toBe('ws://localhost:8080');
    expect(code(() => agentServerUrl(loadConfig({ STEWARD_PUBLIC_URL: 'http://steward.example.com' }), request))).toBe('insecure_server_url');
    // Unset: HOST/PORT would give 0.0.0.0 here; the address the admin used is the one agents can reach too.
    const unset = loadConfig({ HOST: '0.0.0.0' });
    expect(agentServerUrl(unset, request)).toBe('ws://127.0.0.1:8080');
    expect(agentServerUrl(unset, { protocol: 'https', host: 'steward.lan:9443' })).toBe('wss://steward.lan:9443');
    expect(agentServerUrl(unset, { protocol: 'http', host: '[::1]:8080' })).toBe('ws://[::1]:8080');
    expect(code(() => agentServerUrl(unset, { protocol: 'http', host: '10.0.0.5:8080' }))).toBe('insecure_server_url');
    for (const host of ['', 'evil.example.com/x', "a'b", 'a b', 'a$(id)']) expect(code(() => agentServerUrl(unset, { protocol: 'https', host }))).toBe('invalid');
  });
});

describe.each(backends())('site installers on %s', (backend) => {
  let server: TestServer;
  let api: Api;
  let adminToken: string;
  let siteId: string;
  let otherSiteId: string;
  const db = () => server.running.ctx.db;
  const tokensOf = async (site: string) => (await api.get(`/api/v1/sites/${site}/enrollment-tokens`)).body.tokens as Array<{ id: string; uses: number; maxUses: number; expiresAt: string }>;
  const serverUrl = () => `ws://127.0.0.1:${server.port}`;
  const timings: string[] = [];

  beforeAll(async () => {
    server = await startTestServer({ backend, env: { STEWARD_INSTALLERS_DIR: installersDir } });
    ({ api, token: adminToken } = await setupAdmin(server));
    const client = await api.post('/api/v1/clients', { name: 'Acme' });
    siteId = (await api.post(`/api/v1/clients/${client.body.id}/sites`, { name: 'Head Office' })).body.id;
    otherSiteId = (await api.post(`/api/v1/clients/${client.body.id}/sites`, { name: 'Branch' })).body.id;
  });
  afterAll(async () => {
    if (timings.length) console.log(`installer downloads on ${backend}: ${timings.join(', ')}`);
    await server?.close();
  });

  /** Checks the common headers and that enroll.env holds this server's URL and a fresh, unused token of this site. */
  async function expectFreshSettings(res: Download, osName: string, fileName: string, contentType: string, settings: Record<string, string>, maxUses = 1) {
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    timings.push(`${osName} ${res.ms.toFixed(0)} ms`);
    expect(res.headers.get('content-type')).toBe(contentType);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${fileName}"`);
    expect(Number(res.headers.get('content-length'))).toBe(res.body.length);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(settings.STEWARD_SERVER_URL).toBe(serverUrl());
    expect(settings.STEWARD_ENROLLMENT_TOKEN).toMatch(TOKEN_PATTERN);
    expect(parseEnrollmentToken(settings.STEWARD_ENROLLMENT_TOKEN)?.serverKeyFingerprint).toBe(server.running.ctx.identity.fingerprint);
    const audit = await api.get(`/api/v1/audit?action=installer.download&targetId=${siteId}`);
    const event = audit.body.events[0];
    expect(event).toMatchObject({ outcome: 'success', actorType: 'user', targetType: 'site', targetId: siteId });
    expect(event.details).toMatchObject({ os: osName, file: fileName, version: V, serverUrl: serverUrl(), maxUses });
    const token = (await tokensOf(siteId)).find((t) => t.id === event.details.enrollmentTokenId);
    expect(token).toMatchObject({ uses: 0, maxUses });
    const created = await api.get(`/api/v1/audit?action=enrollment_token.create&targetId=${token!.id}`);
    expect(created.body.events).toHaveLength(1);
    // The token itself is in the download only: not in the audit log, not in the server's logs.
    expect(JSON.stringify(audit.body)).not.toContain(settings.STEWARD_ENROLLMENT_TOKEN);
    expect(server.logText()).not.toContain(parseEnrollmentToken(settings.STEWARD_ENROLLMENT_TOKEN)!.secret);
    return token!.id;
  }

  async function expectEnrolledWith(tokenId: string, stateDir: string) {
    const { machineId } = JSON.parse(fs.readFileSync(path.join(stateDir, 'agent.json'), 'utf8')) as { machineId: string };
    const [machine] = await db().select().from(machines).where(eq(machines.id, machineId));
    expect(machine).toMatchObject({ siteId, enrollmentTokenId: tokenId });
    expect((await tokensOf(siteId)).find((t) => t.id === tokenId)?.uses).toBe(1);
  }

  it('linux: the tarball plus enroll.env (0600), whose install.sh enrolls with it and then deletes it', async () => {
    const res = await download(server, adminToken, siteId, 'linux');
    const top = path.join(unpack(res.body, 'tar.gz'), tarballBaseName());
    const settings = readEnrollEnv(path.join(top, 'enroll.env'));
    const tokenId = await expectFreshSettings(res, 'linux', `${tarballBaseName()}.tar.gz`, 'application/gzip', settings);
    expect(mode(path.join(top, 'enroll.env'))).toBe('600');
    // Everything the build put in, unchanged, and enroll.env besides.
    const list = (file: string) => execFileSync('tar', ['-tzf', file], { encoding: 'utf8' }).trim().split('\n').sort();
    fs.writeFileSync(path.join(work, 'linux.tar.gz'), res.body);
    expect(list(path.join(work, 'linux.tar.gz'))).toEqual([...list(path.join(installersDir, `${tarballBaseName()}.tar.gz`)), `${tarballBaseName()}/enroll.env`].sort());

    const root = fs.mkdtempSync(path.join(work, 'root-'));
    const install = await runScript(path.join(top, 'install.sh'), ['--root', root]);
    expect(install.status, install.output).toBe(0);
    await expectEnrolledWith(tokenId, path.join(root, 'var/lib/steward-agent'));
    expect(fs.existsSync(path.join(top, 'enroll.env'))).toBe(false);
  });

  it('linux-deb: a tar of the .deb, enroll.env and install.sh, which installs it enrolled (dpkg into a throwaway root)', async () => {
    const res = await download(server, adminToken, siteId, 'linux-deb');
    const top = path.join(unpack(res.body, 'tar'), `steward-agent-${V}-linux-x64-deb`);
    const settings = readEnrollEnv(path.join(top, 'enroll.env'));
    const tokenId = await expectFreshSettings(res, 'linux-deb', `steward-agent-${V}-linux-x64-deb.tar`, 'application/x-tar', settings);
    expect(fs.readdirSync(top).sort()).toEqual([debFileName(), 'enroll.env', 'install.sh'].sort());
    expect(fs.readFileSync(path.join(top, debFileName())).equals(fs.readFileSync(path.join(installersDir, debFileName())))).toBe(true);
    expect(fs.readFileSync(path.join(top, 'install.sh'), 'utf8')).toBe(fs.readFileSync(path.join(LINUX_DIR, 'install-deb.sh'), 'utf8'));
    expect([mode(path.join(top, 'install.sh')), mode(path.join(top, 'enroll.env'))]).toEqual(['755', '600']);

    const root = dpkgRoot();
    const install = await runScript(path.join(top, 'install.sh'), ['--root', root]);
    expect(install.status, install.output).toBe(0);
    await expectEnrolledWith(tokenId, path.join(root, 'var/lib/steward-agent'));
    // postinst consumed /etc/steward-agent/enroll.env; install.sh removed its own copy.
    expect(fs.existsSync(path.join(root, 'etc/steward-agent/enroll.env'))).toBe(false);
    expect(fs.existsSync(path.join(top, 'enroll.env'))).toBe(false);
    expect(fs.existsSync(path.join(root, 'opt/steward-agent/steward-agent'))).toBe(true);
  });

  it.each(['x64', 'arm64'] as const)('macos-%s: the tarball with enroll.env beside install.sh', async (arch) => {
    const res = await download(server, adminToken, siteId, `macos-${arch}`, '?expiresInHours=2&maxUses=3');
    const top = path.join(unpack(res.body, 'tar.gz'), macTarballBaseName(arch));
    const settings = readEnrollEnv(path.join(top, 'enroll.env'));
    await expectFreshSettings(res, `macos-${arch}`, `${macTarballBaseName(arch)}.tar.gz`, 'application/gzip', settings, 3);
    expect(fs.readdirSync(top).sort()).toEqual(['com.steward.agent.plist', 'enroll.env', 'install.sh', 'node_modules', 'steward-agent', 'uninstall.sh']);
    expect(mode(path.join(top, 'enroll.env'))).toBe('600');
    const token = (await tokensOf(siteId))[0];
    expect(Date.parse(token.expiresAt) - Date.now()).toBeGreaterThan(2 * 3600_000 - 60_000);
    expect(Date.parse(token.expiresAt) - Date.now()).toBeLessThanOrEqual(2 * 3600_000);
  });

  it('windows: a zip of the MSI and an install.cmd that passes SERVERURL and TOKEN; the token enrolls', async () => {
    const res = await download(server, adminToken, siteId, 'windows');
    const out = unpack(res.body, 'zip');
    execFileSync('unzip', ['-tq', path.join(out, '../download.zip')]);
    const top = path.join(out, `steward-agent-${V}-windows-x64`);
    expect(fs.readdirSync(top).sort()).toEqual(['install.cmd', msiFileName()].sort());
    expect(fs.readFileSync(path.join(top, msiFileName())).equals(fs.readFileSync(path.join(installersDir, msiFileName())))).toBe(true);
    const cmd = fs.readFileSync(path.join(top, 'install.cmd'), 'utf8');
    expect(cmd.split('\r\n').length).toBe(cmd.split('\n').length);
    const [, url, token] = /^msiexec \/i "%~dp0[^"]+\.msi" SERVERURL="([^"]+)" TOKEN="([^"]+)" \/qn \/norestart\r$/m.exec(cmd) ?? [];
    expect(cmd).toContain(`"%~dp0${msiFileName()}"`);
    const tokenId = await expectFreshSettings(res, 'windows', `steward-agent-${V}-windows-x64.zip`, 'application/zip', { STEWARD_SERVER_URL: url, STEWARD_ENROLLMENT_TOKEN: token });
    // No Windows here: the source agent enrolls with exactly what msiexec would pass to steward-agent.exe enroll.
    const stateDir = newStateDir();
    const enrolled = await runAgentCommand(['enroll', '--server', url, '--state-dir', stateDir], { STEWARD_ENROLLMENT_TOKEN: token });
    expect(enrolled.code, enrolled.stderr).toBe(0);
    await expectEnrolledWith(tokenId, stateDir);
  });

  it('is authorized like creating an enrollment token: 401, 403, 404 only to those who may manage some site', async () => {
    const tech = await createUser(server, { role: 'technician' });
    await grantSiteAccess(server, tech.id, siteId, 'all');
    const techApi = await loginAs(server, tech.email);
    const remote = await loginAs(server, (await createUser(server, { role: 'remote_workforce' })).email);

    expect((await download(server, null, siteId, 'windows')).status).toBe(401);
    expect((await download(server, 'not-a-token', siteId, 'windows')).status).toBe(401);
    expect((await download(server, techApi.token, siteId, 'windows')).status).toBe(200);
    const other = await download(server, techApi.token, otherSiteId, 'windows');
    expect(other.status).toBe(403);
    expect(other.json?.error?.code).toBe('forbidden');
    expect((await download(server, techApi.token, randomUUID(), 'windows')).status).toBe(404);
    expect((await download(server, remote.token, randomUUID(), 'windows')).status).toBe(403);
    expect((await download(server, remote.token, siteId, 'windows')).status).toBe(403);
    expect(await tokensOf(otherSiteId)).toEqual([]);
    const denied = await api.get(`/api/v1/audit?action=access.denied&targetId=${otherSiteId}`);
    expect(denied.body.events[0]).toMatchObject({ actorId: tech.id, details: { action: 'machines.manage' } });
  });

  it('answers 400 to an unknown os or bad options, and 404 to HEAD, minting nothing', async () => {
    const before = (await tokensOf(siteId)).length;
    for (const [osName, query] of [
      ['solaris', ''],
      ['Linux', ''],
      ['linux', '?expiresInHours=0'],
      ['linux', '?expiresInHours=721'],
      ['linux', '?maxUses=0'],
      ['linux', '?maxUses=10001'],
      ['linux', '?maxUses=two'],
      ['linux', '?token=mine'],
    ]) {
      const res = await download(server, adminToken, siteId, osName, query);
      expect(res.status, `${osName}${query}`).toBe(400);
      expect(res.json?.error?.code).toBe('invalid');
    }
    expect((await download(server, adminToken, 'not-a-uuid', 'linux')).status).toBe(400);
    // No implicit HEAD route: it would mint a token for a response nobody receives.
    const head = await fetch(`${server.url}/api/v1/sites/${siteId}/installers/linux`, { method: 'HEAD', headers: { authorization: `Bearer ${adminToken}` } });
    expect(head.status).toBe(404);
    expect((await tokensOf(siteId)).length).toBe(before);
  });

  it('answers 503 installer_not_built, minting nothing, when the artifact is missing or was built without the end member', async () => {
    const config = server.running.ctx.config;
    const empty = fs.mkdtempSync(path.join(work, 'not-built-'));
    // A tarball as the packaging wrote it before the end-of-archive member: the server cannot extend it.
    const staging = fs.mkdtempSync(path.join(work, 'old-'));
    fs.mkdirSync(path.join(staging, tarballBaseName()));
    fs.writeFileSync(path.join(staging, tarballBaseName(), 'install.sh'), '#!/bin/sh\n');
    execFileSync('tar', ['-czf', path.join(empty, `${tarballBaseName()}.tar.gz`), '-C', staging, tarballBaseName()]);
    const before = (await tokensOf(siteId)).length;
    const original = config.installersDir;
    config.installersDir = empty;
    try {
      for (const osName of ['linux', 'linux-deb', 'macos-x64', 'macos-arm64', 'windows']) {
        const res = await download(server, adminToken, siteId, osName);
        expect(res.status, osName).toBe(503);
        expect(res.json?.error?.code).toBe('installer_not_built');
        expect(res.json?.error?.message).toContain('npm run package');
      }
      expect((await download(server, adminToken, siteId, 'linux')).json?.error?.message).toContain('was not built by this version');
    } finally {
      config.installersDir = original;
    }
    expect((await tokensOf(siteId)).length).toBe(before);
    // The same writer as the build, here: its output is an ordinary .tar.gz to tar and gzip.
    writeTarGz(staging, tarballBaseName(), path.join(work, 'rewritten.tar.gz'));
    expect(execFileSync('tar', ['-tzf', path.join(work, 'rewritten.tar.gz')], { encoding: 'utf8' }).trim().split('\n')).toEqual([`${tarballBaseName()}/`, `${tarballBaseName()}/install.sh`]);
    execFileSync('gzip', ['-t', path.join(work, 'rewritten.tar.gz')]);
  });

  it('names the server by STEWARD_PUBLIC_URL when it is set', async () => {
    const config = server.running.ctx.config;
    const saved = { publicUrl: config.publicUrl, publicUrlConfigured: config.publicUrlConfigured };
    Object.assign(config, { publicUrl: 'https://steward.example.com', publicUrlConfigured: true });
    try {
      const res = await download(server, adminToken, siteId, 'macos-arm64');
      expect(res.status).toBe(200);
      const settings = readEnrollEnv(path.join(unpack(res.body, 'tar.gz'), macTarballBaseName('arm64'), 'enroll.env'));
      expect(settings.STEWARD_SERVER_URL).toBe('wss://steward.example.com');
      Object.assign(config, { publicUrl: 'http://steward.example.com' });
      const insecure = await download(server, adminToken, siteId, 'macos-arm64');
      expect(insecure.status).toBe(503);
      expect(insecure.json?.error?.code).toBe('insecure_server_url');
    } finally {
      Object.assign(config, saved);
    }
  });

  it('is listed in the OpenAPI document', async () => {
    const doc = await apiClient(server.url).get('/api/openapi.json');
    const op = doc.body.paths['/api/v1/sites/{id}/installers/{os}'].get;
    expect(op.parameters.find((p: { name: string }) => p.name === 'os').schema.anyOf.map((s: { enum?: string[]; const?: string }) => s.const ?? s.enum?.[0])).toEqual(['linux', 'linux-deb', 'macos-x64', 'macos-arm64', 'windows']);
  });
});
