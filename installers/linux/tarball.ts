import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeTarGz } from '../build/archive.ts';
import { STEWARD_VERSION } from '../../protocol/version.ts';
import { LINUX_DIR, stagePayload, UNIT_FILE, type BuiltArtifact } from './payload.ts';

/**
 * Builds steward-agent-<version>-linux-x64.tar.gz for systemd distributions without dpkg. One top directory
 * holding the executable, node_modules, the unit, lib/steward-install.sh and install.sh / uninstall.sh.
 */
export interface TarballOptions {
  artifactDir: string;
  outDir: string;
  version?: string;
}

export function tarballBaseName(version: string = STEWARD_VERSION): string {
  return `steward-agent-${version}-linux-x64`;
}

export function buildTarball(opts: TarballOptions): BuiltArtifact {
  const started = Date.now();
  const base = tarballBaseName(opts.version ?? STEWARD_VERSION);
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-tgz-'));
  try {
    const top = path.join(staging, base);
    stagePayload(opts.artifactDir, top);
    fs.copyFileSync(UNIT_FILE, path.join(top, 'steward-agent.service'));
    fs.chmodSync(path.join(top, 'steward-agent.service'), 0o644);
    for (const script of ['install.sh', 'uninstall.sh']) {
      fs.copyFileSync(path.join(LINUX_DIR, script), path.join(top, script));
      fs.chmodSync(path.join(top, script), 0o755);
    }
    fs.mkdirSync(opts.outDir, { recursive: true });
    const file = path.join(opts.outDir, `${base}.tar.gz`);
    writeTarGz(staging, base, file);
    return { file, bytes: fs.statSync(file).size, buildMs: Date.now() - started };
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}
