import { describe, expect, it } from 'vitest';
import { LinuxInventoryExtras } from '../../../agent/inventory/extras-linux.ts';
import { MacosInventoryExtras } from '../../../agent/inventory/extras-macos.ts';
import { WindowsInventoryExtras } from '../../../agent/inventory/extras-windows.ts';
import {
  UnsupportedPlatformError,
  inventoryExtrasForThisPlatform,
  thisOsPlatform,
} from '../../../agent/platform/inventory-extras.ts';

describe('platform selection', () => {
  it("maps Node's platform names to Steward's", () => {
    expect(thisOsPlatform('win32')).toBe('windows');
    expect(thisOsPlatform('darwin')).toBe('macos');
    expect(thisOsPlatform('linux')).toBe('linux');
  });

  it('builds the matching extras', () => {
    expect(inventoryExtrasForThisPlatform('linux')).toBeInstanceOf(LinuxInventoryExtras);
    expect(inventoryExtrasForThisPlatform('win32')).toBeInstanceOf(WindowsInventoryExtras);
    expect(inventoryExtrasForThisPlatform('darwin')).toBeInstanceOf(MacosInventoryExtras);
    expect(inventoryExtrasForThisPlatform('darwin').platform).toBe('macos');
  });

  it('throws a clear error on an unsupported platform instead of returning empty extras', () => {
    for (const platform of ['freebsd', 'aix', 'sunos', 'android']) {
      expect(() => inventoryExtrasForThisPlatform(platform)).toThrow(UnsupportedPlatformError);
      expect(() => inventoryExtrasForThisPlatform(platform)).toThrow(`does not support the "${platform}" platform`);
    }
  });

  it('defaults to the platform we run on (Linux in this test environment)', () => {
    expect(thisOsPlatform()).toBe('linux');
    expect(inventoryExtrasForThisPlatform()).toBeInstanceOf(LinuxInventoryExtras);
  });
});
