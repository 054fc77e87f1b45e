import { writeFileSync } from 'node:fs';
import { ACCOUNTS_SCRIPT, CONSOLE_USER_SCRIPT, SOFTWARE_SCRIPT, SYSTEM_SCRIPT } from '../agent/inventory/extras-windows.ts';
const dir = '/work/main/test/fixtures/inventory/windows/';
const ps = (script: string) => JSON.stringify(['powershell.exe', '-NoProfile', '-NonInteractive', '-Command', script]);
function write(name: string, source: string[], argv: string, stdout: string, exit = 0, stderr = '') {
  const header = [...source.map((s) => `# source: ${s}`), `# argv: ${argv}`, `# exit: ${exit}`, ...(stderr ? [`# stderr: ${stderr}`] : []), '---'].join('\n');
  writeFileSync(dir + name, `${header}\n${stdout}`);
}
const SID = 'S-1-5-21-9526073513-1762370368-3942940353';
write('software.txt', [
  'Value names DisplayName, DisplayVersion, Publisher, SystemComponent: Microsoft Learn, "Uninstall Registry Key"',
  '(learn.microsoft.com/windows/win32/msi/uninstall-registry-key). JSON layout: ConvertTo-Json -Compress of',
  'Select-Object output (Windows PowerShell 5.1): an array of flat objects, absent values as null.',
  'Products are illustrative; "Zoom Workplace" appears twice (HKCU and its HKEY_USERS twin) on purpose.',
], ps(SOFTWARE_SCRIPT), JSON.stringify([
  { DisplayName: '7-Zip 23.01 (x64)', DisplayVersion: '23.01', Publisher: 'Igor Pavlov' },
  { DisplayName: 'Microsoft Edge', DisplayVersion: '120.0.2210.91', Publisher: 'Microsoft Corporation' },
  { DisplayName: 'Microsoft Visual C++ 2015-2022 Redistributable (x86) - 14.38.33130', DisplayVersion: '14.38.33130.0', Publisher: 'Microsoft Corporation' },
  { DisplayName: 'Contoso Line-of-Business App', DisplayVersion: null, Publisher: '  Contoso Ltd.  ' },
  { DisplayName: 'Zoom Workplace', DisplayVersion: '6.0.11 (39959)', Publisher: 'Zoom Video Communications, Inc.' },
  { DisplayName: 'Zoom Workplace', DisplayVersion: '6.0.11 (39959)', Publisher: 'Zoom Video Communications, Inc.' },
]) + '\r\n');
write('accounts.txt', [
  'Get-LocalUser properties Name, FullName, Enabled, SID and the account names AdminContoso02 and Administrator',
  '("Built-in account for administering the computer/domain", SID ...-500): Microsoft Learn, Get-LocalUser examples.',
  'Get-LocalGroupMember properties Name, ObjectClass, SID and members CONTOSOPC\\Administrator, CONTOSOPC\\LocalAdmin:',
  'Microsoft Learn, Get-LocalGroupMember example 1. DefaultAccount/Guest/WDAGUtilityAccount: the built-in accounts',
  'of a Windows 10/11 install (RIDs 503/501/504). SIDs: the domain part of the Learn example SID.',
], ps(ACCOUNTS_SCRIPT), JSON.stringify({
  users: [
    { Name: 'AdminContoso02', FullName: 'Contoso Admin', Enabled: true, SID: `${SID}-1002` },
    { Name: 'Administrator', FullName: '', Enabled: false, SID: `${SID}-500` },
    { Name: 'DefaultAccount', FullName: '', Enabled: false, SID: `${SID}-503` },
    { Name: 'Guest', FullName: '', Enabled: false, SID: `${SID}-501` },
    { Name: 'LocalAdmin', FullName: 'Local Admin', Enabled: true, SID: `${SID}-1001` },
    { Name: 'Remote Support', FullName: 'Remote Support', Enabled: true, SID: `${SID}-1003` },
    { Name: 'WDAGUtilityAccount', FullName: '', Enabled: false, SID: `${SID}-504` },
  ],
  admins: [
    { Name: 'CONTOSOPC\\Administrator', ObjectClass: 'User', SID: `${SID}-500` },
    { Name: 'CONTOSOPC\\LocalAdmin', ObjectClass: 'User', SID: `${SID}-1001` },
    { Name: 'CONTOSO\\Domain Admins', ObjectClass: 'Group', SID: 'S-1-5-21-1004336348-1177238915-682003330-512' },
  ],
}) + '\r\n');
const systemSource = [
  'Properties and values: Microsoft Learn, Win32_OperatingSystem (ProductType 1 work station, 2 domain controller,',
  '3 server; BuildNumber a string) and Win32_ComputerSystem (DomainRole 0..5, Domain, PartOfDomain, DNSHostName).',
  'UBR: the REG_DWORD under HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion. Layout: ConvertTo-Json -Compress of one',
  'pscustomobject (uint16/uint32 as numbers, booleans as true/false).',
];
write('system-member-workstation.txt', systemSource, ps(SYSTEM_SCRIPT), JSON.stringify({ ProductType: 1, BuildNumber: '19045', UBR: 3803, DomainRole: 1, Domain: 'corp.contoso.com', PartOfDomain: true, DNSHostName: 'CONTOSOPC', HostEntry: 'CONTOSOPC.corp.contoso.com' }) + '\r\n');
write('system-domain-controller.txt', systemSource, ps(SYSTEM_SCRIPT), JSON.stringify({ ProductType: 2, BuildNumber: '20348', UBR: 2227, DomainRole: 5, Domain: 'corp.contoso.com', PartOfDomain: true, DNSHostName: 'DC01', HostEntry: 'DC01.corp.contoso.com' }) + '\r\n');
write('system-standalone-server.txt', systemSource, ps(SYSTEM_SCRIPT), JSON.stringify({ ProductType: 3, BuildNumber: '17763', UBR: null, DomainRole: 2, Domain: 'WORKGROUP', PartOfDomain: false, DNSHostName: 'FILESRV01', HostEntry: 'FILESRV01' }) + '\r\n');
write('console-user.txt', ['Win32_ComputerSystem.UserName ("DOMAIN\\user" of the console session): Microsoft Learn, Win32_ComputerSystem.',
  'Layout: ConvertTo-Json -Compress of a one-element array of Select-Object output.'], ps(CONSOLE_USER_SCRIPT), JSON.stringify([{ UserName: 'CONTOSOPC\\jsmith' }]) + '\r\n');
