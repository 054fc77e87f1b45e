import fs from 'node:fs';
import path from 'node:path';
import { bundleAgent } from './bundle.ts';
import { DIST_AGENT_DIR } from './paths.ts';
import { buildExecutable, writeSeaBlob } from './sea.ts';
import { TARGETS, type TargetId } from './targets.ts';

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

/** Bundles the agent once, writes one SEA blob, then builds each target's executable in turn. */
export async function packageAgent(targets: TargetId[], outRoot = DIST_AGENT_DIR, onBuilt: (b: BuiltExecutable) => void = () => {}): Promise<BuiltExecutable[]> {
  const work = path.join(outRoot, '.sea');
  const bundle = await bundleAgent(path.join(work, 'steward-agent.cjs'));
  const blob = path.join(work, 'steward-agent.blob');
  await writeSeaBlob(bundle.file, blob);
  const built: BuiltExecutable[] = [];
  for (const id of targets) {
    const started = performance.now();
    const outDir = path.join(outRoot, id);
    const executable = await buildExecutable(TARGETS[id], blob, outDir);
    const result = { target: id, executable, bytes: fs.statSync(executable).size, directoryBytes: directorySize(outDir), milliseconds: Math.round(performance.now() - started) };
    built.push(result);
    onBuilt(result);
  }
  return built;
}

