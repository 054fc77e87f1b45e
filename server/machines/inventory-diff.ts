import { canonicalJson, type Inventory } from '../../protocol/inventory.ts';

/**
 * A compact record of what changed between two inventories: for lists, the items added and removed (by their
 * identity: name, mount, …) and the names of items whose details changed; for sections, the fields that changed.
 * Values are compared as canonical JSON: a document read back from jsonb has its keys in another order.
 */
export type InventoryChanges = Record<
  string,
  { from: unknown; to: unknown } | { added: string[]; removed: string[]; changed: string[] }
>;

const IDENTITY: Record<string, (item: Record<string, unknown>) => string> = {
  disks: (d) => String(d.mount),
  network: (n) => String(n.name),
  loggedInUsers: (u) => `${String(u.name)}@${String(u.terminal ?? '')}`,
  localAccounts: (a) => String(a.name),
  software: (s) => `${String(s.name)} (${String(s.source)})`,
};
const IGNORED = new Set(['collectedAt']);
const GiB = 1024 ** 3;

/**
 * Disk usage drifts all the time; it only counts as a change once it has moved by a whole GiB from what is stored.
 * Below that, the stored figure is kept, so a disk hovering near any boundary never writes a change.
 */
export function stabilizeDiskUsage(previous: Inventory | null, next: Inventory): Inventory {
  if (!previous) return next;
  const stored = new Map(previous.disks.map((d) => [d.mount, d]));
  const disks = next.disks.map((disk) => {
    const before = stored.get(disk.mount);
    const steady = before && before.sizeBytes === disk.sizeBytes && Math.abs(before.usedBytes - disk.usedBytes) < GiB;
    return steady ? { ...disk, usedBytes: before.usedBytes } : disk;
  });
  return { ...next, disks };
}

export function diffInventory(before: Inventory | null, after: Inventory): InventoryChanges {
  const changes: InventoryChanges = {};
  const previous = (before ?? {}) as Record<string, unknown>;
  for (const [key, value] of Object.entries(after)) {
    if (IGNORED.has(key)) continue;
    const old = previous[key];
    const identity = IDENTITY[key];
    if (identity && Array.isArray(value)) {
      const oldItems = new Map((Array.isArray(old) ? old : []).map((i: Record<string, unknown>) => [identity(i), canonicalJson(i)]));
      const newItems = new Map(value.map((i) => [identity(i as Record<string, unknown>), canonicalJson(i)]));
      const added = [...newItems.keys()].filter((k) => !oldItems.has(k));
      const removed = [...oldItems.keys()].filter((k) => !newItems.has(k));
      const changed = [...newItems].filter(([k, v]) => oldItems.has(k) && oldItems.get(k) !== v).map(([k]) => k);
      if (added.length || removed.length || changed.length) changes[key] = { added, removed, changed };
    } else if (canonicalJson(old ?? null) !== canonicalJson(value)) {
      changes[key] = { from: old ?? null, to: value };
    }
  }
  return changes;
}
