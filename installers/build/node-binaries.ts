import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { CACHE_DIR } from './paths.ts';
import { NODE_VERSION, TARGETS, type Target } from './targets.ts';

const run = promisify(execFile);

/** Where the pinned official Node binary for a target is cached once downloaded. */
export function cachedNodePath(target: Target, cacheDir = CACHE_DIR): string {
  return path.join(cacheDir, `node-v${NODE_VERSION}`, target.id, path.basename(target.binaryInTarball));
}

function sriSha512(file: string): string {
  return `sha512-${createHash('sha512').update(fs.readFileSync(file)).digest('base64')}`;
}

/**
 * The official Node binary for a target, fetched with `npm pack` from the npm registry (the only network the build
 * uses) on first use, checked against the pinned integrity, and cached.
 */
export async function nodeBinary(target: Target, cacheDir = CACHE_DIR): Promise<string> {
  const binary = cachedNodePath(target, cacheDir);
  if (fs.existsSync(binary)) return binary;

  fs.mkdirSync(cacheDir, { recursive: true });
  const work = fs.mkdtempSync(path.join(cacheDir, '.download-'));
  try {
    const spec = `${target.npmPackage}@${NODE_VERSION}`;
    const { stdout } = await run('npm', ['pack', spec, '--json', '--pack-destination', work], { maxBuffer: 64 * 1024 * 1024 });
    const [packed] = JSON.parse(stdout) as { filename: string }[];
    const tarball = path.join(work, packed!.filename);
    const integrity = sriSha512(tarball);
    if (integrity !== target.integrity) throw new Error(`${spec}: tarball integrity ${integrity} does not match the pinned ${target.integrity}`);
    await run('tar', ['-xzf', tarball, '-C', work, target.binaryInTarball]);
    fs.mkdirSync(path.dirname(binary), { recursive: true });
    // Rename last, so an interrupted download never leaves a half-written cached binary behind.
    fs.renameSync(path.join(work, target.binaryInTarball), binary);
    fs.chmodSync(binary, 0o755);
    return binary;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** The Linux x64 binary of the target Node version: the one that writes the SEA blob (it runs on the build host). */
export function blobWriterNode(cacheDir = CACHE_DIR): Promise<string> {
  return nodeBinary(TARGETS['linux-x64'], cacheDir);
}
