import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDeb, UNIT_PATH } from '../../installers/linux/deb.ts';
import { LINUX_DIR } from '../../installers/linux/payload.ts';
import { buildTarball, tarballBaseName } from '../../installers/linux/tarball.ts';

/**
 * The Linux packages built from the real single executable and installed into throwaway roots with the real
 * dpkg (`--root` + `--force-script-chrootless`, the DPKG_ROOT mechanism), so the host is never touched.
 * systemd is not PID 1 here: the units are checked with `systemd-analyze verify --root`, and enabling is the
 * offline `systemctl --root enable`.
 */
const SCRIPTS = ['debian/postinst', 'debian/prerm', 'debian/postrm', 'install.sh', 'uninstall.sh', 'steward-install.sh', 'install-deb.sh'];
const have = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-linux-pkg-'));
let artifactDir: string | null = null;
let skipReason = '';

beforeAll(async () => {
  let packageAgent: typeof import('../../installers/build/package-agent.ts').packageAgent;
  try {
    ({ packageAgent } = await import('../../installers/build/package-agent.ts'));
  } catch (error) {
    skipReason = `installers/build/package-agent.ts cannot be loaded (${(error as Error).message})`;
    return;
  }
  try {
    await packageAgent(['linux-x64'], path.join(work, 'agent'));
    artifactDir = path.join(work, 'agent/linux-x64');
  } catch (error) {
    skipReason = `building the linux-x64 executable failed: ${(error as Error).message}`;
  }
  if (skipReason) console.warn(`SKIPPING Linux package tests: ${skipReason}`);
}, 600_000);

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** A fresh root with an initialised dpkg database (libc6 copied from the host, to satisfy Depends) and the host's units. */
function makeRoot(name: string): string {
  const root = path.join(work, name);
  for (const dir of ['var/lib/dpkg/updates', 'var/lib/dpkg/info', 'etc/systemd/system', 'usr/lib/systemd', 'opt']) fs.mkdirSync(path.join(root, dir), { recursive: true });
  fs.writeFileSync(path.join(root, 'var/lib/dpkg/available'), '');
  const libc = execFileSync('dpkg-query', ['-s', 'libc6'], { encoding: 'utf8' }).split('\n').filter((l) => !/^(Conffiles:| \/)/.test(l)).join('\n');
  fs.writeFileSync(path.join(root, 'var/lib/dpkg/status'), `${libc.trim()}\n\n`);
  // systemd-analyze --root resolves targets (sysinit, multi-user...) inside the root.
  fs.cpSync('/usr/lib/systemd/system', path.join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  return root;
}

function tree(root: string): string[] {
  const out: string[] = [];
  const visit = (rel: string) => {
    out.push(rel);
    const abs = path.join(root, rel);
    if (fs.lstatSync(abs).isDirectory()) for (const e of fs.readdirSync(abs)) visit(path.join(rel, e));
  };
  for (const e of fs.readdirSync(root)) visit(e);
  return out.filter((p) => !p.startsWith('var/lib/dpkg')).sort();
}

function dpkg(root: string, ...args: string[]) {
  // No STEWARD_* from the developer's shell may leak into the maintainer scripts.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('STEWARD_')));
  return spawnSync('dpkg', [`--root=${root}`, '--force-script-chrootless', ...args], { encoding: 'utf8', env: { ...env, PATH: process.env.PATH } });
}

const mode = (p: string) => (fs.statSync(p).mode & 0o7777).toString(8);

describe('Linux install scripts', () => {
  it.each(SCRIPTS)('%s passes sh -n (and shellcheck when installed)', (script) => {
    const file = path.join(LINUX_DIR, script);
    expect(spawnSync('sh', ['-n', file], { encoding: 'utf8' }).stderr).toBe('');
    if (!have('shellcheck')) return console.warn('shellcheck not installed: only sh -n checked');
    const check = spawnSync('shellcheck', ['-x', '-s', 'sh', path.basename(file)], { cwd: path.dirname(file), encoding: 'utf8' });
    expect(check.stdout + check.stderr).toBe('');
  });

  it('the unit passes systemd-analyze verify, with restart policy and a 0700 state directory', () => {
    const unit = fs.readFileSync(path.join(LINUX_DIR, 'steward-agent.service'), 'utf8');
    expect(unit).toMatch(/^Restart=always$/m);
    expect(unit).toMatch(/^RestartSec=/m);
    expect(unit).toMatch(/^StateDirectory=steward-agent$/m);
    expect(unit).toMatch(/^StateDirectoryMode=0700$/m);
    expect(unit).toMatch(/^ExecStart=\/opt\/steward-agent\/steward-agent run --state-dir \/var\/lib\/steward-agent$/m);
    expect(unit).not.toMatch(/^NoNewPrivileges=yes/m);
  });
});

describe('steward-agent .deb', () => {
  let deb = '';

  beforeAll(() => {
    if (!artifactDir) return;
    // Level 1 keeps CI quick; the layout and scripts are the same as the release build's default level 6.
    const built = buildDeb({ artifactDir, outDir: path.join(work, 'out'), compressionLevel: 1 });
    deb = built.file;
    console.log(`built ${path.basename(deb)}: ${(built.bytes / 1e6).toFixed(1)} MB in ${(built.buildMs / 1000).toFixed(1)} s`);
  }, 300_000);

  it('carries the version, the dependency on glibc and root-owned files with sane modes', ({ skip }) => {
    if (!artifactDir) return skip(skipReason);
    const info = execFileSync('dpkg-deb', ['-I', deb], { encoding: 'utf8' });
    const version = (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    expect(info).toContain(`Version: ${version.replace(/-/g, '~')}`);
    expect(info).toContain('Architecture: amd64');
    expect(info).toMatch(/Depends: libc6 \(>= 2\.34\)/);
    expect(info).toMatch(/postinst/);
    const listing = execFileSync('dpkg-deb', ['-c', deb], { encoding: 'utf8' }).trim().split('\n');
    const entry = (p: string) => listing.find((l) => l.endsWith(` ./${p}`) || l.endsWith(` ./${p}/`));
    expect(entry('opt/steward-agent/steward-agent')).toMatch(/^-rwxr-xr-x root\/root/);
    expect(entry(UNIT_PATH)).toMatch(/^-rw-r--r-- root\/root/);
    expect(entry('opt/steward-agent/node_modules/node-pty/package.json')).toMatch(/^-rw-r--r-- root\/root/);
    expect(listing.every((l) => l.includes(' root/root '))).toBe(true);
    expect(listing.filter((l) => /^.{5}w|^.{8}w/.test(l))).toEqual([]);
    // Packages compressed with xz: the data member says so.
    expect(execFileSync('ar', ['t', deb], { encoding: 'utf8' })).toContain('data.tar.xz');
  });

  it('installs without systemd running, enables the unit offline, removes and purges leaving nothing behind', ({ skip }) => {
    if (!artifactDir) return skip(skipReason);
    const root = makeRoot('deb-plain');
    const before = tree(root);
    const install = dpkg(root, '-i', deb);
    expect(install.status, install.stderr).toBe(0);
    expect(dpkg(root, '--verify', 'steward-agent').status).toBe(0);
    expect(mode(path.join(root, 'opt/steward-agent/steward-agent'))).toBe('755');
    expect(mode(path.join(root, 'var/lib/steward-agent'))).toBe('700');
    expect(fs.readlinkSync(path.join(root, 'etc/systemd/system/multi-user.target.wants/steward-agent.service'))).toBe(`/${UNIT_PATH}`);
    // Not enrolled: it says how to enroll instead of failing the install.
    expect(install.stderr).toMatch(/installed but not enrolled/);
    const verify = spawnSync('systemd-analyze', ['verify', `--root=${root}`, 'steward-agent.service'], { encoding: 'utf8' });
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.stderr).toBe('');
    // The installed executable runs from /opt with node-pty beside it.
    expect(execFileSync(path.join(root, 'opt/steward-agent/steward-agent'), ['--help'], { encoding: 'utf8' })).toMatch(/^steward-agent /);

    fs.writeFileSync(path.join(root, 'var/lib/steward-agent/agent.key'), 'state kept across remove\n', { mode: 0o600 });
    const remove = dpkg(root, '-r', 'steward-agent');
    expect(remove.status, remove.stderr).toBe(0);
    expect(fs.existsSync(path.join(root, 'opt/steward-agent'))).toBe(false);
    expect(fs.readdirSync(path.join(root, 'etc/systemd/system')).join(' ')).not.toMatch(/multi-user.target.wants/);
    expect(fs.existsSync(path.join(root, 'var/lib/steward-agent/agent.key'))).toBe(true);

    const purge = dpkg(root, '--purge', 'steward-agent');
    expect(purge.status, purge.stderr).toBe(0);
    expect(tree(root).filter((p) => p.includes('steward'))).toEqual([]);
    expect(tree(root).filter((p) => !before.includes(p))).toEqual([]);
    expect(dpkg(root, '-s', 'steward-agent').status).not.toBe(0);
  });

  it('enrolls from /etc/steward-agent/enroll.env with the token in the environment, not argv; a failed enrollment fails the install and keeps the file', ({ skip }) => {
    if (!artifactDir) return skip(skipReason);
    const root = makeRoot('deb-enroll');
    fs.mkdirSync(path.join(root, 'etc/steward-agent'));
    const envFile = path.join(root, 'etc/steward-agent/enroll.env');
    // A server that refuses the connection: enrollment must fail loudly and keep the file for a retry.
    fs.writeFileSync(envFile, 'STEWARD_SERVER_URL=ws://127.0.0.1:9\nSTEWARD_ENROLLMENT_TOKEN="stw1.not-a-real.token"\n', { mode: 0o600 });
    const install = dpkg(root, '-i', deb);
    expect(install.status).not.toBe(0);
    expect(install.stderr).toMatch(/enrollment with ws:\/\/127\.0\.0\.1:9 failed/);
    // The token reaches the agent in STEWARD_ENROLLMENT_TOKEN, never in argv: this fails until agent/main.ts
    // reads that variable when --token is absent.
    expect(install.stderr, 'agent/main.ts must accept the token from STEWARD_ENROLLMENT_TOKEN').not.toMatch(/enroll needs --server and --token/);
    expect(fs.existsSync(envFile)).toBe(true);
    expect(mode(envFile)).toBe('600');
    // Half-configured, it still removes and purges cleanly.
    expect(dpkg(root, '--purge', 'steward-agent').status).toBe(0);
    expect(tree(root).filter((p) => p.includes('steward'))).toEqual([]);
  });
});

describe('steward-agent tarball', () => {
  it('install.sh and uninstall.sh --purge lay out and remove the same files as the .deb', ({ skip }) => {
    if (!artifactDir) return skip(skipReason);
    const built = buildTarball({ artifactDir, outDir: path.join(work, 'out') });
    console.log(`built ${path.basename(built.file)}: ${(built.bytes / 1e6).toFixed(1)} MB in ${(built.buildMs / 1000).toFixed(1)} s`);
    const unpacked = path.join(work, 'unpacked');
    fs.mkdirSync(unpacked);
    execFileSync('tar', ['-xzf', built.file, '-C', unpacked]);
    const top = path.join(unpacked, tarballBaseName());
    const root = makeRoot('tarball');
    const before = tree(root);
    const install = spawnSync('sh', [path.join(top, 'install.sh'), '--root', root], { encoding: 'utf8' });
    expect(install.status, install.stderr).toBe(0);
    expect(mode(path.join(root, 'opt/steward-agent/steward-agent'))).toBe('755');
    expect(mode(path.join(root, 'var/lib/steward-agent'))).toBe('700');
    // The link's target is absolute inside the root, so read it rather than follow it.
    expect(fs.readlinkSync(path.join(root, 'etc/systemd/system/multi-user.target.wants/steward-agent.service'))).toBe('/etc/systemd/system/steward-agent.service');
    const verify = spawnSync('systemd-analyze', ['verify', `--root=${root}`, 'steward-agent.service'], { encoding: 'utf8' });
    expect(verify.status, verify.stderr).toBe(0);
    const uninstall = spawnSync('sh', [path.join(root, 'opt/steward-agent/lib/uninstall.sh'), '--purge', '--root', root], { encoding: 'utf8' });
    expect(uninstall.status, uninstall.stderr).toBe(0);
    expect(tree(root).filter((p) => p.includes('steward'))).toEqual([]);
    expect(tree(root).filter((p) => !before.includes(p))).toEqual([]);
  });
});
