import os from 'node:os';
import path from 'node:path';

/**
 * Where file transfer may read and write: $STEWARD_AGENT_FILE_ROOTS (the platform's path list separator), else the
 * home directory of the account the agent runs as and the system temporary directory. Everything outside is refused.
 */
export function fileRootsForThisPlatform(env: NodeJS.ProcessEnv = process.env): string[] {
  const configured = env.STEWARD_AGENT_FILE_ROOTS;
  if (configured) return configured.split(path.delimiter).filter(Boolean).map((root) => path.resolve(root));
  return [os.homedir(), os.tmpdir()];
}
