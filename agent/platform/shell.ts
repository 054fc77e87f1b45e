import { existsSync } from 'node:fs';
import os from 'node:os';
import type { PosixAccount } from './posix-account.ts';

/** What a remote terminal runs on this OS, and the environment it starts with. */
export interface ShellLaunch {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** Run as this account instead of the agent's (Linux and macOS: node-pty switches to it before exec). */
  uid?: number;
  gid?: number;
}

/**
 * The login shell of the account the agent runs as: on Linux and macOS the shell from the user database, started as
 * a login shell; on Windows PowerShell, which node-pty runs in a ConPTY. The environment is built from scratch, never
 * inherited: the agent's own environment may hold an enrollment token or service settings a technician must not see.
 * $STEWARD_AGENT_SHELL names another shell (an administrator's choice, or a test that wants a shell without the
 * host's interactive profile).
 */
export function shellForThisPlatform(env: NodeJS.ProcessEnv = process.env): ShellLaunch {
  const user = os.userInfo();
  switch (process.platform) {
    case 'linux':
    case 'darwin': {
      const shell = env.STEWARD_AGENT_SHELL || (user.shell && user.shell !== '' ? user.shell : '/bin/sh');
      return {
        file: shell,
        args: ['-l'],
        cwd: user.homedir,
        env: {
          HOME: user.homedir,
          USER: user.username,
          LOGNAME: user.username,
          SHELL: shell,
          PATH: env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
          LANG: env.LANG ?? 'C.UTF-8',
          TERM: 'xterm-256color',
        },
      };
    }
    case 'win32': {
      const systemRoot = env.SystemRoot ?? 'C:\\Windows';
      return {
        file: env.STEWARD_AGENT_SHELL || `${systemRoot}\\System32\\WindowsPowerShell\\v1.0\\powershell.exe`,
        args: ['-NoLogo'],
        cwd: user.homedir,
        env: {
          SystemRoot: systemRoot,
          USERPROFILE: user.homedir,
          USERNAME: user.username,
          PATH: env.PATH ?? `${systemRoot}\\System32;${systemRoot};${systemRoot}\\System32\\WindowsPowerShell\\v1.0`,
          TEMP: env.TEMP ?? `${systemRoot}\\Temp`,
          TMP: env.TMP ?? `${systemRoot}\\Temp`,
        },
      };
    }
    default:
      throw new Error(`remote terminals are not supported on platform '${process.platform}'`);
  }
}

/**
 * The login shell of another local account (the Remote Support account), started as that account with an
 * environment of its own. $STEWARD_AGENT_SHELL still names the shell binary (tests avoid host profiles with it).
 */
export function shellAsAccount(account: PosixAccount, env: NodeJS.ProcessEnv = process.env): ShellLaunch {
  const shell = env.STEWARD_AGENT_SHELL || account.shell;
  return {
    file: shell,
    args: ['-l'],
    cwd: existsSync(account.home) ? account.home : '/',
    uid: account.uid,
    gid: account.gid,
    env: {
      HOME: account.home,
      USER: account.name,
      LOGNAME: account.name,
      SHELL: shell,
      PATH: '/usr/local/bin:/usr/bin:/bin',
      LANG: env.LANG ?? 'C.UTF-8',
      TERM: 'xterm-256color',
    },
  };
}
