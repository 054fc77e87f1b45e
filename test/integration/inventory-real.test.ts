import os from 'node:os';
import { beforeAll, describe, expect, it } from 'vitest';
import { collectInventory, type InventoryWarning } from '../../agent/inventory/collect.ts';
import { runCommand } from '../../agent/platform/run-command.ts';
import { InventorySchema, type Inventory } from '../../protocol/inventory.ts';
import { compile } from '../../protocol/validate.ts';

// The real thing on this Debian machine: no fakes, every fact cross-checked against an independent source.
let inventory: Inventory;
const warnings: InventoryWarning[] = [];
let elapsedMs = 0;

beforeAll(async () => {
  const started = performance.now();
  inventory = await collectInventory({ agentVersion: '0.0.0-test', onWarning: (w) => warnings.push(w) });
  elapsedMs = performance.now() - started;
});

describe('collectInventory on this machine', () => {
  it('produces a document that passes the protocol schema, with no part failing', () => {
    expect(compile(InventorySchema).check(inventory)).toBe(true);
    expect(warnings).toEqual([]);
    expect(elapsedMs).toBeLessThan(30_000);
  });

  it('reports the host, OS and memory that Node sees', () => {
    expect(inventory.hostname).toBe(os.hostname());
    expect(inventory.os.platform).toBe('linux');
    expect(inventory.os.kernel).toBe(os.release());
    expect(inventory.memory.totalBytes).toBe(os.totalmem());
    expect(inventory.cpu.cores).toBe(os.cpus().length);
    expect(inventory.kindSource).toBe('detected');
  });

  it('lists at least one real disk, the root filesystem included, and no pseudo filesystems', () => {
    expect(inventory.disks.length).toBeGreaterThan(0);
    expect(inventory.disks.map((d) => d.mount)).toContain('/');
    expect(inventory.disks.filter((d) => ['tmpfs', 'devtmpfs', 'overlay', 'squashfs'].includes(d.type ?? ''))).toEqual([]);
  });

  it('lists network interfaces without loopback, with the addresses Node reports', () => {
    expect(inventory.network.map((n) => n.name)).not.toContain('lo');
    for (const nic of inventory.network) {
      const fromNode = (os.networkInterfaces()[nic.name] ?? []).filter((a) => a.family === 'IPv4').map((a) => a.address);
      if (fromNode.length > 0) expect(nic.ipv4).toEqual(fromNode);
    }
  });

  it('lists dpkg itself, at the version dpkg-query reports', async () => {
    const dpkg = await runCommand('dpkg-query', ['-W', '-f=${Version}', 'dpkg']);
    expect(dpkg.code).toBe(0);
    expect(inventory.software.length).toBeGreaterThan(10);
    expect(inventory.software.find((s) => s.name === 'dpkg')).toMatchObject({ version: dpkg.stdout, source: 'dpkg' });
  });

  it('lists root as an admin account, and every passwd entry', async () => {
    const passwd = await runCommand('getent', ['passwd']);
    const localNames = passwd.stdout.trim().split('\n').map((l) => l.split(':')[0]);
    expect(inventory.localAccounts.find((a) => a.name === 'root')).toMatchObject({ uid: '0', isAdmin: true });
    // getent may add directory users; every account we report must be one it knows.
    for (const account of inventory.localAccounts) expect(localNames).toContain(account.name);
  });

  it('reports this unjoined machine as standalone', () => {
    expect(inventory.domainRole).toBe('standalone');
    expect(inventory.domain).toBeNull();
  });
});
