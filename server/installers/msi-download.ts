import type { Readable } from 'node:stream';
import { ZipFile } from 'yazl';
import { installCmd } from './enroll-settings.ts';
import type { ArtifactFile, PreparedInstaller } from './installer-artifact.ts';

/**
 * The MSI for a site: a zip with the MSI and install.cmd, which runs msiexec with SERVERURL and TOKEN. The MSI
 * itself is never rewritten (that needs msitools' database tools on every download); it is stored, not
 * deflated (its cabinet is compressed already), so the zip's size is known up front and costs a CRC pass only.
 */
export async function msiBundle(artifact: ArtifactFile, topDir: string, fileName: string): Promise<PreparedInstaller> {
  return {
    artifact,
    fileName,
    render(settings) {
      const zip = new ZipFile();
      const msi = artifact.handle.createReadStream();
      zip.addReadStream(msi, `${topDir}/${artifact.name}`, { compress: false, size: artifact.size, mtime: artifact.mtime });
      zip.addBuffer(installCmd(artifact.name, settings), `${topDir}/install.cmd`, { compress: false, mtime: new Date() });
      let size = -1;
      // Called at once, since every entry is stored with a known size. (@types/yazl forgets the argument.)
      const onSize = ((total: number) => (size = total)) as unknown as () => void;
      zip.end(undefined, onSize);
      if (size < 0) throw new Error('the zip size could not be computed in advance');
      // yazl stops reading when its output is torn down (client gone) but does not close the file: do it here.
      zip.outputStream.on('close', () => msi.destroy());
      return { fileName, contentType: 'application/zip', size, stream: zip.outputStream as Readable };
    },
  };
}
