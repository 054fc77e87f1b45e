import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Unavailable } from '../errors.ts';
import type { EnrollSettings } from './enroll-settings.ts';

/**
 * A built installer opened for one download. It is opened, and checked, before an enrollment token is minted, so
 * a missing artifact costs no token; the download then streams from this open file, so an `npm run package`
 * replacing it meanwhile cannot mix two builds into one response.
 */
export interface ArtifactFile {
  /** File name inside the installers directory. */
  name: string;
  handle: fs.FileHandle;
  size: number;
  mtime: Date;
}

export interface InstallerDownload {
  fileName: string;
  contentType: string;
  size: number;
  stream: Readable;
}

/** An opened, checked artifact that becomes a download once the settings (with the new token) are known. */
export interface PreparedInstaller {
  artifact: ArtifactFile;
  fileName: string;
  render(settings: EnrollSettings): InstallerDownload;
}

export function notBuilt(name: string, why: string): Unavailable {
  return new Unavailable(`the installer ${name} ${why}: run \`npm run package\` on the server (or point STEWARD_INSTALLERS_DIR at its output)`, 'installer_not_built');
}

export async function openArtifact(dir: string, name: string): Promise<ArtifactFile> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path.join(dir, name), 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw notBuilt(name, 'has not been built');
    throw error;
  }
  const stat = await handle.stat();
  if (!stat.isFile()) {
    await handle.close();
    throw notBuilt(name, 'is not a file');
  }
  return { name, handle, size: stat.size, mtime: stat.mtime };
}
