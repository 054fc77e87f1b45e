import type { CommandRunner } from '../platform/run-command.ts';
import {
  AccountBackendError,
  STEWARD_MARKER,
  type AccountBackend,
  type AccountState,
  type EndpointPasswordPolicy,
  type ManagedAccountSpec,
  type ServiceAccountUse,
} from './account-backend.ts';
import { accountFields, checkWindowsName, parseServiceAccounts, runAccountScript, SERVICE_ACCOUNTS_SCRIPT } from './windows-powershell.ts';

/** The PowerShell script of each operation (parameters and password on stdin, see windows-powershell.ts). */
export interface WindowsAccountScripts {
  lookup: string;
  create: string;
  setPassword: string;
  ensureAdmin: string;
  verify: string;
  disable: string;
  remove: string;
}

/**
 * What local Windows accounts and Active Directory accounts share: every operation is one script run the same way,
 * only the scripts, the policy source and a few words of the messages differ (windows-local.ts, windows-ad.ts).
 */
export abstract class WindowsAccountStore implements AccountBackend {
  abstract readonly kind: 'windows-local' | 'windows-ad';
  abstract readonly scope: 'local' | 'domain';

  constructor(
    protected readonly run: CommandRunner,
    private readonly scripts: WindowsAccountScripts,
    private readonly words: { where: string; makeAdmin: (name: string) => string },
  ) {}

  abstract readPolicy(): Promise<EndpointPasswordPolicy>;

  async lookup(name: string): Promise<AccountState | null> {
    checkWindowsName(name);
    const what = `look up ${name}${this.words.where}`;
    const r = await runAccountScript(this.run, what, this.scripts.lookup, { name });
    if (r.found === false) return null;
    return toState(accountFields(what, r));
  }

  async create(spec: ManagedAccountSpec, password: string): Promise<AccountState> {
    checkWindowsName(spec.name);
    const what = `create ${spec.name}${this.words.where}`;
    const params = { name: spec.name, fullName: spec.fullName, description: STEWARD_MARKER };
    return toState(accountFields(what, await runAccountScript(this.run, what, this.scripts.create, params, password)));
  }

  async setPassword(name: string, password: string): Promise<void> {
    checkWindowsName(name);
    await runAccountScript(this.run, `set the password of ${name}`, this.scripts.setPassword, { name }, password);
  }

  async ensureAdmin(name: string): Promise<void> {
    checkWindowsName(name);
    await runAccountScript(this.run, this.words.makeAdmin(name), this.scripts.ensureAdmin, { name });
  }

  async verifyPassword(name: string, password: string): Promise<boolean> {
    checkWindowsName(name);
    const what = `verify the password of ${name}`;
    const r = await runAccountScript(this.run, what, this.scripts.verify, { name }, password);
    if (typeof r.valid !== 'boolean') throw new AccountBackendError('tool_failed', `${what}: no verdict from ValidateCredentials`);
    return r.valid;
  }

  async disable(name: string): Promise<void> {
    checkWindowsName(name);
    await runAccountScript(this.run, `disable ${name}`, this.scripts.disable, { name });
  }

  async remove(name: string): Promise<void> {
    checkWindowsName(name);
    await runAccountScript(this.run, `remove ${name}`, this.scripts.remove, { name });
  }

  async serviceAccounts(): Promise<ServiceAccountUse[]> {
    return parseServiceAccounts(await runAccountScript(this.run, 'list service accounts', SERVICE_ACCOUNTS_SCRIPT, {}, undefined, 120_000));
  }
}

function toState(f: ReturnType<typeof accountFields>): AccountState {
  return {
    name: f.name,
    id: f.sid,
    fullName: f.fullName,
    managedBySteward: f.description.includes(STEWARD_MARKER),
    admin: f.admin,
    enabled: f.enabled,
  };
}
