import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { STEWARD_VERSION } from '../../protocol/version.ts';
import { winswFiles } from './winsw.ts';

const run = promisify(execFile);

/**
 * Builds steward-agent-<version>-x64.msi on Linux with wixl (Debian package `wixl`, from msitools): the win-x64
 * artifact (steward-agent.exe + node_modules/node-pty) under "Program Files\Steward Agent", WinSW as the
 * StewardAgent service, enrollment from the SERVERURL / TOKEN properties, in-place major upgrades.
 */
export const WINDOWS_DIR = path.dirname(fileURLToPath(import.meta.url));
export const WXS_TEMPLATE = path.join(WINDOWS_DIR, 'steward-agent.wxs');
export const SERVICE_CONFIG = path.join(WINDOWS_DIR, 'steward-agent-service.xml');

export interface MsiOptions {
  /** dist/agent/win-x64 as written by installers/build. */
  artifactDir: string;
  outDir: string;
  version?: string;
  /** Where WinSW is cached (installers/.cache by default). */
  cacheDir?: string;
}

export interface BuiltArtifact {
  file: string;
  bytes: number;
  buildMs: number;
}

export function msiFileName(version: string = STEWARD_VERSION): string {
  return `steward-agent-${version}-x64.msi`;
}

/**
 * MSI ProductVersion is major.minor.build (255.255.65535) and upgrades compare only those three numbers, so a
 * pre-release `1.2.0-rc.1` installs as 1.2.0: installing 1.2.0 over it later is a reinstall, not an upgrade.
 */
export function msiProductVersion(version: string = STEWARD_VERSION): string {
  const match = /^(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/.exec(version);
  if (!match) throw new Error(`version '${version}' cannot be an MSI ProductVersion`);
  const [major, minor, build] = match.slice(1).map(Number) as [number, number, number];
  if (major > 255 || minor > 255 || build > 65535) throw new Error(`version '${version}' exceeds MSI limits (255.255.65535)`);
  return `${major}.${minor}.${build}`;
}

export function assertWindowsArtifact(artifactDir: string): void {
  const executable = path.join(artifactDir, 'steward-agent.exe');
  if (!fs.existsSync(executable)) throw new Error(`no agent executable at ${executable}: build it first (npm run package -- --target win-x64)`);
  const pty = path.join(artifactDir, 'node_modules/node-pty/package.json');
  if (!fs.existsSync(pty)) throw new Error(`${pty} is missing: the agent cannot open terminals without node-pty beside it`);
}

export async function buildMsi(opts: MsiOptions): Promise<BuiltArtifact> {
  const started = Date.now();
  assertWindowsArtifact(opts.artifactDir);
  const version = opts.version ?? STEWARD_VERSION;
  const winsw = await winswFiles(opts.cacheDir);
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-msi-'));
  try {
    // The wrapper's own files sit in the source folder the template names; the payload fragment names the rest.
    const source = path.join(staging, 'source');
    fs.mkdirSync(source);
    fs.copyFileSync(winsw.exe, path.join(source, 'steward-agent-service.exe'));
    fs.copyFileSync(winsw.config, path.join(source, 'steward-agent-service.exe.config'));
    fs.copyFileSync(SERVICE_CONFIG, path.join(source, 'steward-agent-service.xml'));
    // wixl resolves Source paths relative to its working directory and mishandles absolute ones: link the artifact in.
    fs.symlinkSync(path.resolve(opts.artifactDir), path.join(staging, 'payload'));
    const fragment = path.join(staging, 'payload.wxs');
    fs.writeFileSync(fragment, payloadFragment(opts.artifactDir, 'payload'));

    fs.mkdirSync(opts.outDir, { recursive: true });
    const file = path.join(opts.outDir, msiFileName(version));
    await run('wixl', ['--arch', 'x64', '-D', `ProductVersion=${msiProductVersion(version)}`, '-D', 'SourceDir=source', '-o', path.resolve(file), WXS_TEMPLATE, fragment], { cwd: staging, maxBuffer: 16 * 1024 * 1024 });
    await addWhatWixlIgnores(file);
    return { file, bytes: fs.statSync(file).size, buildMs: Date.now() - started };
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/** msidbCustomActionTypeHideTarget: Windows Installer does not log the formatted command line (it holds the token). */
const HIDE_TARGET = 0x2000;
/** Public properties the elevated (server-side) install must receive even when the installing user is not an admin. */
const SECURE_PROPERTIES = ['SERVERURL', 'TOKEN'];

/**
 * wixl 0.101 silently drops Property/@Secure, Property/@Hidden and CustomAction/@HideTarget. Write their effect
 * into the tables with msibuild (same msitools) rather than ship an MSI that logs the enrollment token.
 */
async function addWhatWixlIgnores(file: string): Promise<void> {
  const type = Number(tableRow(await exportTable(file, 'CustomAction'), 'StewardEnroll')[1]);
  const secure = tableRow(await exportTable(file, 'Property'), 'SecureCustomProperties')[1]!.split(';').filter(Boolean);
  const merged = [...new Set([...SECURE_PROPERTIES, ...secure])].join(';');
  await run('msibuild', [file, '-q', `UPDATE \`CustomAction\` SET \`Type\` = ${type | HIDE_TARGET} WHERE \`Action\` = 'StewardEnroll'`]);
  await run('msibuild', [file, '-q', `UPDATE \`Property\` SET \`Value\` = '${merged}' WHERE \`Property\` = 'SecureCustomProperties'`]);
}

/** `msiinfo export` of one table: rows of tab-separated columns, after the three header lines. */
export async function exportTable(file: string, table: string): Promise<string[][]> {
  const { stdout } = await run('msiinfo', ['export', file, table], { maxBuffer: 16 * 1024 * 1024 });
  return stdout.split(/\r?\n/).slice(3).filter(Boolean).map((line) => line.split('\t'));
}

function tableRow(rows: string[][], key: string): string[] {
  const row = rows.find((r) => r[0] === key);
  if (!row) throw new Error(`MSI table has no row '${key}'`);
  return row;
}

/**
 * A WiX fragment with one component per file of the artifact directory, in ComponentGroup "AgentPayload".
 * Ids and component GUIDs derive from the relative path, so they stay the same from version to version (the
 * component rules upgrades rely on). Sources are `<sourcePrefix>/<relative path>`. steward-agent.exe gets the fixed id the enrollment custom action names.
 */
export function payloadFragment(artifactDir: string, sourcePrefix: string): string {
  const components: string[] = [];
  const visit = (rel: string, indent: string): string => {
    const lines: string[] = [];
    for (const entry of fs.readdirSync(path.join(artifactDir, rel), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      const abs = path.join(artifactDir, childRel);
      if (entry.isDirectory()) {
        lines.push(`${indent}<Directory Id="${identifier('d', childRel)}" Name="${xml(entry.name)}">`, visit(childRel, `${indent}  `), `${indent}</Directory>`);
      } else if (entry.isFile()) {
        const componentId = identifier('c', childRel);
        const fileId = childRel === 'steward-agent.exe' ? 'StewardAgentExe' : identifier('f', childRel);
        components.push(componentId);
        lines.push(
          `${indent}<Component Id="${componentId}" Guid="${stableGuid(childRel)}" Win64="yes">`,
          `${indent}  <File Id="${fileId}" Name="${xml(entry.name)}" Source="${xml(`${sourcePrefix}/${childRel}`)}" KeyPath="yes" />`,
          `${indent}</Component>`,
        );
      } else {
        throw new Error(`${abs}: only files and folders can go into the MSI`);
      }
    }
    return lines.filter(Boolean).join('\n');
  };
  const tree = visit('', '      ');
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">',
    '  <Fragment>',
    '    <DirectoryRef Id="INSTALLDIR">',
    tree,
    '    </DirectoryRef>',
    '    <ComponentGroup Id="AgentPayload">',
    ...components.map((id) => `      <ComponentRef Id="${id}" />`),
    '    </ComponentGroup>',
    '  </Fragment>',
    '</Wix>',
    '',
  ].join('\n');
}

/** MSI identifiers: letters, digits, '_' and '.', at most 72 characters; a hash keeps long paths unique. */
function identifier(prefix: string, rel: string): string {
  const readable = rel.replace(/[^A-Za-z0-9_.]/g, '_').slice(-40);
  return `${prefix}_${crypto.createHash('sha1').update(rel).digest('hex').slice(0, 12)}_${readable}`;
}

/** A name-based GUID (SHA-1, RFC 4122 version 5 layout) from the install-relative path. */
function stableGuid(rel: string): string {
  const hash = crypto.createHash('sha1').update(`steward-agent-msi:${rel}`).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex').toUpperCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
