import { describe, expect, it } from 'vitest';
import { collectInventory, type InventoryWarning } from '../../../agent/inventory/collect.ts';
import type { InventoryExtras } from '../../../agent/inventory/extras.ts';
import { fitToSchema } from '../../../agent/inventory/fit-to-schema.ts';
import { InventorySchema } from '../../../protocol/inventory.ts';
import { compile } from '../../../protocol/validate.ts';

// systeminformation runs for real (this Linux machine); the per-OS extras are replaced to exercise the collector.
const validator = compile(InventorySchema);

function fakeExtras(overrides: Partial<InventoryExtras> = {}): InventoryExtras {
  return {
    platform: 'linux',
    fqdn: async () => 'host.example.com',
    software: async () => [{ name: 'dpkg', version: '1.21.22', publisher: 'Dpkg Developers', source: 'dpkg' }],
    localAccounts: async () => [{ name: 'root', fullName: 'root', uid: '0', isAdmin: true, disabled: true }],
    loggedInUsers: async () => [],
    machineKind: async () => 'server',
    domainRole: async () => ({ role: 'member', domain: 'corp.example.com' }),
    ...overrides,
  };
}

describe('collectInventory', () => {
  it('combines systeminformation with the extras into a valid document', async () => {
    const inventory = await collectInventory({ agentVersion: '1.2.3', extras: fakeExtras() });
    expect(validator.check(inventory)).toBe(true);
    expect(inventory).toMatchObject({
      agentVersion: '1.2.3',
      fqdn: 'host.example.com',
      kind: 'server',
      kindSource: 'detected',
      domainRole: 'member',
      domain: 'corp.example.com',
      os: { platform: 'linux' },
    });
    expect(inventory.software.map((s) => s.name)).toEqual(['dpkg']);
  });

  it('lets the configured kind win without asking the extras', async () => {
    let asked = false;
    const extras = fakeExtras({ machineKind: async () => ((asked = true), 'server') });
    const inventory = await collectInventory({ agentVersion: '1', kindOverride: 'desktop', extras });
    expect(inventory.kind).toBe('desktop');
    expect(inventory.kindSource).toBe('config');
    expect(asked).toBe(false);
  });

  it('turns each failing part into an empty value plus a warning, and keeps the rest', async () => {
    const warnings: InventoryWarning[] = [];
    const extras = fakeExtras({
      software: async () => {
        throw new Error('no package database readable');
      },
      fqdn: async () => {
        throw new Error('hostname: not found');
      },
      machineKind: async () => {
        throw new Error('systemctl exploded');
      },
      domainRole: async () => {
        throw new Error('testparm timed out');
      },
    });
    const inventory = await collectInventory({ agentVersion: '1', extras, onWarning: (w) => warnings.push(w) });
    expect(validator.check(inventory)).toBe(true);
    expect(inventory.software).toEqual([]);
    expect(inventory.fqdn).toBeNull();
    expect(inventory.kind).toBe('desktop');
    expect(inventory.domainRole).toBe('standalone');
    expect(inventory.localAccounts).toHaveLength(1);
    expect(warnings.map((w) => w.part).sort()).toEqual(['domainRole', 'fqdn', 'machineKind', 'software']);
    expect(warnings.find((w) => w.part === 'software')?.message).toBe('no package database readable');
  });

  it('fits what the OS hands back to the schema: trims, truncates, caps lists, empty strings become null', async () => {
    const extras = fakeExtras({
      fqdn: async () => '   ',
      software: async () =>
        Array.from({ length: 20_005 }, (_, i) => ({
          name: i === 0 ? `  ${'x'.repeat(600)}  ` : `pkg-${i}`,
          version: i === 0 ? '' : '1.0',
          publisher: null,
          source: 'dpkg' as const,
        })),
      build: async () => '  22631.4460 ',
    });
    const inventory = await collectInventory({ agentVersion: '1', extras });
    expect(inventory.fqdn).toBeNull();
    expect(inventory.software).toHaveLength(20_000);
    expect(inventory.software[0].name).toBe('x'.repeat(512));
    expect(inventory.software[0].version).toBeNull();
    expect(inventory.os.build).toBe('22631.4460');
  });
});

describe('fitToSchema', () => {
  it('never cuts a surrogate pair in half', () => {
    const name = `${'a'.repeat(511)}😀`; // the emoji is two UTF-16 units at positions 511-512
    const fitted = fitToSchema(InventorySchema.properties.software, [
      { name, version: null, publisher: null, source: 'dpkg' },
    ]);
    expect(fitted[0].name).toBe('a'.repeat(511));
  });

  it('clamps numbers to the schema minimum and rounds integers', () => {
    const cpu = fitToSchema(InventorySchema.properties.cpu, {
      manufacturer: 'AMD',
      brand: '',
      cores: 3.6,
      physicalCores: -1,
      speedGHz: Number.NaN,
    });
    expect(cpu).toEqual({ manufacturer: 'AMD', brand: null, cores: 4, physicalCores: 0, speedGHz: null });
  });
});
