import { lstat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { MachineKind } from '../../protocol/inventory.ts';
import type { CommandRunner } from '../platform/run-command.ts';
import type { DomainMembership, InventoryExtras, LocalAccount, LoggedInUser, SoftwareEntry } from './extras.ts';
import { readLinuxAccounts } from './linux-accounts.ts';
import { detectLinuxDomainRole } from './linux-domain-role.ts';
import { isGraphicalLogin, parseWhoOutput } from './who-output.ts';

export interface LinuxExtrasOptions {
  /** Prefix for every file read (etc/passwd, sssd.conf, display manager files, Samba's private dir). */
  root?: string;
  /** smb.conf to pass to testparm instead of Samba's default location. */
  smbConf?: string;
  /** Clock for `who` times without a year; tests pin it. */
  now?: () => Date;
}

/** C locale: stable month names and column layout from `who`, untranslated output from everything else. */
const C_LOCALE_ENV = { ...process.env, LC_ALL: 'C', LANG: 'C' };

/** Display managers whose presence means the machine boots into a graphical login. */
const DISPLAY_MANAGERS = ['gdm3', 'gdm', 'lightdm', 'sddm', 'lxdm', 'xdm', 'slim', 'greetd'];

export class LinuxInventoryExtras implements InventoryExtras {
  readonly platform = 'linux' as const;
  private readonly root: string;

  constructor(
    private readonly run: CommandRunner,
    private readonly opts: LinuxExtrasOptions = {},
  ) {
    this.root = opts.root ?? '/';
  }

  async fqdn(): Promise<string | null> {
    const result = await this.run('hostname', ['-f'], { timeoutMs: 5_000, env: C_LOCALE_ENV });
    const name = result.code === 0 ? result.stdout.trim() : '';
    return name || os.hostname() || null;
  }

  async software(): Promise<SoftwareEntry[]> {
    const dpkg = await this.run(
      'dpkg-query',
      ['-W', '-f=${db:Status-Abbrev}\\t${Package}\\t${Version}\\t${Maintainer}\\n'],
      { timeoutMs: 60_000, env: C_LOCALE_ENV },
    );
    if (dpkg.code === 0) return parseDpkg(dpkg.stdout);

    const rpm = await this.run(
      'rpm',
      ['-qa', '--queryformat', '%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\t%{VENDOR}\\n'],
      { timeoutMs: 60_000, env: C_LOCALE_ENV },
    );
    if (rpm.code === 0) return parseRpm(rpm.stdout);
    throw new Error(`no package database readable: dpkg-query: ${firstLine(dpkg.stderr)}; rpm: ${firstLine(rpm.stderr)}`);
  }

  localAccounts(): Promise<LocalAccount[]> {
    return readLinuxAccounts(this.root);
  }

  async loggedInUsers(): Promise<LoggedInUser[]> {
    const result = await this.run('who', [], { timeoutMs: 5_000, env: C_LOCALE_ENV });
    if (result.code !== 0) throw new Error(`who failed: ${firstLine(result.stderr)}`);
    return parseWhoOutput(result.stdout, this.opts.now?.() ?? new Date());
  }

  /**
   * Rule: desktop when someone is logged into an X11/Wayland session right now, or when a display manager is
   * installed and the boot target is not explicitly text-only; otherwise server.
   *
   * `systemctl get-default` alone cannot decide: systemd's stock default is graphical.target, which Debian and
   * Ubuntu keep even on minimal servers (it just reaches multi-user.target when no display manager exists). So
   * graphical.target counts only together with a display manager, and multi-user.target overrides an installed
   * but unused one. Admins who disagree set the kind in the agent config (kindSource "config").
   */
  async machineKind(): Promise<MachineKind> {
    const users = await this.loggedInUsers().catch(() => [] as LoggedInUser[]);
    if (users.some(isGraphicalLogin)) return 'desktop';
    if (!(await this.hasDisplayManager())) return 'server';
    const target = await this.run('systemctl', ['get-default'], { timeoutMs: 5_000, env: C_LOCALE_ENV });
    const textOnly = target.code === 0 && target.stdout.trim() === 'multi-user.target';
    return textOnly ? 'server' : 'desktop';
  }

  domainRole(): Promise<DomainMembership> {
    return detectLinuxDomainRole(this.run, { root: this.root, smbConf: this.opts.smbConf });
  }

  private async hasDisplayManager(): Promise<boolean> {
    // Debian, Ubuntu, Fedora and SUSE display manager packages all install the display-manager.service alias; the
    // binaries catch distributions that do not. lstat, so a fixture's dangling symlink still counts.
    const candidates = [
      'etc/systemd/system/display-manager.service',
      ...DISPLAY_MANAGERS.flatMap((dm) => [`usr/sbin/${dm}`, `usr/bin/${dm}`]),
    ];
    for (const candidate of candidates) {
      if (await lstat(path.join(this.root, candidate)).then(() => true, () => false)) return true;
    }
    return false;
  }
}

/** Lines of "status\tname\tversion\tmaintainer"; only packages dpkg considers installed ("ii", "hi", ...). */
export function parseDpkg(text: string): SoftwareEntry[] {
  const seen = new Set<string>();
  const entries: SoftwareEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [status, name, version, maintainer] = line.split('\t');
    // Removed-but-configured ("rc") packages are still listed by dpkg-query; they are not installed software.
    if (status?.[1] !== 'i' || !name) continue;
    // Multi-arch packages (libc6 for amd64 and i386) appear once per architecture; one entry is enough.
    const key = `${name}\t${version}`;
    if (seen.has(key)) continue;
    seen.add(key);
    entries.push({ name, version: version || null, publisher: personName(maintainer), source: 'dpkg' });
  }
  return entries;
}

export function parseRpm(text: string): SoftwareEntry[] {
  return text
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => {
      const [name, version, vendor] = line.split('\t');
      return {
        name,
        version: version || null,
        publisher: vendor && vendor !== '(none)' ? vendor : null,
        source: 'rpm' as const,
      };
    });
}

/** "Debian Adduser Developers <adduser@packages.debian.org>" → "Debian Adduser Developers". */
function personName(maintainer: string | undefined): string | null {
  const name = maintainer?.replace(/<[^>]*>/g, '').trim();
  return name || null;
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] || 'no output';
}
