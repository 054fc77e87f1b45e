import { LinuxLocalAccounts } from '../accounts/linux-local.ts';
import { MacosLocalAccounts } from '../accounts/macos-local.ts';
import { SambaAdAccounts } from '../accounts/samba-ad.ts';
import { WindowsAdAccounts } from '../accounts/windows-ad.ts';
import { WindowsLocalAccounts } from '../accounts/windows-local.ts';
import type { AccountBackends } from '../credentials/credential-jobs.ts';
import { runCommand } from './run-command.ts';

/**
 * The account stores of this OS, chosen once. The domain store is used only on a domain controller (the server asks
 * for domain scope only there). $STEWARD_AGENT_ACCOUNTS_ROOT points the Linux store at a fake root (tests: a copy of
 * /etc, never the host's accounts); $STEWARD_AGENT_SMB_CONF names the Samba DC's smb.conf.
 */
export function accountBackendsForThisPlatform(env: NodeJS.ProcessEnv = process.env): AccountBackends {
  switch (process.platform) {
    case 'linux': {
      const root = env.STEWARD_AGENT_ACCOUNTS_ROOT || undefined;
      return {
        local: new LinuxLocalAccounts(runCommand, { root }),
        domain: new SambaAdAccounts(runCommand, { smbConf: env.STEWARD_AGENT_SMB_CONF || undefined, root }),
        missing: {},
      };
    }
    case 'win32':
      return { local: new WindowsLocalAccounts(runCommand), domain: new WindowsAdAccounts(runCommand), missing: {} };
    case 'darwin':
      return { local: new MacosLocalAccounts(runCommand), domain: null, missing: { domain: 'a Mac is never a domain controller: domain accounts are created on the DC' } };
    default:
      return { local: null, domain: null, missing: { local: `managed accounts are not supported on ${process.platform}`, domain: `managed accounts are not supported on ${process.platform}` } };
  }
}
