import { access, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { CommandRunner } from '../platform/run-command.ts';
import type { DomainMembership } from './extras.ts';

/**
 * Where a Linux machine stands in an Active Directory (or FreeIPA) domain, checked in this order:
 *
 * 1. Samba AD DC: `testparm` reports the server role "active directory domain controller" AND the sam.ldb database
 *    exists in its private dir. Both, because a leftover smb.conf from a failed provision says "DC" without there
 *    being a directory. testparm's exit code is ignored: it exits non-zero on mere warnings.
 * 2. Member via realmd: `realm list` shows a realm whose `configured:` is not "no".
 * 3. Member via Samba/winbind: smb.conf has `security = ads` and a realm (read through testparm, which follows
 *    includes). We do not call `wbinfo -t`: it needs winbindd running and does network RPC that can hang when the
 *    DC is unreachable, and an offline member is still a member.
 * 4. Member via sssd without realmd: sssd.conf (or conf.d) has a domain with `id_provider = ad` or `ipa`.
 * 5. Otherwise standalone.
 *
 * Domain names are reported in lower case, as DNS names, matching what Windows reports.
 */
export interface LinuxDomainRoleOptions {
  root: string;
  /** smb.conf to read instead of Samba's compiled-in default (passed to testparm as its config file argument). */
  smbConf?: string;
}

export async function detectLinuxDomainRole(run: CommandRunner, opts: LinuxDomainRoleOptions): Promise<DomainMembership> {
  const testparm = async (parameter: string): Promise<string | null> => {
    const args = ['-s', `--parameter-name=${parameter}`, ...(opts.smbConf ? [opts.smbConf] : [])];
    const result = await run('testparm', args, { timeoutMs: 10_000 });
    if (result.code === null) return null; // not installed (or timed out): no Samba configuration to speak of
    return result.stdout.split('\n').map((l) => l.trim()).find(Boolean) ?? null;
  };

  const serverRole = await testparm('server role');
  if (serverRole?.toLowerCase() === 'active directory domain controller') {
    const [privateDir, realm] = await Promise.all([testparm('private dir'), testparm('realm')]);
    if (privateDir && (await exists(path.join(opts.root, privateDir, 'sam.ldb')))) {
      return { role: 'domain_controller', domain: dnsName(realm) };
    }
  }

  const realmdDomain = await configuredRealm(run);
  if (realmdDomain) return { role: 'member', domain: realmdDomain };

  if (serverRole !== null) {
    const [security, realm] = await Promise.all([testparm('security'), testparm('realm')]);
    if (security?.toLowerCase() === 'ads' && dnsName(realm)) return { role: 'member', domain: dnsName(realm) };
  }

  const sssdDomain = await sssdDirectoryDomain(opts.root);
  if (sssdDomain) return { role: 'member', domain: sssdDomain };

  return { role: 'standalone', domain: null };
}

interface RealmBlock {
  name: string;
  props: Map<string, string>;
}

/** First realm in `realm list` output that realmd has configured (joined). */
export async function configuredRealm(run: CommandRunner): Promise<string | null> {
  const result = await run('realm', ['list'], { timeoutMs: 10_000 });
  if (result.code !== 0) return null; // realmd absent or its D-Bus service down: later checks still apply
  const realms: RealmBlock[] = [];
  let current: RealmBlock | null = null;
  for (const line of result.stdout.split('\n')) {
    if (!line.trim()) continue;
    if (!/^\s/.test(line)) {
      current = { name: line.trim(), props: new Map() };
      realms.push(current);
    } else if (current) {
      const colon = line.indexOf(':');
      if (colon > 0) current.props.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
  }
  const joined = realms.find((r) => (r.props.get('configured') ?? 'no') !== 'no');
  return joined ? dnsName(joined.props.get('domain-name') ?? joined.name) : null;
}

async function sssdDirectoryDomain(root: string): Promise<string | null> {
  const dir = path.join(root, 'etc/sssd');
  const files = [path.join(dir, 'sssd.conf')];
  const snippets = await readdir(path.join(dir, 'conf.d')).catch(() => [] as string[]);
  files.push(...snippets.filter((f) => f.endsWith('.conf')).sort().map((f) => path.join(dir, 'conf.d', f)));

  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => null);
    if (text === null) continue;
    for (const [section, values] of parseIni(text)) {
      if (!section.startsWith('domain/')) continue;
      const provider = values.get('id_provider')?.toLowerCase();
      if (provider !== 'ad' && provider !== 'ipa') continue;
      return dnsName(values.get(`${provider}_domain`) ?? section.slice('domain/'.length));
    }
  }
  return null;
}

function parseIni(text: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1].trim(), current);
    } else if (current) {
      const eq = line.indexOf('=');
      if (eq > 0) current.set(line.slice(0, eq).trim().toLowerCase(), line.slice(eq + 1).trim());
    }
  }
  return sections;
}

function dnsName(name: string | null | undefined): string | null {
  const trimmed = name?.trim().toLowerCase();
  return trimmed ? trimmed : null;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
