import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { TAR_END, tarFile, tarHeader, tarPadding } from '../../installers/build/tar-format.ts';
import { LINUX_DIR } from '../../installers/linux/payload.ts';
import { enrollEnv } from './enroll-settings.ts';
import type { ArtifactFile, PreparedInstaller } from './installer-artifact.ts';

/** Installs the .deb with enroll.env in /etc/steward-agent (0600); shipped in the bundle as install.sh. */
export const DEB_INSTALL_SCRIPT = path.join(LINUX_DIR, 'install-deb.sh');

/**
 * The .deb for a site: an uncompressed tar (the .deb inside is already xz-compressed) holding one directory with
 * the .deb, enroll.env and install.sh. Written as it streams: headers and the small files are built here, the .deb
 * is copied from the open artifact.
 */
export async function debBundle(artifact: ArtifactFile, topDir: string, fileName: string): Promise<PreparedInstaller> {
  const script = await fs.readFile(DEB_INSTALL_SCRIPT);
  return {
    artifact,
    fileName,
    render(settings) {
      const now = new Date();
      const head = Buffer.concat([
        tarHeader({ name: topDir, mode: 0o755, mtime: now, type: 'directory', size: 0 }),
        tarHeader({ name: `${topDir}/${artifact.name}`, mode: 0o644, mtime: artifact.mtime, type: 'file', size: artifact.size }),
      ]);
      const tail = Buffer.concat([
        tarPadding(artifact.size),
        tarFile(`${topDir}/install.sh`, script, 0o755, now),
        tarFile(`${topDir}/enroll.env`, enrollEnv(settings), 0o600, now),
        TAR_END,
      ]);
      const deb = artifact.handle.createReadStream();
      async function* chunks() {
        yield head;
        yield* deb;
        yield tail;
      }
      return { fileName, contentType: 'application/x-tar', size: head.length + artifact.size + tail.length, stream: Readable.from(chunks(), { objectMode: false }) };
    },
  };
}
