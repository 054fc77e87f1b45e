import type { CommandRunner } from '../platform/run-command.ts';
import { WindowsAccountStore } from './windows-account-store.ts';
import { AccountBackendError, type EndpointPasswordPolicy } from './account-backend.ts';
import { accountScript, refuse, runAccountScript } from './windows-powershell.ts';

/**
 * Steward's account in the local SAM of a Windows desktop ("Remote Support") or standalone server ("NOC_HelpDesk"),
 * through the Microsoft.PowerShell.LocalAccounts cmdlets. See windows-powershell.ts for how scripts, parameters and
 * the password reach PowerShell (stdin only).
 *
 * Administrators is found by its well-known SID S-1-5-32-544, never by name: the name is localized
 * ("Administratoren", "Administrateurs").
 */

const ADMINISTRATORS = "'S-1-5-32-544'";

/**
 * Get-LocalGroupMember fails outright when the group holds a SID it cannot resolve (a deleted or Entra ID member);
 * the CIM association is the slower route that survives that.
 */
const ADMIN_SIDS = `try { $adminSids = @(Get-LocalGroupMember -SID ${ADMINISTRATORS} | ForEach-Object { $_.SID.Value }) } catch { $adminSids = @(Get-CimInstance -ClassName Win32_Group -Filter "SID=${ADMINISTRATORS}" | Get-CimAssociatedInstance -ResultClassName Win32_UserAccount | ForEach-Object { $_.SID }) }`;

/** Only "no such user" means absent; access denied and the like still fail. */
const FIND_USER = "try { $u = Get-LocalUser -Name $p.name } catch { if ($_.FullyQualifiedErrorId -like 'UserNotFound*') { $u = $null } else { throw } }";

const DESCRIBE = (admin: string) =>
  `ConvertTo-Json -Compress -InputObject @{ found = $true; name = $u.Name; sid = $u.SID.Value; fullName = $u.FullName; description = $u.Description; enabled = $u.Enabled; admin = ${admin} }`;

export const LOCAL_LOOKUP_SCRIPT = accountScript([
  FIND_USER,
  `if (-not $u) { ConvertTo-Json -Compress -InputObject @{ found = $false } } else { ${ADMIN_SIDS}; ${DESCRIBE('($adminSids -contains $u.SID.Value)')} }`,
]);

/**
 * The password never expires and the user may not change it: Steward rotates it, and a changed or expired password
 * would lock technicians out. A failure after New-LocalUser (the password refused by policy, or Administrators
 * refusing the member) removes the half-made account: Windows PowerShell's New-LocalUser has been seen to leave the
 * user behind when the password is refused (PowerShell/PowerShell#3242).
 */
export const LOCAL_CREATE_SCRIPT = accountScript(
  [
    FIND_USER,
    `if ($u) { ${refuse('exists', 'an account with this name already exists')} }`,
    'try { $u = New-LocalUser -Name $p.name -FullName $p.fullName -Description $p.description -Password $sec -PasswordNeverExpires -UserMayNotChangePassword -AccountNeverExpires; ' +
      `$null = Add-LocalGroupMember -SID ${ADMINISTRATORS} -Member $u } ` +
      "catch { $failure = $_; if ($failure.FullyQualifiedErrorId -notlike 'UserExists*') { try { Remove-LocalUser -Name $p.name } catch { } }; throw $failure }",
    DESCRIBE('$true'),
  ],
  { password: true },
);

export const LOCAL_SET_PASSWORD_SCRIPT = accountScript(
  ['$u = Get-LocalUser -Name $p.name', 'Set-LocalUser -InputObject $u -Password $sec', 'ConvertTo-Json -Compress -InputObject @{ done = $true }'],
  { password: true },
);

export const LOCAL_ENSURE_ADMIN_SCRIPT = accountScript([
  '$u = Get-LocalUser -Name $p.name',
  ADMIN_SIDS,
  `if ($adminSids -contains $u.SID.Value) { ConvertTo-Json -Compress -InputObject @{ added = $false } } else { $null = Add-LocalGroupMember -SID ${ADMINISTRATORS} -Member $u; ConvertTo-Json -Compress -InputObject @{ added = $true } }`,
]);

/**
 * A real logon check against the SAM. Get-LocalUser first, because with the Guest account enabled a Machine-context
 * ValidateCredentials can succeed for a name that does not exist (the logon falls back to Guest).
 */
export const LOCAL_VERIFY_SCRIPT = accountScript(
  [
    '$u = Get-LocalUser -Name $p.name',
    'Add-Type -AssemblyName System.DirectoryServices.AccountManagement',
    '$ctx = New-Object System.DirectoryServices.AccountManagement.PrincipalContext ([System.DirectoryServices.AccountManagement.ContextType]::Machine)',
    'try { $valid = $ctx.ValidateCredentials($u.Name, $pw) } finally { $ctx.Dispose() }',
    'ConvertTo-Json -Compress -InputObject @{ valid = [bool]$valid }',
  ],
  { password: true },
);

export const LOCAL_DISABLE_SCRIPT = accountScript(['Disable-LocalUser -Name $p.name', 'ConvertTo-Json -Compress -InputObject @{ done = $true }']);

/** Remove-LocalUser leaves the profile folder (C:\Users\...), which may hold a technician's files. */
export const LOCAL_REMOVE_SCRIPT = accountScript(['Remove-LocalUser -Name $p.name', 'ConvertTo-Json -Compress -InputObject @{ done = $true }']);

/**
 * The effective policy from `secedit /export /mergedpolicy` (domain GPO merged over local policy): its INF keys are
 * the same in every language, where `net accounts` labels are translated ("Minimale Kennwortlänge").
 */
export const LOCAL_POLICY_SCRIPT = accountScript([
  '$f = [System.IO.Path]::GetTempFileName()',
  "try { $null = & secedit.exe /export /mergedpolicy /areas SECURITYPOLICY /cfg $f /quiet; if ($LASTEXITCODE -ne 0) { throw ('secedit /export exited ' + $LASTEXITCODE) }; $inf = Get-Content -LiteralPath $f -Raw } finally { Remove-Item -LiteralPath $f -Force -ErrorAction SilentlyContinue }",
  'ConvertTo-Json -Compress -InputObject @{ inf = $inf }',
]);

/** Windows "password must meet complexity requirements": 3 of 4 categories, and not the account name. */
const COMPLEXITY_MIN_CLASSES = 3;

export class WindowsLocalAccounts extends WindowsAccountStore {
  readonly kind = 'windows-local' as const;
  readonly scope = 'local' as const;

  constructor(run: CommandRunner) {
    super(
      run,
      {
        lookup: LOCAL_LOOKUP_SCRIPT,
        create: LOCAL_CREATE_SCRIPT,
        setPassword: LOCAL_SET_PASSWORD_SCRIPT,
        ensureAdmin: LOCAL_ENSURE_ADMIN_SCRIPT,
        verify: LOCAL_VERIFY_SCRIPT,
        disable: LOCAL_DISABLE_SCRIPT,
        remove: LOCAL_REMOVE_SCRIPT,
      },
      { where: '', makeAdmin: (name) => `make ${name} an administrator` },
    );
  }

  async readPolicy(): Promise<EndpointPasswordPolicy> {
    const r = await runAccountScript(this.run, 'read the local password policy', LOCAL_POLICY_SCRIPT, {});
    if (typeof r.inf !== 'string') throw new AccountBackendError('tool_failed', 'read the local password policy: secedit exported nothing');
    return policyFromSeceditInf(r.inf);
  }
}

/** [System Access] of a security template: "MinimumPasswordAge = 0" lines (secedit export format). */
export function policyFromSeceditInf(inf: string): EndpointPasswordPolicy {
  const values = new Map<string, string>();
  let inSystemAccess = false;
  for (const raw of inf.replace(/^\uFEFF/, '').split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('[')) inSystemAccess = line.toLowerCase() === '[system access]';
    else if (inSystemAccess) {
      const m = /^(\w+)\s*=\s*(.*)$/.exec(line);
      if (m) values.set(m[1].toLowerCase(), m[2].trim());
    }
  }
  const sources: string[] = [];
  const count = (key: string): number => {
    const value = values.get(key.toLowerCase());
    if (value === undefined || !/^\d+$/.test(value)) {
      throw new AccountBackendError('tool_failed', `secedit /export gave no numeric ${key} in [System Access]`);
    }
    sources.push(`secedit /export /mergedpolicy: ${key} = ${value}`);
    return Number(value);
  };
  const complexity = count('PasswordComplexity') === 1;
  return {
    minAgeDays: count('MinimumPasswordAge'),
    minLength: count('MinimumPasswordLength'),
    maxLength: null,
    minClasses: complexity ? COMPLEXITY_MIN_CLASSES : 1,
    requiredClasses: [],
    rejectsAccountName: complexity,
    historyLength: count('PasswordHistorySize'),
    sources,
  };
}
