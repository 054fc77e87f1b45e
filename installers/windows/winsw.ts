import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { CACHE_DIR } from '../build/paths.ts';

const run = promisify(execFile);

/**
 * WinSW, the service wrapper the MSI registers as the Windows service: steward-agent.exe is a console program and
 * cannot answer the service control manager. The npm registry is the only network the build may use, so WinSW
 * comes from the npm package `node-windows`, which ships it under bin/winsw. Every node-windows release up to
 * 1.0.0-beta.8 carries the same WinSW 1.17 (.NET Framework, runs on the .NET 4 built into Windows 10/Server 2016+
 * thanks to its .exe.config). Pinned by the tarball's sha512 like the Node binaries.
 */
export const WINSW_PACKAGE = { name: 'node-windows', version: '0.1.14', integrity: 'sha512-2sz0i+ckeX/+22Z4KcDVis1ukyGOYZWx2WG9nQYauUwzIxEye5QcMrExkH7OaRSHkwM5bN/jesxsiQqkUb1O/w==' } as const;

const FILES_IN_TARBALL = ['package/bin/winsw/winsw.exe', 'package/bin/winsw/winsw.exe.config'] as const;

export interface WinswFiles {
  exe: string;
  /** Selects the .NET 4 runtime: without it WinSW asks for .NET 2.0, which current Windows does not install. */
  config: string;
}

/** winsw.exe and its .exe.config, fetched with `npm pack` on first use, checked against the pinned integrity, cached. */
export async function winswFiles(cacheDir = CACHE_DIR): Promise<WinswFiles> {
  const dir = path.join(cacheDir, `${WINSW_PACKAGE.name}-${WINSW_PACKAGE.version}`);
  const files = { exe: path.join(dir, 'winsw.exe'), config: path.join(dir, 'winsw.exe.config') };
  if (fs.existsSync(files.exe) && fs.existsSync(files.config)) return files;

  fs.mkdirSync(cacheDir, { recursive: true });
  const work = fs.mkdtempSync(path.join(cacheDir, '.download-'));
  try {
    const spec = `${WINSW_PACKAGE.name}@${WINSW_PACKAGE.version}`;
    const { stdout } = await run('npm', ['pack', spec, '--json', '--pack-destination', work], { maxBuffer: 16 * 1024 * 1024 });
    const [packed] = JSON.parse(stdout) as { filename: string }[];
    const tarball = path.join(work, packed!.filename);
    const integrity = `sha512-${createHash('sha512').update(fs.readFileSync(tarball)).digest('base64')}`;
    if (integrity !== WINSW_PACKAGE.integrity) throw new Error(`${spec}: tarball integrity ${integrity} does not match the pinned ${WINSW_PACKAGE.integrity}`);
    await run('tar', ['-xzf', tarball, '-C', work, ...FILES_IN_TARBALL]);
    // Stage complete, then rename: an interrupted download never leaves half a cache entry behind.
    const staged = path.join(work, 'winsw');
    fs.mkdirSync(staged);
    for (const file of FILES_IN_TARBALL) fs.renameSync(path.join(work, file), path.join(staged, path.basename(file)));
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(staged, dir);
    return files;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
