import type { CommandRunner } from '../platform/run-command.ts';
import { WindowsAccountStore } from './windows-account-store.ts';
import { AccountBackendError, type EndpointPasswordPolicy } from './account-backend.ts';
import { accountScript, asArray, refuse, runAccountScript, text } from './windows-powershell.ts';

/**
 * Steward's NOC account as a domain account, run on a Windows domain controller through the ActiveDirectory
 * module (RSAT-AD-PowerShell, installed with the AD DS role). See windows-powershell.ts for how scripts,
 * parameters and the password reach PowerShell (stdin only).
 *
 * Domain Admins is found by RID 512 under the domain SID, never by name: the name is localized ("Domänen-Admins").
 */

const AD = 'Import-Module ActiveDirectory';
const DOMAIN_ADMINS = "$da = (Get-ADDomain).DomainSID.Value + '-512'";
/** Nested membership counts: an account in a group inside Domain Admins has the rights. */
const ADMIN_SIDS = '$adminSids = @(Get-ADGroupMember -Identity $da -Recursive | ForEach-Object { $_.SID.Value })';
const FIND_USER =
  "try { $u = Get-ADUser -Identity $p.name -Properties DisplayName, Description } catch { if ($_.FullyQualifiedErrorId -like '*ADIdentityNotFoundException*') { $u = $null } else { throw } }";
const DESCRIBE = (admin: string) =>
  `ConvertTo-Json -Compress -InputObject @{ found = $true; name = $u.SamAccountName; sid = $u.SID.Value; fullName = $u.DisplayName; description = $u.Description; enabled = $u.Enabled; admin = ${admin} }`;

export const AD_LOOKUP_SCRIPT = accountScript([
  AD,
  FIND_USER,
  `if (-not $u) { ConvertTo-Json -Compress -InputObject @{ found = $false } } else { ${DOMAIN_ADMINS}; ${ADMIN_SIDS}; ${DESCRIBE('($adminSids -contains $u.SID.Value)')} }`,
]);

/**
 * New-ADUser creates the object before it sets the password, so a password the domain refuses leaves a disabled
 * account behind; that and a failed Add-ADGroupMember remove the half-made account (the name was checked free
 * just before, so whatever now carries it is ours) — unless the failure was the name being taken meanwhile.
 */
export const AD_CREATE_SCRIPT = accountScript(
  [
    AD,
    FIND_USER,
    `if ($u) { ${refuse('exists', 'an account with this name already exists')} }`,
    '$domain = Get-ADDomain',
    "$da = $domain.DomainSID.Value + '-512'",
    "try { $u = New-ADUser -Name $p.name -SamAccountName $p.name -UserPrincipalName ($p.name + '@' + $domain.DNSRoot) -DisplayName $p.fullName -Description $p.description -AccountPassword $sec -Enabled $true -PasswordNeverExpires $true -CannotChangePassword $true -PassThru; " +
      'Add-ADGroupMember -Identity $da -Members $u } ' +
      'catch { $failure = $_; if (-not ($failure.Exception -is [Microsoft.ActiveDirectory.Management.ADIdentityAlreadyExistsException])) { try { Remove-ADUser -Identity $p.name -Confirm:$false } catch { } }; throw $failure }',
    '$u = Get-ADUser -Identity $u -Properties DisplayName, Description',
    DESCRIBE('$true'),
  ],
  { password: true },
);

export const AD_SET_PASSWORD_SCRIPT = accountScript(
  [AD, 'Set-ADAccountPassword -Identity $p.name -Reset -NewPassword $sec', 'ConvertTo-Json -Compress -InputObject @{ done = $true }'],
  { password: true },
);

export const AD_ENSURE_ADMIN_SCRIPT = accountScript([
  AD,
  '$u = Get-ADUser -Identity $p.name',
  DOMAIN_ADMINS,
  ADMIN_SIDS,
  'if ($adminSids -contains $u.SID.Value) { ConvertTo-Json -Compress -InputObject @{ added = $false } } else { Add-ADGroupMember -Identity $da -Members $u; ConvertTo-Json -Compress -InputObject @{ added = $true } }',
]);

/** A real bind against the domain as that account; Get-ADUser first so an unknown name is not_found, not false. */
export const AD_VERIFY_SCRIPT = accountScript(
  [
    AD,
    '$u = Get-ADUser -Identity $p.name',
    'Add-Type -AssemblyName System.DirectoryServices.AccountManagement',
    '$ctx = New-Object System.DirectoryServices.AccountManagement.PrincipalContext ([System.DirectoryServices.AccountManagement.ContextType]::Domain)',
    'try { $valid = $ctx.ValidateCredentials($u.SamAccountName, $pw) } finally { $ctx.Dispose() }',
    'ConvertTo-Json -Compress -InputObject @{ valid = [bool]$valid }',
  ],
  { password: true },
);

export const AD_DISABLE_SCRIPT = accountScript([AD, 'Disable-ADAccount -Identity $p.name', 'ConvertTo-Json -Compress -InputObject @{ done = $true }']);
export const AD_REMOVE_SCRIPT = accountScript([AD, 'Remove-ADUser -Identity $p.name -Confirm:$false', 'ConvertTo-Json -Compress -InputObject @{ done = $true }']);

/**
 * The default domain policy plus the fine-grained policies (PSOs) that reach the NOC account through Domain Admins
 * (RID 512) or Domain Users (RID 513): a PSO replaces the default policy whole, and many domains give admins a
 * stricter one. A domain without PSO support (functional level below 2008) reports why instead of failing.
 */
export const AD_POLICY_SCRIPT = accountScript([
  AD,
  '$domain = Get-ADDomain',
  "$groups = @(@('-512', '-513') | ForEach-Object { (Get-ADGroup -Identity ($domain.DomainSID.Value + $_)).DistinguishedName })",
  '$d = Get-ADDefaultDomainPasswordPolicy | Select-Object ComplexityEnabled, MinPasswordAge, MinPasswordLength, PasswordHistoryCount',
  'try { $psos = @(Get-ADFineGrainedPasswordPolicy -Filter * | Where-Object { @($_.AppliesTo | Where-Object { $groups -contains $_ }).Count -gt 0 } | Select-Object Name, Precedence, ComplexityEnabled, MinPasswordAge, MinPasswordLength, PasswordHistoryCount); $psoError = $null } catch { $psos = @(); $psoError = $_.Exception.Message }',
  'ConvertTo-Json -Compress -Depth 4 -InputObject @{ default = $d; psos = $psos; psoError = $psoError }',
]);

/** AD's "password must meet complexity requirements": 3 of 4 categories, and not the account name. */
const COMPLEXITY_MIN_CLASSES = 3;

export class WindowsAdAccounts extends WindowsAccountStore {
  readonly kind = 'windows-ad' as const;
  readonly scope = 'domain' as const;

  constructor(run: CommandRunner) {
    super(
      run,
      {
        lookup: AD_LOOKUP_SCRIPT,
        create: AD_CREATE_SCRIPT,
        setPassword: AD_SET_PASSWORD_SCRIPT,
        ensureAdmin: AD_ENSURE_ADMIN_SCRIPT,
        verify: AD_VERIFY_SCRIPT,
        disable: AD_DISABLE_SCRIPT,
        remove: AD_REMOVE_SCRIPT,
      },
      { where: ' in the domain', makeAdmin: (name) => `add ${name} to Domain Admins` },
    );
  }

  async readPolicy(): Promise<EndpointPasswordPolicy> {
    return policyFromAdPolicies(await runAccountScript(this.run, 'read the domain password policy', AD_POLICY_SCRIPT, {}));
  }
}

interface AdPolicy {
  Name?: unknown;
  Precedence?: unknown;
  ComplexityEnabled?: unknown;
  MinPasswordAge?: unknown;
  MinPasswordLength?: unknown;
  PasswordHistoryCount?: unknown;
}

/** The PSO with the lowest Precedence wins over the default domain policy (AD's resultant-policy rule). */
export function policyFromAdPolicies(r: Record<string, unknown>): EndpointPasswordPolicy {
  const psos = (asArray(r.psos) as AdPolicy[]).filter((p) => typeof p.Precedence === 'number');
  psos.sort((a, b) => (a.Precedence as number) - (b.Precedence as number));
  const winner = psos[0];
  const policy = winner ?? (r.default as AdPolicy | undefined);
  if (!policy || typeof policy !== 'object') throw new AccountBackendError('tool_failed', 'Get-ADDefaultDomainPasswordPolicy returned nothing');
  const from = winner ? `fine-grained password policy ${text(winner.Name)} (precedence ${winner.Precedence})` : 'Get-ADDefaultDomainPasswordPolicy';
  const sources: string[] = [];
  const count = (key: keyof AdPolicy): number => {
    const value = policy[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw new AccountBackendError('tool_failed', `${from}: unexpected ${key} ${JSON.stringify(value)}`);
    }
    sources.push(`${from}: ${key} ${value}`);
    return value;
  };
  if (typeof policy.ComplexityEnabled !== 'boolean') throw new AccountBackendError('tool_failed', `${from}: no ComplexityEnabled`);
  sources.push(`${from}: ComplexityEnabled ${policy.ComplexityEnabled}`);
  const minAgeDays = timeSpanDays(policy.MinPasswordAge);
  if (minAgeDays === null) throw new AccountBackendError('tool_failed', `${from}: unexpected MinPasswordAge ${JSON.stringify(policy.MinPasswordAge)}`);
  sources.push(`${from}: MinPasswordAge ${minAgeDays} days`);
  const minLength = count('MinPasswordLength');
  const historyLength = count('PasswordHistoryCount');
  if (!winner && text(r.psoError)) sources.push(`fine-grained password policies not read: ${text(r.psoError)}`);
  return {
    minAgeDays,
    minLength,
    maxLength: null,
    minClasses: policy.ComplexityEnabled ? COMPLEXITY_MIN_CLASSES : 1,
    requiredClasses: [],
    rejectsAccountName: policy.ComplexityEnabled,
    historyLength,
    sources,
  };
}

const TICKS_PER_DAY = 864_000_000_000;

/** ConvertTo-Json writes a TimeSpan as an object ({"Ticks":864000000000,"Days":1,...,"TotalDays":1}); a string
 * "1.00:00:00" (d.hh:mm:ss) is accepted too. Fractions of a day stay fractions: 1 hour is not "0 days". */
export function timeSpanDays(value: unknown): number | null {
  if (typeof value === 'object' && value !== null) {
    const { Ticks, TotalDays } = value as { Ticks?: unknown; TotalDays?: unknown };
    if (typeof Ticks === 'number' && Ticks >= 0) return Ticks / TICKS_PER_DAY;
    if (typeof TotalDays === 'number' && TotalDays >= 0) return TotalDays;
    return null;
  }
  if (typeof value === 'string') {
    const m = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.\d+)?$/.exec(value.trim());
    if (!m) return null;
    return Number(m[1] ?? 0) + (Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4])) / 86_400;
  }
  return null;
}
