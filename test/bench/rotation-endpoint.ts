import pino from 'pino';
import type { AgentContext } from '../../agent/agent-context.ts';
import { runCommand } from '../../agent/commands/index.ts';
import { CredentialJobs } from '../../agent/credentials/credential-jobs.ts';
import { inventoryHash, type Inventory, type MachineKind, type OsPlatform } from '../../protocol/inventory.ts';
import { STEWARD_VERSION } from '../../protocol/version.ts';
import { MemoryAccounts } from './memory-accounts.ts';

/**
 * The endpoint behind a simulated agent of the rotation benchmark (loaded by sim-client-worker.ts when a `connect`
 * command carries an `endpoint`): an inventory to report, and the agent's real command dispatcher (`runCommand`)
 * over the real `CredentialJobs` on an in-memory account store. Per worker process it counts the commands answered
 * and, per machine, when inspect / prepare / apply arrived — the server's pace seen from the endpoints.
 */
export interface EndpointSpec {
  kind: MachineKind;
  platform: OsPlatform;
}

/** One machine's rotation as its agent saw it (ms, wall clock with sub-ms precision). */
interface Trace {
  inspectAt: number;
  prepareAt: number;
  applyAt: number;
}

/** What a worker hands back for a finished phase; `samples` are per machine, in ms. */
export interface EndpointReport {
  /** command → [answered ok, refused or failed] */
  commands: Record<string, [number, number]>;
  /** `command: code: message` → count (messages never carry passwords). */
  errors: Record<string, number>;
  /** Agent-side handling time per command (request in → response out), summed, ms. */
  handlingMs: Record<string, number>;
  /** inspect arrived → apply answered; inspect → prepare; prepare → apply (the server's work between, plus wire). */
  service: number[];
  inspectToPrepare: number[];
  prepareToApply: number[];
  /** Steward-managed, enabled admin accounts on the endpoints, and password sets in total (create counts as one). */
  managedAccounts: number;
  passwordSets: number;
  endpoints: number;
}

const log = pino({ level: 'silent' });
const now = () => performance.timeOrigin + performance.now();

let commands: Record<string, [number, number]> = {};
let errors: Record<string, number> = {};
let handlingMs: Record<string, number> = {};
let service: number[] = [];
let inspectToPrepare: number[] = [];
let prepareToApply: number[] = [];
/** Machines whose apply succeeded since the last report (the bench's progress figure). */
const appliedSince = new Set<string>();
const endpoints: SimEndpoint[] = [];

export function simulatedInventory(machineId: string, spec: EndpointSpec): Inventory {
  return {
    collectedAt: new Date().toISOString(),
    agentVersion: STEWARD_VERSION,
    hostname: `sim-${machineId}`,
    fqdn: null,
    os: { platform: spec.platform, distro: 'Simulated', release: '1', kernel: 'sim', arch: 'x64', build: null },
    hardware: { manufacturer: null, model: null, serial: null },
    cpu: { manufacturer: null, brand: null, cores: 2, physicalCores: 2, speedGHz: null },
    memory: { totalBytes: 8 * 1024 ** 3 },
    disks: [],
    network: [],
    loggedInUsers: [],
    localAccounts: [],
    software: [],
    kind: spec.kind,
    kindSource: 'config',
    domainRole: 'standalone',
    domain: null,
  };
}

export class SimEndpoint {
  readonly accounts = new MemoryAccounts();
  readonly inventory: { hash: string; document: Inventory };
  private readonly ctx: AgentContext;
  private trace: Partial<Trace> = {};

  constructor(
    readonly machineId: string,
    serverPublicKey: string,
    spec: EndpointSpec,
  ) {
    const document = simulatedInventory(machineId, spec);
    this.inventory = { hash: inventoryHash(document), document };
    const credentials = new CredentialJobs({ local: this.accounts, domain: null, missing: { domain: 'the simulated endpoint is in no domain' } }, { machineId, serverPublicKey, log });
    this.ctx = { log, collectInventory: async () => document, sessions: null, credentials };
    endpoints.push(this);
  }

  /** The real agent's dispatcher; records what arrived when. */
  readonly answer = async (command: { name: string; params: unknown }): Promise<unknown> => {
    const start = now();
    if (command.name === 'credentials.inspect') this.trace = { inspectAt: start };
    if (command.name === 'credentials.prepare') this.trace.prepareAt = start;
    if (command.name === 'credentials.apply') this.trace.applyAt = start;
    const count = (commands[command.name] ??= [0, 0]);
    try {
      const result = await runCommand(this.ctx, command);
      count[0]++;
      if (command.name === 'credentials.apply') this.applied();
      return result;
    } catch (error) {
      count[1]++;
      const e = error as Error & { code?: string };
      const key = `${command.name}: ${e.code ?? 'failed'}: ${e.message.slice(0, 100)}`;
      errors[key] = (errors[key] ?? 0) + 1;
      throw error;
    } finally {
      handlingMs[command.name] = (handlingMs[command.name] ?? 0) + (now() - start);
    }
  };

  private applied(): void {
    const t = this.trace;
    if (t.inspectAt && t.prepareAt && t.applyAt) {
      service.push(now() - t.inspectAt);
      inspectToPrepare.push(t.prepareAt - t.inspectAt);
      prepareToApply.push(t.applyAt - t.prepareAt);
    }
    this.trace = {};
    appliedSince.add(this.machineId);
  }
}

/** Cheap progress figures, sent with every progress message of the worker. */
export function endpointProgress(): { applied: number; commands: Record<string, [number, number]> } {
  return { applied: appliedSince.size, commands };
}

/** The phase's figures; every counter starts over (password sets and accounts are totals, not per phase). */
export function takeReport(): EndpointReport {
  let managedAccounts = 0;
  let passwordSets = 0;
  for (const endpoint of endpoints) {
    for (const account of endpoint.accounts.accounts.values()) {
      passwordSets += account.sets;
      if (account.state.managedBySteward && account.state.admin && account.state.enabled) managedAccounts++;
    }
  }
  const report: EndpointReport = {
    commands,
    errors,
    handlingMs,
    service,
    inspectToPrepare,
    prepareToApply,
    managedAccounts,
    passwordSets,
    endpoints: endpoints.length,
  };
  commands = {};
  errors = {};
  handlingMs = {};
  service = [];
  inspectToPrepare = [];
  prepareToApply = [];
  appliedSince.clear();
  return report;
}
