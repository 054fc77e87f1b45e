import { timingSafeEqual } from 'node:crypto';
import {
  AccountBackendError,
  type AccountBackend,
  type AccountState,
  type EndpointPasswordPolicy,
  type ManagedAccountSpec,
  type ServiceAccountUse,
} from '../../agent/accounts/account-backend.ts';

/**
 * An in-memory account store for the rotation benchmark's simulated endpoints: the `AccountBackend` the real
 * `CredentialJobs` drives, with no OS behind it, so ten thousand endpoints fit in three processes. It behaves like a
 * store, not like a stub: it refuses what a real one refuses (an existing name on create, a missing account, a
 * password its own policy or history rejects — checked here independently of the agent's generator) and
 * `verifyPassword` compares against what was actually stored. Never used outside test/bench/.
 */
export interface MemoryAccount {
  state: AccountState;
  password: string;
  /** Earlier passwords, newest first, for the history rule. */
  history: string[];
  /** How many times a password was set (create counts as one). */
  sets: number;
}

/** The policy of the simulated endpoint: rotation possible (minimum age 0), 12 characters, 3 of 4 classes. */
export const MEMORY_POLICY: EndpointPasswordPolicy = {
  minAgeDays: 0,
  minLength: 12,
  maxLength: null,
  minClasses: 3,
  requiredClasses: [],
  rejectsAccountName: true,
  historyLength: 5,
  sources: ['in-memory benchmark store: minimum age 0, length 12, complexity 3 classes, history 5'],
};

const CLASSES: [string, RegExp][] = [
  ['lower', /[a-z]/],
  ['upper', /[A-Z]/],
  ['digit', /[0-9]/],
  ['symbol', /[^A-Za-z0-9]/],
];

export class MemoryAccounts implements AccountBackend {
  readonly kind = 'linux-local' as const;
  readonly scope = 'local' as const;
  readonly accounts = new Map<string, MemoryAccount>();
  private nextUid = 1001;

  constructor(
    private readonly policy: EndpointPasswordPolicy = MEMORY_POLICY,
    private readonly services: ServiceAccountUse[] = [],
  ) {}

  async readPolicy(): Promise<EndpointPasswordPolicy> {
    return this.policy;
  }

  async lookup(name: string): Promise<AccountState | null> {
    const account = this.accounts.get(name);
    return account ? { ...account.state } : null;
  }

  /** An account Steward did not create (a benchmark may seed one to see the endpoint refused). */
  seedForeign(name: string, password: string): void {
    this.accounts.set(name, { state: this.newState(name, 'local user', false), password, history: [], sets: 1 });
  }

  async create(spec: ManagedAccountSpec, password: string): Promise<AccountState> {
    if (this.accounts.has(spec.name)) throw new AccountBackendError('exists', `the account '${spec.name}' already exists`);
    this.refuseWeak(spec.name, password, []);
    const account: MemoryAccount = { state: this.newState(spec.name, spec.fullName, true), password, history: [], sets: 1 };
    this.accounts.set(spec.name, account);
    return { ...account.state };
  }

  async setPassword(name: string, password: string): Promise<void> {
    const account = this.need(name);
    this.refuseWeak(name, password, [account.password, ...account.history]);
    account.history = [account.password, ...account.history].slice(0, this.policy.historyLength);
    account.password = password;
    account.sets++;
  }

  async ensureAdmin(name: string): Promise<void> {
    this.need(name).state.admin = true;
  }

  async verifyPassword(name: string, password: string): Promise<boolean> {
    const account = this.accounts.get(name);
    if (!account || !account.state.enabled) return false;
    const a = Buffer.from(account.password, 'utf8');
    const b = Buffer.from(password, 'utf8');
    return a.length === b.length && timingSafeEqual(a, b);
  }

  async disable(name: string): Promise<void> {
    this.need(name).state.enabled = false;
  }

  async remove(name: string): Promise<void> {
    this.need(name);
    this.accounts.delete(name);
  }

  async serviceAccounts(): Promise<ServiceAccountUse[]> {
    return this.services;
  }

  private newState(name: string, fullName: string, managed: boolean): AccountState {
    // The marker lives in the comment field of a real store; here managedBySteward is that field's reading.
    return { name, id: String(this.nextUid++), fullName, managedBySteward: managed, admin: managed, enabled: true };
  }

  private need(name: string): MemoryAccount {
    const account = this.accounts.get(name);
    if (!account) throw new AccountBackendError('not_found', `no account named '${name}'`);
    return account;
  }

  /** The store's own check, as chpasswd/pam_pwquality or a domain controller would do it. Never echoes the password. */
  private refuseWeak(name: string, password: string, previous: string[]): void {
    const length = [...password].length;
    const classes = CLASSES.filter(([, re]) => re.test(password)).length;
    const problems: string[] = [];
    if (length < this.policy.minLength) problems.push(`shorter than ${this.policy.minLength} characters`);
    if (this.policy.maxLength !== null && length > this.policy.maxLength) problems.push(`longer than ${this.policy.maxLength} characters`);
    if (classes < this.policy.minClasses) problems.push(`fewer than ${this.policy.minClasses} character classes`);
    if (this.policy.rejectsAccountName && name.length >= 3 && password.toLowerCase().includes(name.toLowerCase())) problems.push('contains the account name');
    if (previous.slice(0, this.policy.historyLength + 1).includes(password)) problems.push('reuses a remembered password');
    if (problems.length) throw new AccountBackendError('policy_refused', `the password was refused: ${problems.join(', ')}`);
  }
}
