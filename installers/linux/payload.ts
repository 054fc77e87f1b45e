import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { STEWARD_VERSION } from '../../protocol/version.ts';

/**
 * The Linux payload both packages share: the single executable built by installers/build (`steward-agent` plus
 * `node_modules/node-pty`), laid out as /opt/steward-agent, with normalised modes so a package never depends on
 * the umask or checkout it was built from.
 */
export const LINUX_DIR = path.dirname(fileURLToPath(import.meta.url));
export const INSTALL_PREFIX = 'opt/steward-agent';
export const UNIT_FILE = path.join(LINUX_DIR, 'steward-agent.service');
export const SHELL_LIBRARY = path.join(LINUX_DIR, 'steward-install.sh');

export function assertAgentArtifact(artifactDir: string): void {
  const executable = path.join(artifactDir, 'steward-agent');
  if (!fs.existsSync(executable)) {
    throw new Error(`no agent executable at ${executable}: build it first (npm run package -- --target linux-x64)`);
  }
  if ((fs.statSync(executable).mode & 0o111) === 0) throw new Error(`${executable} is not executable`);
  const pty = path.join(artifactDir, 'node_modules/node-pty/package.json');
  if (!fs.existsSync(pty)) throw new Error(`${pty} is missing: the agent cannot open terminals without node-pty beside it`);
}

/** Copies the artifact into `dest` (created), adding the shared shell library as lib/steward-install.sh. */
export function stagePayload(artifactDir: string, dest: string): void {
  assertAgentArtifact(artifactDir);
  copyArtifact(artifactDir, dest);
  fs.mkdirSync(path.join(dest, 'lib'), { recursive: true });
  fs.copyFileSync(SHELL_LIBRARY, path.join(dest, 'lib/steward-install.sh'));
  normaliseModes(dest);
}

/** Copies an artifact directory of installers/build (executable plus node_modules) into `dest` (created). */
export function copyArtifact(artifactDir: string, dest: string): void {
  fs.mkdirSync(dest, { recursive: true });
  for (const entry of fs.readdirSync(artifactDir)) {
    fs.cpSync(path.join(artifactDir, entry), path.join(dest, entry), { recursive: true, verbatimSymlinks: true });
  }
}

/** Directories and executables 0755, everything else 0644: no group/world-writable file reaches a root service. */
export function normaliseModes(root: string): void {
  const visit = (p: string): void => {
    const stat = fs.lstatSync(p);
    if (stat.isSymbolicLink()) return;
    if (stat.isDirectory()) {
      fs.chmodSync(p, 0o755);
      for (const entry of fs.readdirSync(p)) visit(path.join(p, entry));
    } else {
      fs.chmodSync(p, stat.mode & 0o111 ? 0o755 : 0o644);
    }
  };
  visit(root);
}

/** Debian versions may not contain '-' outside the revision; a pre-release `1.2.0-rc.1` sorts before 1.2.0 as `1.2.0~rc.1`. */
export function debianVersion(version: string = STEWARD_VERSION): string {
  if (!/^[0-9][0-9A-Za-z.+~-]*$/.test(version)) throw new Error(`version '${version}' cannot be a Debian version`);
  return version.replace(/-/g, '~');
}

export function directorySizeBytes(root: string): number {
  let total = 0;
  const visit = (p: string): void => {
    const stat = fs.lstatSync(p);
    if (stat.isDirectory()) for (const entry of fs.readdirSync(p)) visit(path.join(p, entry));
    else total += stat.size;
  };
  visit(root);
  return total;
}

export interface BuiltArtifact {
  file: string;
  bytes: number;
  buildMs: number;
}
