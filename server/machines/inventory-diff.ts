import type { Inventory } from '../../protocol/inventory.ts';

/**
 * A compact record of what changed between two inventories: for lists, the items added and removed (by their
 * identity: name, mount, …) and the names of items whose details changed; for sections, the fields that changed.
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

function comparable(key: string, item: Record<string, unknown>): string {
  // Disk usage drifts constantly; only whole-GiB moves count as a change (as in inventoryHash).
  return JSON.stringify(key === 'disks' ? { ...item, usedBytes: Math.round(Number(item.usedBytes) / GiB) } : item);
}

export function diffInventory(before: Inventory | null, after: Inventory): InventoryChanges {
  const changes: InventoryChanges = {};
  const previous = (before ?? {}) as Record<string, unknown>;
  for (const [key, value] of Object.entries(after)) {
    if (IGNORED.has(key)) continue;
    const old = previous[key];
    const identity = IDENTITY[key];
    if (identity && Array.isArray(value)) {
      const oldItems = new Map((Array.isArray(old) ? old : []).map((i: Record<string, unknown>) => [identity(i), comparable(key, i)]));
      const newItems = new Map(value.map((i) => [identity(i as Record<string, unknown>), comparable(key, i as Record<string, unknown>)]));
      const added = [...newItems.keys()].filter((k) => !oldItems.has(k));
      const removed = [...oldItems.keys()].filter((k) => !newItems.has(k));
      const changed = [...newItems].filter(([k, v]) => oldItems.has(k) && oldItems.get(k) !== v).map(([k]) => k);
      if (added.length || removed.length || changed.length) changes[key] = { added, removed, changed };
    } else if (JSON.stringify(old) !== JSON.stringify(value)) {
      changes[key] = { from: old ?? null, to: value };
    }
  }
  return changes;
}
