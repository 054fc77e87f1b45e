import { build } from 'plist';

/**
 * The macOS LaunchDaemon that runs the agent as root at boot. Built here with the `plist` library (one source of
 * truth for the label, program and paths the install scripts also use) and written into the tarball as
 * com.steward.agent.plist; install.sh copies it to /Library/LaunchDaemons.
 */
export const LAUNCHD_LABEL = 'com.steward.agent';
export const MAC_INSTALL_DIR = '/usr/local/steward-agent';
export const MAC_EXECUTABLE = `${MAC_INSTALL_DIR}/steward-agent`;
export const MAC_STATE_DIR = '/Library/Application Support/Steward/agent';
export const MAC_LOG_DIR = '/Library/Logs/Steward';
export const PLIST_FILE_NAME = `${LAUNCHD_LABEL}.plist`;

export function launchDaemonPlist(): string {
  return build({
    Label: LAUNCHD_LABEL,
    // launchd passes each element as one argv entry, so the space in the state dir needs no quoting.
    ProgramArguments: [MAC_EXECUTABLE, 'run', '--state-dir', MAC_STATE_DIR],
    RunAtLoad: true,
    KeepAlive: true,
    // launchd's default is 10 s; stated so a crash loop never hammers the server faster than that.
    ThrottleInterval: 10,
    ProcessType: 'Standard',
    WorkingDirectory: MAC_INSTALL_DIR,
    StandardOutPath: `${MAC_LOG_DIR}/steward-agent.log`,
    StandardErrorPath: `${MAC_LOG_DIR}/steward-agent.err.log`,
    Umask: 0o077,
  });
}
