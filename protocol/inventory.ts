import { createHash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';

/**
 * The inventory document an agent reports. Every field is always present (null or [] when the endpoint does not
 * say), so the server and the console never guess between "missing" and "unknown".
 */
const Str = (maxLength = 1024) => Type.String({ maxLength });
const NullableStr = (maxLength = 1024) => Type.Union([Type.String({ maxLength }), Type.Null()]);
const Bytes = Type.Integer({ minimum: 0 });

export const OsPlatform = Type.Union([Type.Literal('linux'), Type.Literal('windows'), Type.Literal('macos')]);
export type OsPlatform = Static<typeof OsPlatform>;

export const MachineKind = Type.Union([Type.Literal('desktop'), Type.Literal('server')]);
export type MachineKind = Static<typeof MachineKind>;

export const DomainRole = Type.Union([
  Type.Literal('standalone'),
  Type.Literal('member'),
  Type.Literal('domain_controller'),
]);
export type DomainRole = Static<typeof DomainRole>;

export const InventorySchema = Type.Object(
  {
    collectedAt: Type.String({ format: 'date-time', maxLength: 40 }),
    agentVersion: Str(64),
    hostname: Str(255),
    fqdn: NullableStr(255),
    os: Type.Object({
      platform: OsPlatform,
      distro: Str(255),
      release: Str(255),
      kernel: Str(255),
      arch: Str(64),
      build: NullableStr(255),
    }),
    hardware: Type.Object({
      manufacturer: NullableStr(255),
      model: NullableStr(255),
      serial: NullableStr(255),
    }),
    cpu: Type.Object({
      manufacturer: NullableStr(255),
      brand: NullableStr(255),
      cores: Type.Integer({ minimum: 0 }),
      physicalCores: Type.Integer({ minimum: 0 }),
      speedGHz: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
    }),
    memory: Type.Object({ totalBytes: Bytes }),
    disks: Type.Array(
      Type.Object({
        mount: Str(1024),
        fs: Str(255),
        type: NullableStr(64),
        sizeBytes: Bytes,
        usedBytes: Bytes,
      }),
      { maxItems: 512 },
    ),
    network: Type.Array(
      Type.Object({
        name: Str(255),
        mac: NullableStr(64),
        ipv4: Type.Array(Str(64), { maxItems: 64 }),
        ipv6: Type.Array(Str(128), { maxItems: 64 }),
      }),
      { maxItems: 256 },
    ),
    loggedInUsers: Type.Array(
      Type.Object({
        name: Str(255),
        terminal: NullableStr(255),
        host: NullableStr(255),
        since: NullableStr(64),
      }),
      { maxItems: 1024 },
    ),
    localAccounts: Type.Array(
      Type.Object({
        name: Str(255),
        fullName: NullableStr(255),
        uid: NullableStr(255),
        isAdmin: Type.Boolean(),
        disabled: Type.Union([Type.Boolean(), Type.Null()]),
      }),
      { maxItems: 10000 },
    ),
    software: Type.Array(
      Type.Object({
        name: Str(512),
        version: NullableStr(255),
        publisher: NullableStr(512),
        source: Type.Union([
          Type.Literal('dpkg'),
          Type.Literal('rpm'),
          Type.Literal('registry'),
          Type.Literal('applications'),
        ]),
      }),
      { maxItems: 20000 },
    ),
    kind: MachineKind,
    kindSource: Type.Union([Type.Literal('detected'), Type.Literal('config')]),
    domainRole: DomainRole,
    domain: NullableStr(255),
  },
  { additionalProperties: false },
);
export type Inventory = Static<typeof InventorySchema>;

const GiB = 1024 ** 3;

/**
 * Hash of the parts of an inventory that matter for change tracking: `collectedAt` is left out and disk usage is
 * rounded to whole GiB, so a busy log file does not count as a change. Both ends compute it the same way.
 */
export function inventoryHash(inventory: Inventory): string {
  const stable = {
    ...inventory,
    collectedAt: undefined,
    disks: inventory.disks.map((disk) => ({ ...disk, usedBytes: Math.round(disk.usedBytes / GiB) })),
  };
  return createHash('sha256').update(canonicalJson(stable)).digest('hex');
}

/** JSON with object keys sorted, so equal values always hash equal. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)));
    }
    return v;
  });
}
