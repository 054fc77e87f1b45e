import { LinuxConsent } from '../consent/linux-consent.ts';
import { MacosConsent } from '../consent/macos-consent.ts';
import { WindowsConsent } from '../consent/windows-consent.ts';
import type { ConsentPrompter } from '../consent/consent-prompter.ts';
import { runCommand } from './run-command.ts';

/**
 * How this OS reaches its logged-on users for the desktop consent policy. $STEWARD_AGENT_UTMP names another login
 * record file on Linux (a test's own). null = no way on this platform: sessions that need a notice or consent are
 * then refused, never started silently.
 */
export function consentPrompterForThisPlatform(env: NodeJS.ProcessEnv = process.env): ConsentPrompter | null {
  switch (process.platform) {
    case 'linux':
      return new LinuxConsent(runCommand, { utmpPath: env.STEWARD_AGENT_UTMP || undefined });
    case 'darwin':
      return new MacosConsent(runCommand);
    case 'win32':
      return new WindowsConsent(runCommand);
    default:
      return null;
  }
}
