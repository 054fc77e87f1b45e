import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { blobWriterNode, nodeBinary } from './node-binaries.ts';
import { REPO_ROOT } from './paths.ts';
import type { Target } from './targets.ts';

const run = promisify(execFile);

/** Fixed by Node: the fuse string postject flips so the binary looks for its injected blob. */
export const SEA_SENTINEL_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
export const SEA_RESOURCE_NAME = 'NODE_SEA_BLOB';
export const SEA_MACHO_SEGMENT = 'NODE_SEA';

const POSTJECT_CLI = path.join(path.dirname(createRequire(import.meta.url).resolve('postject')), 'cli.js');
const NODE_PTY_ROOT = path.join(REPO_ROOT, 'node_modules/node-pty');
const EXECUTABLE_NATIVE_FILES = /^spawn-helper$|\.(exe|node|dll)$/;

/**
 * Writes the SEA preparation blob for a bundled script. It is made by the target Node version (never the build
 * host's own Node) and without code cache or snapshot, both of which are tied to one platform — so one blob serves
 * every target.
 */
export async function writeSeaBlob(bundleFile: string, blobFile: string): Promise<void> {
  const configFile = path.join(path.dirname(blobFile), 'sea.json');
  const config = { main: bundleFile, output: blobFile, disableExperimentalSEAWarning: true, useSnapshot: false, useCodeCache: false };
  fs.writeFileSync(configFile, JSON.stringify(config, null, 2) + '\n');
  await run(await blobWriterNode(), ['--experimental-sea-config', configFile]);
}

/**
 * Windows: the official node.exe is Authenticode-signed and injection would leave a broken signature behind; strip it
 * (osslsigncode) so the result is plainly unsigned, ready for our own signing. Elsewhere: a plain copy.
 */
async function copyBaseBinary(target: Target, source: string, destination: string): Promise<void> {
  if (target.format === 'pe') {
    await run('osslsigncode', ['remove-signature', '-in', source, '-out', destination]).catch((error: Error) => {
      throw new Error(`stripping the Authenticode signature needs osslsigncode (Debian package 'osslsigncode'): ${error.message}`);
    });
  } else {
    fs.copyFileSync(source, destination);
  }
  fs.chmodSync(destination, 0o755);
}

async function inject(target: Target, executable: string, blobFile: string): Promise<void> {
  const args = [POSTJECT_CLI, executable, SEA_RESOURCE_NAME, blobFile, '--sentinel-fuse', SEA_SENTINEL_FUSE];
  if (target.format === 'macho') args.push('--macho-segment-name', SEA_MACHO_SEGMENT);
  // postject wants Node >= 22; the pinned target Node is at hand, so use it rather than the host's.
  await run(await blobWriterNode(), args, { maxBuffer: 16 * 1024 * 1024 });
}

function copyTree(from: string, to: string, keep: (file: string) => boolean): void {
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    const destination = path.join(to, entry.name);
    if (entry.isDirectory()) copyTree(source, destination, keep);
    else if (keep(entry.name)) {
      fs.mkdirSync(to, { recursive: true });
      fs.copyFileSync(source, destination);
      // npm does not keep the execute bit of node-pty's prebuilt helpers; macOS node-pty execs spawn-helper.
      fs.chmodSync(destination, EXECUTABLE_NATIVE_FILES.test(entry.name) ? 0o755 : 0o644);
    }
  }
}

/** node-pty's runtime files beside the executable: package.json, lib/*.js, and this platform's native files. */
function copyNodePty(target: Target, outDir: string): void {
  const destination = path.join(outDir, 'node_modules/node-pty');
  fs.mkdirSync(destination, { recursive: true });
  fs.copyFileSync(path.join(NODE_PTY_ROOT, 'package.json'), path.join(destination, 'package.json'));
  copyTree(path.join(NODE_PTY_ROOT, 'lib'), path.join(destination, 'lib'), (name) => name.endsWith('.js') && !name.endsWith('.test.js'));
  const nativeDir = path.join(NODE_PTY_ROOT, target.ptyNativeDir);
  if (!fs.existsSync(nativeDir)) throw new Error(`node-pty has no native files for ${target.id} at ${nativeDir}`);
  // Debug symbols (.pdb) are a third of the Windows prebuilds and not needed to run.
  copyTree(nativeDir, path.join(destination, target.ptyNativeDir), (name) => !name.endsWith('.pdb'));
}

/** Builds `<outDir>/steward-agent[.exe]` for one target, with node-pty beside it. The directory is replaced. */
export async function buildExecutable(target: Target, blobFile: string, outDir: string): Promise<string> {
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir, { recursive: true });
  const executable = path.join(outDir, target.executableName);
  await copyBaseBinary(target, await nodeBinary(target), executable);
  await inject(target, executable, blobFile);
  copyNodePty(target, outDir);
  return executable;
}
