import { remoteSupportAccountName } from '../../protocol/credentials.ts';
import { GrantRefused } from '../../protocol/session-grant.ts';
import type { AccountBackends } from '../credentials/credential-jobs.ts';
import { thisOsPlatform } from './inventory-extras.ts';
import { posixAccount } from './posix-account.ts';
import { runCommand } from './run-command.ts';
import { shellAsAccount, type ShellLaunch } from './shell.ts';

/**
 * How a session runs as the Remote Support account (site policy run-as), per OS. Only an account Steward created
 * (it carries the marker), enabled, is used; otherwise the session is refused with the reason. Windows cannot: a
 * ConPTY shell as another account needs that account's password or logon token, which the agent does not keep.
 */
export function remoteSupportShellForThisPlatform(backends: AccountBackends, env: NodeJS.ProcessEnv = process.env): () => Promise<ShellLaunch> {
  const platform = thisOsPlatform();
  if (platform === 'windows') {
    return async () => {
      throw new GrantRefused('sessions as the Remote Support account are not supported on Windows yet: a ConPTY shell as another account needs its password or logon token; set the site\'s run-as to the agent account');
    };
  }
  return async () => {
    const name = remoteSupportAccountName(platform);
    const state = await backends.local?.lookup(name).catch(() => null);
    if (!state) throw new GrantRefused(`the Remote Support account '${name}' does not exist on this machine (enable desktop credentials for its site)`);
    if (!state.managedBySteward) throw new GrantRefused(`the account '${name}' was not created by Steward; sessions do not run as it`);
    if (!state.enabled) throw new GrantRefused(`the Remote Support account '${name}' is disabled`);
    const account = await posixAccount(runCommand, platform, name, env.STEWARD_AGENT_ACCOUNTS_ROOT || undefined);
    if (!account) throw new GrantRefused(`the Remote Support account '${name}' could not be looked up`);
    return shellAsAccount(account, env);
  };
}
