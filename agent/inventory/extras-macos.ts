import { readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { MachineKind } from '../../protocol/inventory.ts';
import type { CommandRunner } from '../platform/run-command.ts';
import type { DomainMembership, InventoryExtras, LocalAccount, LoggedInUser, SoftwareEntry } from './extras.ts';
import { parseWhoOutput } from './who-output.ts';

export interface MacosExtrasOptions {
  /** Prefix for /Applications in the software fallback, so tests can use a fixture tree. */
  root?: string;
  /** Clock for `who` times, which carry no year. */
  now?: () => Date;
}

const C_LOCALE_ENV = { ...process.env, LC_ALL: 'C', LANG: 'C' };

/** macOS gives regular (human) accounts uids from 501; below 500 and "_name" accounts belong to the system. */
const FIRST_HUMAN_UID = 500;

export class MacosInventoryExtras implements InventoryExtras {
  readonly platform = 'macos' as const;

  constructor(
    private readonly run: CommandRunner,
    private readonly opts: MacosExtrasOptions = {},
  ) {}

  async fqdn(): Promise<string | null> {
    // HostName is only set when an admin (or a profile) set it; "not set" exits 1. hostname -f then gives the
    // name the resolver knows, which on most Macs is the Bonjour name (Mac.local).
    const scutil = await this.run('scutil', ['--get', 'HostName'], { timeoutMs: 5_000, env: C_LOCALE_ENV });
    if (scutil.code === 0 && scutil.stdout.trim()) return scutil.stdout.trim();
    const hostname = await this.run('hostname', ['-f'], { timeoutMs: 5_000, env: C_LOCALE_ENV });
    return (hostname.code === 0 && hostname.stdout.trim()) || os.hostname() || null;
  }

  async software(): Promise<SoftwareEntry[]> {
    // system_profiler walks the whole disk through Spotlight; a minute is not unusual on a full Mac.
    const profiler = await this.run('system_profiler', ['SPApplicationsDataType', '-json'], {
      timeoutMs: 180_000,
      env: C_LOCALE_ENV,
    });
    if (profiler.code === 0 && profiler.stdout.trim()) return parseSystemProfilerApps(profiler.stdout);
    return this.applicationsFolder();
  }

  async localAccounts(): Promise<LocalAccount[]> {
    const [ids, names, admins] = await Promise.all([
      this.dscl(['.', '-list', '/Users', 'UniqueID']),
      this.dscl(['.', '-list', '/Users', 'RealName']),
      this.dscl(['.', '-read', '/Groups/admin', 'GroupMembership']),
    ]);
    const realNames = parseDsclList(names);
    const adminSet = new Set(parseGroupMembership(admins));
    const accounts: LocalAccount[] = [];
    for (const [name, uid] of parseDsclList(ids)) {
      if (name.startsWith('_') || !(Number(uid) >= FIRST_HUMAN_UID)) continue;
      accounts.push({
        name,
        fullName: realNames.get(name) || null,
        uid,
        isAdmin: adminSet.has(name),
        // Disabled state lives in AuthenticationAuthority/pwpolicy, whose output Apple does not document: unknown.
        disabled: null,
      });
    }
    return accounts;
  }

  async loggedInUsers(): Promise<LoggedInUser[]> {
    const result = await this.run('who', [], { timeoutMs: 5_000, env: C_LOCALE_ENV });
    if (result.code !== 0) throw new Error(`who failed: ${result.stderr.trim() || 'no output'}`);
    return parseWhoOutput(result.stdout, this.opts.now?.() ?? new Date());
  }

  /** Apple discontinued macOS Server; a Mac used as a server is marked so in the agent config (kindOverride). */
  async machineKind(): Promise<MachineKind> {
    return 'desktop';
  }

  async domainRole(): Promise<DomainMembership> {
    // Prints nothing (exit 0) when the Mac is not bound to Active Directory.
    const result = await this.run('dsconfigad', ['-show'], { timeoutMs: 10_000, env: C_LOCALE_ENV });
    if (result.code !== 0) throw new Error(`dsconfigad -show failed: ${result.stderr.trim() || 'no output'}`);
    const domain = /^\s*Active Directory Domain\s*=\s*(.+?)\s*$/m.exec(result.stdout)?.[1];
    return domain ? { role: 'member', domain: domain.toLowerCase() } : { role: 'standalone', domain: null };
  }

  private async dscl(args: string[]): Promise<string> {
    const result = await this.run('dscl', args, { timeoutMs: 15_000, env: C_LOCALE_ENV });
    if (result.code !== 0) throw new Error(`dscl ${args.join(' ')} failed: ${result.stderr.trim() || 'no output'}`);
    return result.stdout;
  }

  /** Fallback when system_profiler fails: the .app bundles in /Applications, versions from their Info.plist. */
  private async applicationsFolder(): Promise<SoftwareEntry[]> {
    const dir = path.join(this.opts.root ?? '/', 'Applications');
    const apps = (await readdir(dir)).filter((entry) => entry.endsWith('.app')).sort();
    const entries: SoftwareEntry[] = [];
    for (const app of apps) {
      // `defaults read` takes the plist path without its extension and copes with every plist format.
      const plist = path.join(dir, app, 'Contents', 'Info');
      const result = await this.run('defaults', ['read', plist, 'CFBundleShortVersionString'], { timeoutMs: 5_000 });
      const version = result.code === 0 ? result.stdout.trim() || null : null;
      entries.push({ name: app.slice(0, -'.app'.length), version, publisher: null, source: 'applications' });
    }
    return entries;
  }
}

interface ProfilerApp {
  _name?: unknown;
  version?: unknown;
  obtained_from?: unknown;
  signed_by?: unknown;
}

export function parseSystemProfilerApps(json: string): SoftwareEntry[] {
  const parsed = JSON.parse(json) as { SPApplicationsDataType?: ProfilerApp[] };
  const apps = parsed.SPApplicationsDataType;
  if (!Array.isArray(apps)) throw new Error('system_profiler output has no SPApplicationsDataType array');
  return apps
    .filter((app) => typeof app._name === 'string' && app._name.trim())
    .map((app) => ({
      name: String(app._name).trim(),
      version: typeof app.version === 'string' && app.version.trim() ? app.version.trim() : null,
      publisher: publisherOf(app),
      source: 'applications' as const,
    }));
}

/**
 * system_profiler has no publisher field. Apple's own apps say obtained_from "apple"; others carry their signing
 * chain, whose leaf for Developer ID apps is "Developer ID Application: <Team Name> (<TEAMID>)".
 */
function publisherOf(app: ProfilerApp): string | null {
  if (app.obtained_from === 'apple') return 'Apple Inc.';
  const leaf = Array.isArray(app.signed_by) ? app.signed_by[0] : undefined;
  const team = typeof leaf === 'string' ? /^(?:Developer ID Application|Apple Distribution|Apple Development): (.+?)(?: \([A-Z0-9]+\))?$/.exec(leaf) : null;
  return team ? team[1] : null;
}

/** `dscl . -list /Users <Key>` prints "name<spaces>value" per record; records without the key print a bare name. */
export function parseDsclList(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^(\S+)(?:\s+(.*?))?\s*$/.exec(line);
    if (match) values.set(match[1], match[2] ?? '');
  }
  return values;
}

/** "GroupMembership: root alice bob" — or "No such key: GroupMembership" when the group is empty. */
export function parseGroupMembership(text: string): string[] {
  const match = /^GroupMembership:\s*(.*)$/m.exec(text);
  return match ? match[1].split(/\s+/).filter(Boolean) : [];
}
