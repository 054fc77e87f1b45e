import { PosixPrivateFiles } from './private-files-posix.ts';
import { WindowsPrivateFiles } from './private-files-windows.ts';
import { runCommand } from './run-command.ts';

/**
 * Keeping the agent's secret key private. A stolen key impersonates the machine (the MeshCentral lesson), so the
 * agent restricts the files it writes and refuses to use a key that others can read. POSIX systems use file
 * modes; Windows ignores them, and uses ACLs instead.
 */
export interface PrivateFiles {
  /** Restricts a file just written so only the agent's own account (and the system's administrators) can read it. */
  restrict(file: string): Promise<void>;
  /** Throws, naming the problem, when anyone else could read the file. */
  assertPrivate(file: string): Promise<void>;
}

export function privateFilesForThisPlatform(): PrivateFiles {
  switch (process.platform) {
    case 'linux':
    case 'darwin':
      return new PosixPrivateFiles();
    case 'win32':
      return new WindowsPrivateFiles(runCommand);
    default:
      throw new Error(`unsupported platform '${process.platform}': cannot protect the agent key`);
  }
}
