import os from 'node:os';
import { InventorySchema, type Inventory, type MachineKind } from '../../protocol/inventory.ts';
import { compile } from '../../protocol/validate.ts';
import { inventoryExtrasForThisPlatform } from '../platform/inventory-extras.ts';
import type { DomainMembership, InventoryExtras } from './extras.ts';
import { fitToSchema } from './fit-to-schema.ts';
import { cpuFacts, disks, hardwareFacts, memoryBytes, network, osFacts, osFallback } from './system-facts.ts';

/**
 * Builds the inventory document: systeminformation for the hardware and OS basics, the platform's InventoryExtras
 * for what it does poorly. Parts are collected concurrently and independently: a part that fails (tool missing,
 * output changed) becomes null / [] / a stated default and a warning, so one broken tool never costs the whole
 * report. The result is fitted to the schema's limits and validated before it leaves.
 */
export interface InventoryWarning {
  /** Which part failed: "software", "disks", "machineKind"... */
  part: string;
  message: string;
}

export interface CollectInventoryOptions {
  agentVersion: string;
  /** Kind from the agent config; wins over detection and is reported with kindSource "config". */
  kindOverride?: MachineKind;
  /** Defaults to the extras for the platform we run on. */
  extras?: InventoryExtras;
  onWarning?: (warning: InventoryWarning) => void;
}

const validator = compile(InventorySchema);

/**
 * When detection fails the schema still needs a kind and a role. "desktop" and "standalone" are the values that
 * claim least: no domain, and the kind an operator is most likely to notice and override.
 */
const KIND_WHEN_UNKNOWN: MachineKind = 'desktop';
const ROLE_WHEN_UNKNOWN: DomainMembership = { role: 'standalone', domain: null };

export async function collectInventory(opts: CollectInventoryOptions): Promise<Inventory> {
  const extras = opts.extras ?? inventoryExtrasForThisPlatform();
  const collectedAt = new Date().toISOString();

  const attempt = async <T>(part: string, fn: () => Promise<T>, fallback: T): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      opts.onWarning?.({ part, message: err instanceof Error ? err.message : String(err) });
      return fallback;
    }
  };

  const [osInfo, build, hardware, cpu, memory, diskList, nics, fqdn, loggedInUsers, localAccounts, software, kind, domain] =
    await Promise.all([
      attempt('os', osFacts, osFallback()),
      extras.build ? attempt('build', () => extras.build!(), null) : Promise.resolve(undefined),
      attempt('hardware', hardwareFacts, { manufacturer: null, model: null, serial: null }),
      attempt('cpu', cpuFacts, { manufacturer: null, brand: null, cores: 0, physicalCores: 0, speedGHz: null }),
      attempt('memory', memoryBytes, os.totalmem()),
      attempt('disks', disks, []),
      attempt('network', network, []),
      attempt('fqdn', () => extras.fqdn(), null),
      attempt('loggedInUsers', () => extras.loggedInUsers(), []),
      attempt('localAccounts', () => extras.localAccounts(), []),
      attempt('software', () => extras.software(), []),
      opts.kindOverride ? Promise.resolve(opts.kindOverride) : attempt('machineKind', () => extras.machineKind(), KIND_WHEN_UNKNOWN),
      attempt('domainRole', () => extras.domainRole(), ROLE_WHEN_UNKNOWN),
    ]);

  const draft = {
    collectedAt,
    agentVersion: opts.agentVersion,
    hostname: os.hostname(),
    fqdn,
    // The extras' own build wins when it has one (more precise); otherwise systeminformation's.
    os: { ...osInfo, platform: extras.platform, build: build ?? osInfo.build },
    hardware,
    cpu,
    memory: { totalBytes: memory },
    disks: diskList,
    network: nics,
    loggedInUsers,
    localAccounts,
    software,
    kind,
    kindSource: opts.kindOverride ? 'config' : 'detected',
    domainRole: domain.role,
    domain: domain.domain,
  };
  return validator.parse(fitToSchema(InventorySchema, draft));
}
