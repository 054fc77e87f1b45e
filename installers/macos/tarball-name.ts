import { STEWARD_VERSION } from '../../protocol/version.ts';

/**
 * The macOS tarball's name, apart from tarball.ts so the server (which serves the tarball, server/installers) can
 * name it without loading the build's plist library, a development dependency.
 */
export type MacArch = 'x64' | 'arm64';

export function macTarballBaseName(arch: MacArch, version: string = STEWARD_VERSION): string {
  return `steward-agent-${version}-darwin-${arch}`;
}
