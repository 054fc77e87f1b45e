import type { DomainRole, Inventory, MachineKind, OsPlatform } from '../../protocol/inventory.ts';

/**
 * The per-OS parts of an inventory that systeminformation does not do well. One implementation per OS
 * (extras-linux.ts, extras-windows.ts, extras-macos.ts), chosen once by agent/platform/inventory-extras.ts.
 *
 * Every method either returns what it found or throws: "the tool is missing" or "the output did not parse" is an
 * error the collector records as a warning, never a silently empty list that would look like "nothing installed".
 */
export type SoftwareEntry = Inventory['software'][number];
export type LocalAccount = Inventory['localAccounts'][number];
export type LoggedInUser = Inventory['loggedInUsers'][number];

export interface DomainMembership {
  role: DomainRole;
  /** DNS name of the domain (or realm) for member and domain_controller; null for standalone. */
  domain: string | null;
}

export interface InventoryExtras {
  readonly platform: OsPlatform;
  fqdn(): Promise<string | null>;
  software(): Promise<SoftwareEntry[]>;
  localAccounts(): Promise<LocalAccount[]>;
  loggedInUsers(): Promise<LoggedInUser[]>;
  machineKind(): Promise<MachineKind>;
  domainRole(): Promise<DomainMembership>;
  /**
   * OS build when systeminformation's value is missing or less precise (Windows: Win32_OperatingSystem.BuildNumber).
   * Absent means "use systeminformation's".
   */
  build?(): Promise<string | null>;
}
