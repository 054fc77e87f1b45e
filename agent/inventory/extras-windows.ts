import type { MachineKind } from '../../protocol/inventory.ts';
import type { CommandRunner } from '../platform/run-command.ts';
import type { DomainMembership, InventoryExtras, LocalAccount, LoggedInUser, SoftwareEntry } from './extras.ts';
import { parseQuserOutput } from './windows-quser.ts';

/**
 * Windows inventory through Windows PowerShell 5.1 (present on every supported Windows; pwsh 7 is not) and quser.
 * Every script ends in ConvertTo-Json over `-InputObject`, so one result still arrives as a JSON array, and
 * forces UTF-8 output so non-ASCII names survive the console code page.
 */
const PRELUDE = "$ErrorActionPreference = 'Stop'; [Console]::OutputEncoding = [System.Text.Encoding]::UTF8";

/**
 * Uninstall keys: 64-bit, 32-bit (WOW6432Node), the agent's own HKCU, and every loaded user hive under HKEY_USERS:
 * the agent runs as LocalSystem, whose HKCU never holds the per-user installs (Teams, Zoom...) of people logged in.
 * SystemComponent = 1 entries are parts of other products that Programs and Features hides too.
 */
export const SOFTWARE_SCRIPT = [
  PRELUDE,
  "$keys = @('HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*', 'HKLM:\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*', 'HKCU:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*', 'Registry::HKEY_USERS\\*\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*')",
  '$apps = @(Get-ItemProperty -Path $keys -ErrorAction SilentlyContinue | Where-Object { $_.DisplayName -and $_.SystemComponent -ne 1 } | Select-Object DisplayName, DisplayVersion, Publisher)',
  'ConvertTo-Json -Compress -InputObject $apps',
].join('; ');

/**
 * Admin membership by the well-known SID of BUILTIN\Administrators, because the group's name is localized
 * ("Administratoren"). Get-LocalGroupMember fails outright when the group holds an orphaned SID (a deleted or
 * Entra ID member it cannot resolve); the CIM association is the slower fallback that survives that.
 */
export const ACCOUNTS_SCRIPT = [
  PRELUDE,
  "$users = @(Get-LocalUser | Select-Object Name, FullName, Enabled, @{ Name = 'SID'; Expression = { $_.SID.Value } })",
  "try { $admins = @(Get-LocalGroupMember -SID 'S-1-5-32-544' | Select-Object Name, ObjectClass, @{ Name = 'SID'; Expression = { $_.SID.Value } }) } catch { $admins = @(Get-CimInstance -ClassName Win32_Group -Filter \"SID='S-1-5-32-544'\" | Get-CimAssociatedInstance -ResultClassName Win32_UserAccount | Select-Object Name, @{ Name = 'ObjectClass'; Expression = { 'User' } }, SID) }",
  'ConvertTo-Json -Compress -Depth 3 -InputObject @{ users = $users; admins = $admins }',
].join('; ');

/** One query for kind, domain role, FQDN and build, so PowerShell (slow to start) runs once for all four. */
export const SYSTEM_SCRIPT = [
  PRELUDE,
  '$os = Get-CimInstance -ClassName Win32_OperatingSystem',
  '$cs = Get-CimInstance -ClassName Win32_ComputerSystem',
  "$ubr = (Get-ItemProperty -Path 'HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion' -Name UBR -ErrorAction SilentlyContinue).UBR",
  "$hostEntry = try { [System.Net.Dns]::GetHostEntry('').HostName } catch { $null }",
  'ConvertTo-Json -Compress -InputObject ([pscustomobject]@{ ProductType = $os.ProductType; BuildNumber = $os.BuildNumber; UBR = $ubr; DomainRole = $cs.DomainRole; Domain = $cs.Domain; PartOfDomain = $cs.PartOfDomain; DNSHostName = $cs.DNSHostName; HostEntry = $hostEntry })',
].join('; ');

export const CONSOLE_USER_SCRIPT = [
  PRELUDE,
  'ConvertTo-Json -Compress -InputObject @(Get-CimInstance -ClassName Win32_ComputerSystem | Select-Object UserName)',
].join('; ');

interface SystemFacts {
  ProductType?: number;
  BuildNumber?: string;
  UBR?: number | null;
  DomainRole?: number;
  Domain?: string;
  PartOfDomain?: boolean;
  DNSHostName?: string;
  HostEntry?: string | null;
}

export class WindowsInventoryExtras implements InventoryExtras {
  readonly platform = 'windows' as const;
  private facts: Promise<SystemFacts> | null = null;

  constructor(private readonly run: CommandRunner) {}

  async fqdn(): Promise<string | null> {
    const f = await this.systemFacts();
    // A domain member's FQDN is its AD DNS name; on a workgroup machine Domain is the workgroup name, not DNS.
    if (f.PartOfDomain && f.DNSHostName && f.Domain) return `${f.DNSHostName}.${f.Domain}`.toLowerCase();
    return f.HostEntry || f.DNSHostName || null;
  }

  async software(): Promise<SoftwareEntry[]> {
    const rows = asArray(await this.powershell(SOFTWARE_SCRIPT, 60_000));
    const seen = new Set<string>();
    const entries: SoftwareEntry[] = [];
    for (const row of rows as { DisplayName?: unknown; DisplayVersion?: unknown; Publisher?: unknown }[]) {
      const name = text(row.DisplayName);
      if (!name) continue;
      const entry = { name, version: text(row.DisplayVersion), publisher: text(row.Publisher), source: 'registry' as const };
      // The same product shows up under HKCU and its HKEY_USERS\<SID> twin.
      const key = `${entry.name}\t${entry.version}\t${entry.publisher}`;
      if (!seen.has(key)) entries.push(entry);
      seen.add(key);
    }
    return entries;
  }

  async localAccounts(): Promise<LocalAccount[]> {
    const result = (await this.powershell(ACCOUNTS_SCRIPT)) as { users?: unknown; admins?: unknown } | null;
    const admins = new Set(asArray(result?.admins).map((m) => text((m as { SID?: unknown }).SID)));
    return asArray(result?.users).map((raw) => {
      const u = raw as { Name?: unknown; FullName?: unknown; Enabled?: unknown; SID?: unknown };
      const sid = text(u.SID);
      return {
        name: text(u.Name) ?? '',
        fullName: text(u.FullName),
        uid: sid,
        isAdmin: sid !== null && admins.has(sid),
        disabled: typeof u.Enabled === 'boolean' ? !u.Enabled : null,
      };
    });
  }

  async loggedInUsers(): Promise<LoggedInUser[]> {
    const quser = await this.run('quser.exe', [], { timeoutMs: 10_000 });
    if (quser.code === 0) return parseQuserOutput(quser.stdout);
    // Exit code 1 with nothing on stdout is "No User exists for *" (the message itself is localized).
    if (quser.code === 1 && !quser.stdout.trim()) return [];
    // Windows Home has no quser: fall back to the console user, the only interactive session Home allows.
    const rows = asArray(await this.powershell(CONSOLE_USER_SCRIPT));
    const user = text((rows[0] as { UserName?: unknown } | undefined)?.UserName);
    return user ? [{ name: user, terminal: 'console', host: null, since: null }] : [];
  }

  async machineKind(): Promise<MachineKind> {
    const { ProductType } = await this.systemFacts();
    // Win32_OperatingSystem.ProductType: 1 workstation, 2 domain controller, 3 server.
    if (ProductType === 1) return 'desktop';
    if (ProductType === 2 || ProductType === 3) return 'server';
    throw new Error(`unexpected Win32_OperatingSystem.ProductType ${JSON.stringify(ProductType)}`);
  }

  async domainRole(): Promise<DomainMembership> {
    const { DomainRole, Domain } = await this.systemFacts();
    // Win32_ComputerSystem.DomainRole: 0/2 standalone workstation/server, 1/3 member, 4/5 backup/primary DC.
    const role =
      DomainRole === 0 || DomainRole === 2 ? 'standalone'
      : DomainRole === 1 || DomainRole === 3 ? 'member'
      : DomainRole === 4 || DomainRole === 5 ? 'domain_controller'
      : null;
    if (!role) throw new Error(`unexpected Win32_ComputerSystem.DomainRole ${JSON.stringify(DomainRole)}`);
    return { role, domain: role === 'standalone' ? null : (Domain?.trim().toLowerCase() || null) };
  }

  async build(): Promise<string | null> {
    const { BuildNumber, UBR } = await this.systemFacts();
    if (!BuildNumber) return null;
    // The update build revision (UBR) is what tells one month's patch level from the next: 19045.3803.
    return typeof UBR === 'number' ? `${BuildNumber}.${UBR}` : BuildNumber;
  }

  private systemFacts(): Promise<SystemFacts> {
    // Kept for the life of this object only: one collection asks four questions of the same answer. A failure is
    // not cached, so the next collection retries.
    this.facts ??= this.powershell(SYSTEM_SCRIPT).then(
      (value) => (value ?? {}) as SystemFacts,
      (err: unknown) => {
        this.facts = null;
        throw err;
      },
    );
    return this.facts;
  }

  private async powershell(script: string, timeoutMs = 30_000): Promise<unknown> {
    const args = ['-NoProfile', '-NonInteractive', '-Command', script];
    const result = await this.run('powershell.exe', args, { timeoutMs });
    if (result.code !== 0) {
      throw new Error(`powershell exited ${result.code}: ${result.stderr.trim().split('\n')[0] || 'no output'}`);
    }
    const out = result.stdout.replace(/^\uFEFF/, '').trim();
    if (!out) return null;
    try {
      return JSON.parse(out);
    } catch {
      throw new Error(`powershell output is not JSON: ${out.slice(0, 200)}`);
    }
  }
}

function asArray(value: unknown): unknown[] {
  if (value === null || value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function text(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const s = String(value).trim();
  return s ? s : null;
}
