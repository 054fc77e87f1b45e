import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageAgent } from '../../installers/build/package-agent.ts';
import { buildMsi, exportTable, msiFileName, msiProductVersion } from '../../installers/windows/msi.ts';
import { STEWARD_VERSION } from '../../protocol/version.ts';

/**
 * The Windows MSI built on Linux from the real win-x64 single executable (Node download cached in
 * installers/.cache) with wixl, then read back with msitools: the tables Windows Installer would act on and the
 * files it would lay down. Nothing here installs it — there is no Windows in CI; see installers/windows/README.md.
 */
const BUILD_TIMEOUT = 10 * 60_000;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-msi-test-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const have = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const sha256 = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

let artifactDir = '';
let msi = '';
let tables: Record<string, string[][]> = {};

beforeAll(async () => {
  for (const tool of ['wixl', 'msiinfo', 'msibuild', 'msiextract']) {
    if (!have(tool)) throw new Error(`${tool} is not installed: apt-get install wixl msitools`);
  }
  const [built] = await packageAgent(['win-x64'], path.join(work, 'agent'));
  artifactDir = path.dirname(built!.executable);
  const result = await buildMsi({ artifactDir, outDir: path.join(work, 'out') });
  msi = result.file;
  console.log(`built ${path.basename(msi)}: ${(result.bytes / 1e6).toFixed(1)} MB in ${(result.buildMs / 1000).toFixed(1)} s (executable ${(built!.bytes / 1e6).toFixed(1)} MB in ${(built!.milliseconds / 1000).toFixed(1)} s)`);
  for (const table of ['File', 'Component', 'Directory', 'Property', 'ServiceInstall', 'ServiceControl', 'CustomAction', 'InstallExecuteSequence', 'Upgrade']) {
    tables[table] = await exportTable(msi, table);
  }
}, BUILD_TIMEOUT);

const property = (name: string) => tables.Property!.find((r) => r[0] === name)?.[1];

describe('steward-agent MSI', () => {
  it('is named for the version and installs every artifact file under Program Files\\Steward Agent', () => {
    expect(path.basename(msi)).toBe(msiFileName(STEWARD_VERSION));
    expect(execFileSync('msiinfo', ['suminfo', msi], { encoding: 'utf8' })).toMatch(/^Template: x64;1033$/m);
    const names = tables.File!.map((r) => r[2]);
    for (const file of ['steward-agent.exe', 'pty.node', 'conpty.node', 'conpty.dll', 'OpenConsole.exe', 'winpty.dll', 'winpty-agent.exe', 'package.json', 'index.js', 'windowsPtyAgent.js']) {
      expect(names, file).toContain(file);
    }
    const artifactFiles = execFileSync('find', [artifactDir, '-type', 'f'], { encoding: 'utf8' }).trim().split('\n');
    expect(names.length).toBe(artifactFiles.length + 3); // plus WinSW, its .exe.config and its XML
    const dirs = new Map(tables.Directory!.map((r) => [r[0], r]));
    expect(dirs.get('INSTALLDIR')).toEqual(['INSTALLDIR', 'ProgramFiles64Folder', 'Steward Agent']);
    // Every component is 64-bit (msidbComponentAttributes64bit) so nothing lands in Program Files (x86).
    expect(tables.Component!.every((r) => (Number(r[3]) & 256) === 256)).toBe(true);
  });

  it('lays down the executable byte for byte and the WinSW configuration that runs it', () => {
    const extracted = path.join(work, 'extracted');
    execFileSync('msiextract', ['-C', extracted, msi], { stdio: 'ignore' });
    // msiextract writes ProgramFiles64Folder as the extraction root.
    const installDir = path.join(extracted, 'Steward Agent');
    expect(sha256(path.join(installDir, 'steward-agent.exe'))).toBe(sha256(path.join(artifactDir, 'steward-agent.exe')));
    expect(sha256(path.join(installDir, 'node_modules/node-pty/prebuilds/win32-x64/pty.node'))).toBe(sha256(path.join(artifactDir, 'node_modules/node-pty/prebuilds/win32-x64/pty.node')));
    // WinSW is a PE (.NET) executable; its .exe.config lets it run on the .NET 4 every current Windows has.
    expect(fs.readFileSync(path.join(installDir, 'steward-agent-service.exe')).subarray(0, 2).toString()).toBe('MZ');
    expect(fs.readFileSync(path.join(installDir, 'steward-agent-service.exe.config'), 'utf8')).toContain('<supportedRuntime version="v4.0" />');
    const config = fs.readFileSync(path.join(installDir, 'steward-agent-service.xml'), 'utf8');
    expect(config).toContain('<id>StewardAgent</id>');
    expect(config).toContain('<executable>%BASE%\\steward-agent.exe</executable>');
    expect(config).toContain('<arguments>run --state-dir "%ProgramData%\\Steward\\Agent"</arguments>');
    expect(config).toMatch(/<onfailure action="restart" delay="10 sec"\/>/);
  });

  it('registers the StewardAgent service (WinSW) to start on install and stop and go away on uninstall', () => {
    const [service] = tables.ServiceInstall!;
    // Name, ServiceType 16 = own process, StartType 2 = auto, ErrorControl 1 = normal, LocalSystem.
    expect(service!.slice(1, 6)).toEqual(['StewardAgent', 'Steward Agent', '16', '2', '1']);
    expect(service![8]).toBe('LocalSystem');
    const wrapper = tables.File!.find((r) => r[2] === 'steward-agent-service.exe')!;
    expect(service![11]).toBe(wrapper[1]);
    expect(tables.Component!.find((r) => r[0] === wrapper[1])![5]).toBe(wrapper[0]); // the wrapper is the key path
    const [control] = tables.ServiceControl!;
    expect(control![1]).toBe('StewardAgent');
    // 1 start on install, 2 stop on install (upgrade), 32 stop on uninstall, 128 delete on uninstall.
    expect(Number(control![2])).toBe(1 | 2 | 32 | 128);
    expect(control![4]).toBe('1'); // wait for the service to start or stop
  });

  it('carries the version, a stable UpgradeCode and a major upgrade that replaces older versions in place', () => {
    expect(property('ProductVersion')).toBe(msiProductVersion(STEWARD_VERSION));
    expect(property('UpgradeCode')).toBe('{6B1C5E0A-3F47-4C8E-9D2B-57A1E0C4F9D3}');
    expect(property('ALLUSERS')).toBe('1');
    const upgrade = tables.Upgrade!.find((r) => r[6] === 'WIX_UPGRADE_DETECTED')!;
    expect(upgrade[0]).toBe(property('UpgradeCode'));
    expect(tables.Upgrade!.some((r) => r[6] === 'WIX_DOWNGRADE_DETECTED')).toBe(true);
    // The old version goes entirely (its service included) before this one installs: between InstallValidate and
    // InstallInitialize. Later, the old product's uninstall would delete the service the new one just registered.
    const step = (name: string) => Number(tables.InstallExecuteSequence!.find((r) => r[0] === name)![2]);
    expect(step('RemoveExistingProducts')).toBeGreaterThan(step('InstallValidate'));
    expect(step('RemoveExistingProducts')).toBeLessThan(step('InstallInitialize'));
  });

  it('takes SERVERURL and TOKEN, enrolling as a deferred LocalSystem action before the service starts, token hidden from logs', () => {
    // Properties with no default cannot be rows of the Property table (Value is NOT NULL): they are declared in
    // SecureCustomProperties (passed to the elevated install) and TOKEN in MsiHiddenProperties.
    expect(property('SecureCustomProperties')!.split(';')).toEqual(expect.arrayContaining(['SERVERURL', 'TOKEN']));
    expect(property('MsiHiddenProperties')!.split(';')).toEqual(expect.arrayContaining(['TOKEN', 'StewardEnroll']));
    const action = tables.CustomAction!.find((r) => r[0] === 'StewardEnroll')!;
    const type = Number(action[1]);
    expect(type & 0x3f).toBe(18); // an EXE run from an installed file
    expect(type & 0x400).toBe(0x400); // deferred
    expect(type & 0x800).toBe(0x800); // no impersonation: LocalSystem
    expect(type & 0x2000).toBe(0x2000); // HideTarget: the formatted command line is not logged
    expect(action[2]).toBe('StewardAgentExe');
    expect(tables.File!.find((r) => r[0] === 'StewardAgentExe')![2]).toBe('steward-agent.exe');
    // Documented limitation: an EXE custom action cannot set its child's environment, so the token is in argv.
    expect(action[3]).toBe('enroll --server "[SERVERURL]" --token "[TOKEN]" --state-dir "[CommonAppDataFolder]Steward\\Agent"');
    const sequence = new Map(tables.InstallExecuteSequence!.map((r) => [r[0], r]));
    const step = (name: string) => Number(sequence.get(name)![2]);
    expect(sequence.get('StewardEnroll')![1]).toBe('SERVERURL AND TOKEN AND NOT (REMOVE="ALL")');
    expect(step('StewardEnroll')).toBeGreaterThan(step('InstallServices'));
    expect(step('StewardEnroll')).toBeLessThan(step('StartServices'));
  });

  it('rejects versions Windows Installer cannot compare', () => {
    expect(msiProductVersion('1.2.3-rc.1')).toBe('1.2.3');
    expect(() => msiProductVersion('256.0.0')).toThrow(/MSI limits/);
    expect(() => msiProductVersion('1.2')).toThrow(/cannot be an MSI ProductVersion/);
  });
});
