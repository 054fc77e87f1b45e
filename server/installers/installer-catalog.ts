import { debFileName } from '../../installers/linux/deb.ts';
import { tarballBaseName } from '../../installers/linux/tarball.ts';
import { macTarballBaseName } from '../../installers/macos/tarball-name.ts';
import { msiFileName } from '../../installers/windows/msi.ts';
import { STEWARD_VERSION } from '../../protocol/version.ts';
import { debBundle } from './deb-download.ts';
import { openArtifact, type ArtifactFile, type PreparedInstaller } from './installer-artifact.ts';
import { msiBundle } from './msi-download.ts';
import { tarGzWithEnrollment } from './tar-gz-download.ts';

/**
 * What `GET /api/v1/sites/:id/installers/:os` serves for each `:os`: which artifact of `npm run package` (named as
 * the builders name them, for this server's version) and how the site's enrollment settings are added to it.
 */
export const INSTALLER_OS = ['linux', 'linux-deb', 'macos-x64', 'macos-arm64', 'windows'] as const;
export type InstallerOs = (typeof INSTALLER_OS)[number];

interface CatalogEntry {
  /** File name in the installers directory. */
  artifact: string;
  prepare: (artifact: ArtifactFile) => Promise<PreparedInstaller>;
}

const v = STEWARD_VERSION;

const CATALOG: Record<InstallerOs, CatalogEntry> = {
  // The tarball for systemd distributions without dpkg, enroll.env beside install.sh.
  linux: { artifact: `${tarballBaseName(v)}.tar.gz`, prepare: (a) => tarGzWithEnrollment(a, tarballBaseName(v)) },
  // The .deb, enroll.env and an install.sh that puts enroll.env in /etc/steward-agent and runs dpkg -i.
  'linux-deb': { artifact: debFileName(v), prepare: (a) => debBundle(a, `steward-agent-${v}-linux-x64-deb`, `steward-agent-${v}-linux-x64-deb.tar`) },
  'macos-x64': { artifact: `${macTarballBaseName('x64', v)}.tar.gz`, prepare: (a) => tarGzWithEnrollment(a, macTarballBaseName('x64', v)) },
  'macos-arm64': { artifact: `${macTarballBaseName('arm64', v)}.tar.gz`, prepare: (a) => tarGzWithEnrollment(a, macTarballBaseName('arm64', v)) },
  // The MSI and an install.cmd passing SERVERURL and TOKEN to msiexec.
  windows: { artifact: msiFileName(v), prepare: (a) => msiBundle(a, `steward-agent-${v}-windows-x64`, `steward-agent-${v}-windows-x64.zip`) },
};

/** Opens and checks the artifact for `os` (503 installer_not_built when it is missing or unusable). */
export async function prepareInstaller(installersDir: string, os: InstallerOs): Promise<PreparedInstaller> {
  const entry = CATALOG[os];
  const artifact = await openArtifact(installersDir, entry.artifact);
  try {
    return await entry.prepare(artifact);
  } catch (error) {
    await artifact.handle.close();
    throw error;
  }
}
