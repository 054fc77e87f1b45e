import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { TAR_END, TAR_END_GZIP_MEMBER, tarFile } from '../../installers/build/tar-format.ts';
import { enrollEnv } from './enroll-settings.ts';
import { notBuilt, type ArtifactFile, type PreparedInstaller } from './installer-artifact.ts';

/**
 * The Linux and macOS tarballs with the site's enroll.env added beside install.sh, for a few hundred bytes of work
 * per download: writeTarGz ends each tarball with a gzip member holding only the tar end-of-archive marker, so the
 * download is the tarball minus that member, then one new gzip member with enroll.env and the marker. gunzip reads
 * concatenated members as one stream; nothing of the 100 MB is decompressed or recompressed.
 */
export async function tarGzWithEnrollment(artifact: ArtifactFile, topDir: string): Promise<PreparedInstaller> {
  const tail = Buffer.alloc(TAR_END_GZIP_MEMBER.length);
  if (artifact.size > tail.length) await artifact.handle.read(tail, 0, tail.length, artifact.size - tail.length);
  if (!tail.equals(TAR_END_GZIP_MEMBER)) throw notBuilt(artifact.name, 'was not built by this version of the packaging (it cannot take a site\'s enroll.env)');
  const bodySize = artifact.size - tail.length;
  return {
    artifact,
    fileName: artifact.name,
    render(settings) {
      // 0600: the token is a secret even on the machine being installed. The time is now, not the build's.
      const member = gzipSync(Buffer.concat([tarFile(`${topDir}/enroll.env`, enrollEnv(settings), 0o600, new Date()), TAR_END]));
      const body = artifact.handle.createReadStream({ start: 0, end: bodySize - 1 });
      async function* chunks() {
        yield* body;
        yield member;
      }
      return { fileName: artifact.name, contentType: 'application/gzip', size: bodySize + member.length, stream: Readable.from(chunks(), { objectMode: false }) };
    },
  };
}
