import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeTarGz } from '../build/archive.ts';
import { STEWARD_VERSION } from '../../protocol/version.ts';
import { copyArtifact, normaliseModes, type BuiltArtifact } from '../linux/payload.ts';
import { launchDaemonPlist, PLIST_FILE_NAME } from './launch-daemon.ts';
import { macTarballBaseName, type MacArch } from './tarball-name.ts';

export { macTarballBaseName, type MacArch } from './tarball-name.ts';

/**
 * Builds steward-agent-<version>-darwin-<arch>.tar.gz from the macOS single executable built by installers/build:
 * one top directory holding the (unsigned) executable, node_modules/node-pty, the LaunchDaemon plist and
 * install.sh / uninstall.sh, which sign and load it on the Mac. Nothing here can sign or run Mach-O code: Linux
 * has no codesign, so the signature is made by install.sh on the target machine.
 */
export const MACOS_DIR = path.dirname(fileURLToPath(import.meta.url));

export interface MacTarballOptions {
  /** dist/agent/darwin-<arch>: steward-agent plus node_modules/node-pty. */
  artifactDir: string;
  outDir: string;
  arch: MacArch;
  version?: string;
}

function assertMacArtifact(artifactDir: string, arch: MacArch): void {
  const executable = path.join(artifactDir, 'steward-agent');
  if (!fs.existsSync(executable)) throw new Error(`no agent executable at ${executable}: build it first (npm run package -- --target darwin-${arch})`);
  const pty = path.join(artifactDir, `node_modules/node-pty/prebuilds/darwin-${arch}/pty.node`);
  if (!fs.existsSync(pty)) throw new Error(`${pty} is missing: the agent cannot open terminals without node-pty's darwin-${arch} build beside it`);
}

export function buildMacTarball(opts: MacTarballOptions): BuiltArtifact {
  const started = Date.now();
  assertMacArtifact(opts.artifactDir, opts.arch);
  const base = macTarballBaseName(opts.arch, opts.version ?? STEWARD_VERSION);
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-mac-tgz-'));
  try {
    const top = path.join(staging, base);
    copyArtifact(opts.artifactDir, top);
    // node-pty forks spawn-helper for every terminal: it must stay executable whatever the checkout did to it.
    for (const helper of findFiles(path.join(top, 'node_modules/node-pty'), 'spawn-helper')) fs.chmodSync(helper, 0o755);
    fs.writeFileSync(path.join(top, PLIST_FILE_NAME), launchDaemonPlist());
    for (const script of ['install.sh', 'uninstall.sh']) fs.copyFileSync(path.join(MACOS_DIR, script), path.join(top, script));
    normaliseModes(top);
    for (const script of ['install.sh', 'uninstall.sh']) fs.chmodSync(path.join(top, script), 0o755);
    fs.mkdirSync(opts.outDir, { recursive: true });
    const file = path.join(opts.outDir, `${base}.tar.gz`);
    writeTarGz(staging, base, file);
    return { file, bytes: fs.statSync(file).size, buildMs: Date.now() - started };
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

function findFiles(root: string, name: string): string[] {
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((rel) => path.basename(rel) === name).map((rel) => path.join(root, rel));
}
