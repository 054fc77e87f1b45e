import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { bundleAgent } from './bundle.ts';
import { CACHE_DIR, DIST_AGENT_DIR, REPO_ROOT } from './paths.ts';
import { buildExecutable, writeSeaBlob } from './sea.ts';
import { NODE_VERSION, TARGETS, type TargetId } from './targets.ts';

export interface BuiltExecutable {
  target: TargetId;
  executable: string;
  bytes: number;
  /** The executable plus the files shipped beside it. */
  directoryBytes: number;
  milliseconds: number;
}

function directorySize(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    total += entry.isDirectory() ? directorySize(full) : fs.statSync(full).size;
  }
  return total;
}

/**
 * What an executable is made of: the agent bundle (the blob is made from it; the blob itself also embeds its own
 * path, so it is not the key), the pinned Node version, the target, and node-pty as installed. The same
 * inputs give the same artifact directory, which is kept in installers/.cache/executables and copied, not rebuilt
 * (the installer tests each need the executables; building them once per run saves minutes of CI).
 */
function buildKey(bundle: string, id: TargetId): string {
  const hash = createHash('sha256').update(fs.readFileSync(bundle)).update(`\0${NODE_VERSION}\0${id}\0`);
  hash.update(fs.readFileSync(path.join(REPO_ROOT, 'node_modules/node-pty/package.json')));
  return hash.digest('hex').slice(0, 24);
}

async function buildOrReuse(id: TargetId, bundle: string, blob: string, outDir: string): Promise<string> {
  const cached = path.join(CACHE_DIR, 'executables', `${id}-${buildKey(bundle, id)}`);
  if (!fs.existsSync(cached)) {
    const staging = `${cached}.${process.pid}.tmp`;
    await buildExecutable(TARGETS[id], blob, staging);
    try {
      fs.renameSync(staging, cached);
    } catch {
      fs.rmSync(staging, { recursive: true, force: true }); // another build of the same inputs won the race
    }
    // Only the newest build of each target is kept: the cache must not grow with every change to the agent.
    for (const entry of fs.readdirSync(path.dirname(cached))) {
      if (entry.startsWith(`${id}-`) && !entry.endsWith('.tmp') && entry !== path.basename(cached)) fs.rmSync(path.join(path.dirname(cached), entry), { recursive: true, force: true });
    }
  }
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.cpSync(cached, outDir, { recursive: true, preserveTimestamps: true });
  return path.join(outDir, TARGETS[id].executableName);
}

/** Bundles the agent once, writes one SEA blob, then builds (or reuses) each target's executable in turn. */
export async function packageAgent(targets: TargetId[], outRoot = DIST_AGENT_DIR, onBuilt: (b: BuiltExecutable) => void = () => {}): Promise<BuiltExecutable[]> {
  const work = path.join(outRoot, '.sea');
  const bundle = await bundleAgent(path.join(work, 'steward-agent.cjs'));
  const blob = path.join(work, 'steward-agent.blob');
  await writeSeaBlob(bundle.file, blob);
  const built: BuiltExecutable[] = [];
  for (const id of targets) {
    const started = performance.now();
    const outDir = path.join(outRoot, id);
    const executable = await buildOrReuse(id, bundle.file, blob, outDir);
    const result = { target: id, executable, bytes: fs.statSync(executable).size, directoryBytes: directorySize(outDir), milliseconds: Math.round(performance.now() - started) };
    built.push(result);
    onBuilt(result);
  }
  return built;
}

