/**
 * The one interface every OS's account store is driven through (Teleport's HostUsersBackend idea): the rotation
 * logic in `agent/credentials/` never knows whether it talks to shadow tools, samba-tool, PowerShell or dscl.
 * `agent/platform/` picks the implementation once at start-up. Passwords only ever travel to a child process on its
 * stdin (or through an API); where an OS tool offers no such way, its backend says so in a comment and the README.
 */

export type AccountBackendKind = 'linux-local' | 'samba-ad' | 'windows-local' | 'windows-ad' | 'macos-local';

export type CharacterClass = 'lower' | 'upper' | 'digit' | 'symbol';

/** The endpoint's password rules as the OS states them; qualification and the password generator both read it. */
export interface EndpointPasswordPolicy {
  /** Days before a password may be changed again. Rotation requires 0. */
  minAgeDays: number;
  /** Shortest password the OS accepts. */
  minLength: number;
  /** Longest the OS accepts (Windows/AD: none below 256; macOS pwpolicy may cap it); null = no cap. */
  maxLength: number | null;
  /** How many distinct character classes a password needs (Windows/AD complexity = 3, pwquality minclass). */
  minClasses: number;
  /** Classes that must each appear (pwquality's negative dcredit/ucredit/lcredit/ocredit). */
  requiredClasses: CharacterClass[];
  /** The password may not contain the account name (Windows/AD complexity). */
  rejectsAccountName: boolean;
  /** Remembered previous passwords the OS refuses to reuse. */
  historyLength: number;
  /** Where the values came from, e.g. "login.defs PASS_MIN_DAYS=0", for the qualification explanation. */
  sources: string[];
}

/** Who the account is: the reserved name, the full name shown on the endpoint, local or domain. */
export interface ManagedAccountSpec {
  name: string;
  fullName: string;
}

export interface AccountState {
  name: string;
  /** The OS's own id: uid on Linux/macOS, SID on Windows/AD. */
  id: string;
  fullName: string;
  /** Carries Steward's marker. An account with a reserved name but without the marker is not ours: Not Qualified. */
  managedBySteward: boolean;
  /** Holds administrator rights (sudo/wheel, Administrators, admin, Domain Admins). */
  admin: boolean;
  enabled: boolean;
}

/** An account some service, scheduled task, systemd unit, cron table or launchd job runs as. */
export interface ServiceAccountUse {
  account: string;
  kind: 'service' | 'scheduled_task' | 'systemd_unit' | 'cron' | 'launchd_job';
  /** The service / task / unit / job name. */
  name: string;
}

export interface AccountBackend {
  readonly kind: AccountBackendKind;
  readonly scope: 'local' | 'domain';
  readPolicy(): Promise<EndpointPasswordPolicy>;
  /** null when no such account exists. */
  lookup(name: string): Promise<AccountState | null>;
  /** Creates the account with Steward's marker and this password, and gives it admin rights. Refuses if it exists. */
  create(spec: ManagedAccountSpec, password: string): Promise<AccountState>;
  setPassword(name: string, password: string): Promise<void>;
  /** Adds the account to the admin group when it is missing from it (a local admin removed it, say). */
  ensureAdmin(name: string): Promise<void>;
  /** Whether this password opens the account, checked against the store itself (hash or a real logon check). */
  verifyPassword(name: string, password: string): Promise<boolean>;
  disable(name: string): Promise<void>;
  remove(name: string): Promise<void>;
  /** Accounts that services / tasks / units / jobs run as: a name in this list must not be taken over. */
  serviceAccounts(): Promise<ServiceAccountUse[]>;
}

/** Put in the account's description / comment / GECOS "other" field, so a reinstalled agent still knows its own. */
export const STEWARD_MARKER = 'Managed by Steward';

export type AccountErrorCode = 'exists' | 'not_found' | 'policy_refused' | 'tool_missing' | 'tool_failed' | 'unsupported';

/** A failure the rotation logic can report as a reason. Messages never contain a password. */
export class AccountBackendError extends Error {
  constructor(
    readonly code: AccountErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AccountBackendError';
  }
}
