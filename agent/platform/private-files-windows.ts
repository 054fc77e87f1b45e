import type { CommandRunner } from './run-command.ts';
import type { PrivateFiles } from './private-files.ts';

const SYSTEM = 'S-1-5-18';
const ADMINISTRATORS = 'S-1-5-32-544';

/**
 * Windows: an explicit ACL granting full control to SYSTEM, the Administrators group and the account the agent
 * runs as (normally LocalSystem), with inheritance removed. SIDs, not names, so it works in every language.
 * The path reaches PowerShell through an environment variable, never spliced into the script text.
 */
export class WindowsPrivateFiles implements PrivateFiles {
  constructor(private readonly run: CommandRunner) {}

  async currentUserSid(): Promise<string> {
    const result = await this.run('whoami', ['/user', '/fo', 'csv', '/nh']);
    const sid = /"(S-1-[0-9-]+)"/.exec(result.stdout)?.[1];
    if (result.code !== 0 || !sid) throw new Error(`cannot determine the agent's account SID: ${result.stderr || result.stdout}`);
    return sid;
  }

  async restrict(file: string): Promise<void> {
    const me = await this.currentUserSid();
    const grants = [...new Set([SYSTEM, ADMINISTRATORS, me])].flatMap((sid) => ['/grant:r', `*${sid}:(F)`]);
    const result = await this.run('icacls', [file, '/inheritance:r', ...grants]);
    if (result.code !== 0) throw new Error(`icacls could not restrict ${file}: ${result.stderr || result.stdout}`);
  }

  async assertPrivate(file: string): Promise<void> {
    const script =
      '$ErrorActionPreference = "Stop"; ' +
      '@((Get-Acl -LiteralPath $env:STEWARD_PRIVATE_FILE).Access | ForEach-Object { [pscustomobject]@{ ' +
      'sid = $_.IdentityReference.Translate([System.Security.Principal.SecurityIdentifier]).Value; ' +
      'type = [string]$_.AccessControlType } }) | ConvertTo-Json -Compress';
    const result = await this.run('powershell.exe', ['-NoProfile', '-NonInteractive', '-Command', script], {
      env: { ...process.env, STEWARD_PRIVATE_FILE: file },
    });
    if (result.code !== 0) throw new Error(`cannot read the ACL of ${file}: ${result.stderr || result.stdout}`);
    const parsed = JSON.parse(result.stdout.trim() || '[]') as { sid: string; type: string } | { sid: string; type: string }[];
    const allowed = new Set([SYSTEM, ADMINISTRATORS, await this.currentUserSid()]);
    const strangers = (Array.isArray(parsed) ? parsed : [parsed]).filter((ace) => ace.type === 'Allow' && !allowed.has(ace.sid));
    if (strangers.length) {
      throw new Error(`${file} is readable by ${strangers.map((a) => a.sid).join(', ')}; only SYSTEM, Administrators and the agent may read it`);
    }
  }
}
