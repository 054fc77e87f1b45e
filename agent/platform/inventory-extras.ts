import type { OsPlatform } from '../../protocol/inventory.ts';
import { LinuxInventoryExtras } from '../inventory/extras-linux.ts';
import { MacosInventoryExtras } from '../inventory/extras-macos.ts';
import { WindowsInventoryExtras } from '../inventory/extras-windows.ts';
import type { InventoryExtras } from '../inventory/extras.ts';
import { runCommand } from './run-command.ts';

/**
 * The one place the inventory code looks at the operating system. Everything else receives an InventoryExtras and
 * never branches on the platform itself.
 */
export const OS_PLATFORM_BY_NODE_PLATFORM: Partial<Record<NodeJS.Platform, OsPlatform>> = {
  win32: 'windows',
  darwin: 'macos',
  linux: 'linux',
};

export class UnsupportedPlatformError extends Error {
  constructor(readonly nodePlatform: string) {
    super(`Steward's agent does not support the "${nodePlatform}" platform (supported: linux, windows, macos)`);
    this.name = 'UnsupportedPlatformError';
  }
}

/** Steward's name for the platform we run on; throws on one we do not support instead of guessing. */
export function thisOsPlatform(nodePlatform: string = process.platform): OsPlatform {
  const platform = OS_PLATFORM_BY_NODE_PLATFORM[nodePlatform as NodeJS.Platform];
  if (!platform) throw new UnsupportedPlatformError(nodePlatform);
  return platform;
}

export function inventoryExtrasForThisPlatform(nodePlatform: string = process.platform): InventoryExtras {
  switch (thisOsPlatform(nodePlatform)) {
    case 'linux':
      // The same smb.conf the domain account store uses ($STEWARD_AGENT_SMB_CONF): a DC is detected where it is managed.
      return new LinuxInventoryExtras(runCommand, { smbConf: process.env.STEWARD_AGENT_SMB_CONF || undefined });
    case 'windows':
      return new WindowsInventoryExtras(runCommand);
    case 'macos':
      return new MacosInventoryExtras(runCommand);
  }
}
