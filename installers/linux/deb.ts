import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { STEWARD_VERSION } from '../../protocol/version.ts';
import { debianVersion, directorySizeBytes, INSTALL_PREFIX, LINUX_DIR, stagePayload, UNIT_FILE, type BuiltArtifact } from './payload.ts';

/**
 * Builds steward-agent_<version>_amd64.deb: the agent under /opt/steward-agent, the unit in
 * /usr/lib/systemd/system, maintainer scripts from ./debian. Needs only dpkg-deb (no debhelper, no fakeroot:
 * --root-owner-group makes every file root:root).
 */
export interface DebOptions {
  /** dist/agent/linux-x64 as written by installers/build. */
  artifactDir: string;
  outDir: string;
  version?: string;
  /** xz level (dpkg-deb's default 6); lower trades size for time, e.g. in tests on small CI machines. */
  compressionLevel?: number;
}

export const UNIT_PATH = 'usr/lib/systemd/system/steward-agent.service';
const MAINTAINER_SCRIPTS = ['postinst', 'prerm', 'postrm'] as const;

export function debFileName(version: string = STEWARD_VERSION): string {
  return `steward-agent_${debianVersion(version)}_amd64.deb`;
}

export function buildDeb(opts: DebOptions): BuiltArtifact {
  const started = Date.now();
  const version = debianVersion(opts.version ?? STEWARD_VERSION);
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-deb-'));
  try {
    fs.chmodSync(staging, 0o755);
    stagePayload(opts.artifactDir, path.join(staging, INSTALL_PREFIX));
    fs.mkdirSync(path.dirname(path.join(staging, UNIT_PATH)), { recursive: true });
    fs.copyFileSync(UNIT_FILE, path.join(staging, UNIT_PATH));
    fs.chmodSync(path.join(staging, UNIT_PATH), 0o644);
    for (const dir of ['usr', 'usr/lib', 'usr/lib/systemd', 'usr/lib/systemd/system', 'opt']) fs.chmodSync(path.join(staging, dir), 0o755);

    const debian = path.join(staging, 'DEBIAN');
    fs.mkdirSync(debian, { mode: 0o755 });
    const md5sums = md5List(staging);
    fs.writeFileSync(path.join(debian, 'control'), controlFile(version, Math.ceil(directorySizeBytes(staging) / 1024)), { mode: 0o644 });
    fs.writeFileSync(path.join(debian, 'md5sums'), md5sums, { mode: 0o644 });
    for (const script of MAINTAINER_SCRIPTS) {
      fs.copyFileSync(path.join(LINUX_DIR, 'debian', script), path.join(debian, script));
      fs.chmodSync(path.join(debian, script), 0o755);
    }

    fs.mkdirSync(opts.outDir, { recursive: true });
    const file = path.join(opts.outDir, debFileName(version));
    execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', `-z${opts.compressionLevel ?? 6}`, '--build', staging, file], { stdio: ['ignore', 'ignore', 'inherit'] });
    return { file, bytes: fs.statSync(file).size, buildMs: Date.now() - started };
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

function controlFile(version: string, installedSizeKiB: number): string {
  return [
    'Package: steward-agent',
    `Version: ${version}`,
    'Architecture: amd64',
    'Maintainer: Steward maintainers <steward@localhost>',
    'Section: admin',
    'Priority: optional',
    // node-pty's pty.node is built against glibc 2.34; the executable embeds Node and needs nothing else.
    'Depends: libc6 (>= 2.34)',
    'Recommends: systemd',
    `Installed-Size: ${installedSizeKiB}`,
    'Description: Steward endpoint agent',
    ' Connects this machine to a Steward control server: inventory, local account',
    ' management and remote terminal sessions. Runs as the steward-agent systemd',
    ' service. Enroll at install time with STEWARD_SERVER_URL and',
    ' STEWARD_ENROLLMENT_TOKEN in the environment or in /etc/steward-agent/enroll.env.',
    '',
  ].join('\n');
}

/** DEBIAN/md5sums, so `dpkg --verify steward-agent` can detect a tampered agent. */
function md5List(staging: string): string {
  const lines: string[] = [];
  const visit = (rel: string): void => {
    const abs = path.join(staging, rel);
    const stat = fs.lstatSync(abs);
    if (stat.isDirectory()) {
      for (const entry of fs.readdirSync(abs).sort()) visit(rel ? `${rel}/${entry}` : entry);
    } else if (stat.isFile()) {
      lines.push(`${crypto.createHash('md5').update(fs.readFileSync(abs)).digest('hex')}  ${rel}`);
    }
  };
  visit('');
  return lines.join('\n') + '\n';
}
