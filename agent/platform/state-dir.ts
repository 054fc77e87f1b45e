import path from 'node:path';

/** Where the agent keeps its key and enrollment by default: a system location per OS (override: --state-dir). */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.STEWARD_AGENT_STATE_DIR) return path.resolve(env.STEWARD_AGENT_STATE_DIR);
  switch (process.platform) {
    case 'linux':
      return '/var/lib/steward-agent';
    case 'darwin':
      return '/Library/Application Support/Steward Agent';
    case 'win32':
      return path.join(env.ProgramData ?? 'C:\\ProgramData', 'Steward', 'Agent');
    default:
      throw new Error(`unsupported platform '${process.platform}': pass --state-dir explicitly`);
  }
}
