import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'plist';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAUNCHD_LABEL, launchDaemonPlist, MAC_EXECUTABLE, MAC_STATE_DIR, PLIST_FILE_NAME } from '../../installers/macos/launch-daemon.ts';
import { buildMacTarball, MACOS_DIR, macTarballBaseName } from '../../installers/macos/tarball.ts';

/**
 * The macOS tarball built from the real darwin-arm64 single executable. Nothing here can run on Linux: xattr,
 * codesign and launchctl exist only on a Mac, and the Mach-O executable cannot execute. So this checks what
 * Linux can: the plist parses and names the right program, the scripts are valid POSIX sh (sh -n, ShellCheck),
 * and the tarball holds the expected files with the expected modes. install.sh itself is unverified until run on
 * a Mac.
 */
const have = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-mac-pkg-'));
let artifactDir: string | null = null;
let skipReason = '';

beforeAll(async () => {
  try {
    const { packageAgent } = await import('../../installers/build/package-agent.ts');
    await packageAgent(['darwin-arm64'], path.join(work, 'agent'));
    artifactDir = path.join(work, 'agent/darwin-arm64');
  } catch (error) {
    skipReason = `building the darwin-arm64 executable failed: ${(error as Error).message}`;
    console.warn(`SKIPPING macOS tarball tests: ${skipReason}`);
  }
}, 600_000);

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function expectLaunchDaemon(xml: string): void {
  const daemon = parse(xml) as Record<string, unknown>;
  expect(daemon.Label).toBe(LAUNCHD_LABEL);
  expect(daemon.ProgramArguments).toEqual(['/usr/local/steward-agent/steward-agent', 'run', '--state-dir', '/Library/Application Support/Steward/agent']);
  expect(daemon.RunAtLoad).toBe(true);
  expect(daemon.KeepAlive).toBe(true);
  expect(daemon.StandardOutPath).toMatch(/^\/Library\/Logs\/Steward\//);
  expect(daemon.StandardErrorPath).toMatch(/^\/Library\/Logs\/Steward\//);
  // No secret may sit in the plist: it is world-readable in /Library/LaunchDaemons.
  expect(xml).not.toMatch(/TOKEN/i);
}

describe('macOS LaunchDaemon plist', () => {
  it('parses and runs the installed executable with the system state dir', () => {
    expect(MAC_EXECUTABLE).toBe('/usr/local/steward-agent/steward-agent');
    expect(MAC_STATE_DIR).toBe('/Library/Application Support/Steward/agent');
    expectLaunchDaemon(launchDaemonPlist());
  });

  it('uses the same label and paths as the scripts', () => {
    const install = fs.readFileSync(path.join(MACOS_DIR, 'install.sh'), 'utf8');
    expect(install).toContain(`LABEL=${LAUNCHD_LABEL}`);
    expect(install).toContain(`BIN=$PREFIX/steward-agent`);
    expect(install).toContain(`STATE_DIR="${MAC_STATE_DIR}"`);
    expect(fs.readFileSync(path.join(MACOS_DIR, 'uninstall.sh'), 'utf8')).toContain(`label=${LAUNCHD_LABEL}`);
  });
});

describe('macOS install scripts', () => {
  it.each(['install.sh', 'uninstall.sh'])('%s passes sh -n and ShellCheck', (script) => {
    const file = path.join(MACOS_DIR, script);
    expect(spawnSync('sh', ['-n', file], { encoding: 'utf8' }).stderr).toBe('');
    if (!have('shellcheck')) return console.warn('shellcheck not installed: only sh -n checked');
    const check = spawnSync('shellcheck', ['-s', 'sh', file], { encoding: 'utf8' });
    expect(check.stdout + check.stderr).toBe('');
  });

  it('install.sh passes the token to the agent in its environment, never in argv', () => {
    const install = fs.readFileSync(path.join(MACOS_DIR, 'install.sh'), 'utf8');
    expect(install).not.toMatch(/--token/);
    expect(install).toMatch(/STEWARD_ENROLLMENT_TOKEN=\$STEWARD_ENROLLMENT_TOKEN "\$BIN" "\$@"/);
  });

  it('install.sh signs, clears quarantine, and bootstraps the daemon', () => {
    const install = fs.readFileSync(path.join(MACOS_DIR, 'install.sh'), 'utf8');
    expect(install).toContain('xattr -dr com.apple.quarantine');
    expect(install).toContain('codesign --force --sign - "$PREFIX.new/steward-agent"');
    expect(install).toMatch(/-name pty\.node -o -name spawn-helper/);
    expect(install).toContain('chmod 0700 "$STATE_DIR"');
    expect(install).toContain('launchctl bootstrap system "$PLIST"');
  });
});

describe('macOS tarball', () => {
  it('holds the executable, node-pty, the plist and the scripts with the right modes', (ctx) => {
    if (!artifactDir) return ctx.skip(skipReason);
    const out = path.join(work, 'out');
    const built = buildMacTarball({ artifactDir, outDir: out, arch: 'arm64', version: '9.8.7' });
    const base = macTarballBaseName('arm64', '9.8.7');
    expect(base).toBe('steward-agent-9.8.7-darwin-arm64');
    expect(built.file).toBe(path.join(out, `${base}.tar.gz`));
    expect(built.bytes).toBe(fs.statSync(built.file).size);
    console.log(`macOS tarball ${path.basename(built.file)}: ${(built.bytes / 1024 / 1024).toFixed(1)} MB in ${(built.buildMs / 1000).toFixed(1)} s`);

    const listing = execFileSync('tar', ['-tvzf', built.file], { encoding: 'utf8' }).trim().split('\n');
    const entries = new Map(listing.map((line) => {
      const fields = line.split(/\s+/);
      return [fields.slice(5).join(' ').replace(/\/$/, ''), { mode: fields[0], owner: fields[1] }] as const;
    }));
    const expectEntry = (rel: string, mode: string | RegExp) => {
      const entry = entries.get(`${base}/${rel}`);
      expect(entry, rel).toBeDefined();
      expect(entry!.mode, rel).toMatch(mode);
      expect(entry!.owner, rel).toBe('0/0');
    };
    expectEntry('steward-agent', '-rwxr-xr-x');
    expectEntry('install.sh', '-rwxr-xr-x');
    expectEntry('uninstall.sh', '-rwxr-xr-x');
    expectEntry(PLIST_FILE_NAME, '-rw-r--r--');
    expectEntry('node_modules/node-pty/package.json', '-rw-r--r--');
    expectEntry('node_modules/node-pty/lib/index.js', '-rw-r--r--');
    // A shared library: loadable whether or not it carries the x bits the build gave it.
    expectEntry('node_modules/node-pty/prebuilds/darwin-arm64/pty.node', /^-rw[-x]r-[-x]r-[-x]$/);
    expectEntry('node_modules/node-pty/prebuilds/darwin-arm64/spawn-helper', '-rwxr-xr-x');
    // Only this architecture's native files, and nothing group/world-writable.
    expect([...entries.keys()].filter((p) => p.includes('/prebuilds/') && !p.includes('darwin-arm64')).filter((p) => !p.endsWith('/prebuilds'))).toEqual([]);
    for (const [p, e] of entries) expect(e.mode.slice(5, 6) + e.mode.slice(8, 9), p).not.toContain('w');

    const unpacked = path.join(work, 'unpacked');
    fs.mkdirSync(unpacked);
    execFileSync('tar', ['-xzf', built.file, '-C', unpacked]);
    expectLaunchDaemon(fs.readFileSync(path.join(unpacked, base, PLIST_FILE_NAME), 'utf8'));
    // The executable is the darwin-arm64 Mach-O (64-bit magic, CPU type arm64), not the Linux build.
    const header = Buffer.alloc(8);
    const fd = fs.openSync(path.join(unpacked, base, 'steward-agent'), 'r');
    fs.readSync(fd, header, 0, 8, 0);
    fs.closeSync(fd);
    expect(header.readUInt32LE(0)).toBe(0xfeedfacf);
    expect(header.readUInt32LE(4)).toBe(0x0100000c);
  }, 120_000);

  it('refuses an artifact directory without the native files for its architecture', (ctx) => {
    if (!artifactDir) return ctx.skip(skipReason);
    expect(() => buildMacTarball({ artifactDir: artifactDir!, outDir: path.join(work, 'x'), arch: 'x64' })).toThrow(/darwin-x64/);
  });
});
