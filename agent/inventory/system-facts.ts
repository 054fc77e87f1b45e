import os from 'node:os';
import si from 'systeminformation';
import type { Inventory } from '../../protocol/inventory.ts';

/**
 * The cross-platform parts of the inventory, from systeminformation (and Node's os module where it is more
 * complete). Each function answers one part so the collector can record a failure per part.
 */

/** Values firmware vendors leave in DMI fields instead of leaving them empty; they identify nothing. */
const PLACEHOLDERS = new Set([
  '', '-', '0', 'none', 'n/a', 'na', 'unknown', 'not specified', 'not applicable', 'default string', 'oem',
  'to be filled by o.e.m.', 'system manufacturer', 'system product name', 'system serial number', 'system version',
]);

/**
 * Filesystems that are not storage a technician cares about: memory-backed, kernel interfaces, container layers,
 * and read-only snap/AppImage images (each snap is a squashfs mount).
 */
const PSEUDO_FILESYSTEMS = new Set([
  'tmpfs', 'devtmpfs', 'ramfs', 'overlay', 'overlayfs', 'aufs', 'squashfs', 'proc', 'sysfs', 'cgroup', 'cgroup2',
  'devpts', 'mqueue', 'autofs', 'nsfs', 'tracefs', 'debugfs', 'securityfs', 'pstore', 'bpf', 'fusectl', 'configfs',
  'hugetlbfs', 'efivarfs', 'binfmt_misc', 'rpc_pipefs', 'fuse.lxcfs', 'fuse.snapfuse', 'fuse.portal', 'devfs',
]);

export function meaningful(value: string | null | undefined): string | null {
  const trimmed = value?.trim() ?? '';
  return PLACEHOLDERS.has(trimmed.toLowerCase()) ? null : trimmed;
}

export async function osFacts(): Promise<Omit<Inventory['os'], 'platform'>> {
  const info = await si.osInfo();
  return {
    distro: info.distro || os.type(),
    release: info.release || os.release(),
    kernel: info.kernel || os.release(),
    arch: info.arch || os.arch(),
    build: meaningful(info.build),
  };
}

/** Used when osFacts fails: Node always knows these, so the document stays useful. */
export function osFallback(): Omit<Inventory['os'], 'platform'> {
  return { distro: os.type(), release: os.release(), kernel: os.release(), arch: os.arch(), build: null };
}

export async function hardwareFacts(): Promise<Inventory['hardware']> {
  const sys = await si.system();
  return { manufacturer: meaningful(sys.manufacturer), model: meaningful(sys.model), serial: meaningful(sys.serial) };
}

export async function cpuFacts(): Promise<Inventory['cpu']> {
  const cpu = await si.cpu();
  return {
    manufacturer: meaningful(cpu.manufacturer),
    brand: meaningful(cpu.brand),
    cores: cpu.cores,
    physicalCores: cpu.physicalCores,
    // 0 is systeminformation's "could not read it" (common in VMs), not a CPU that does not run.
    speedGHz: cpu.speed > 0 ? cpu.speed : null,
  };
}

export async function memoryBytes(): Promise<number> {
  return (await si.mem()).total;
}

export async function disks(): Promise<Inventory['disks']> {
  const filesystems = await si.fsSize();
  return filesystems
    .filter((fs) => !PSEUDO_FILESYSTEMS.has(fs.type.toLowerCase()) && fs.size > 0)
    .map((fs) => ({ mount: fs.mount, fs: fs.fs, type: fs.type || null, sizeBytes: fs.size, usedBytes: fs.used }));
}

export async function network(): Promise<Inventory['network']> {
  const interfaces = await si.networkInterfaces();
  // systeminformation reports one address per family; Node lists them all (several IPv6 addresses are the norm).
  const nodeAddresses = os.networkInterfaces();
  return interfaces
    .filter((nic) => !nic.internal)
    .map((nic) => {
      const addresses = nodeAddresses[nic.iface] ?? [];
      const ipv4 = addresses.filter((a) => a.family === 'IPv4').map((a) => a.address);
      const ipv6 = addresses.filter((a) => a.family === 'IPv6').map((a) => a.address);
      if (ipv4.length === 0 && nic.ip4) ipv4.push(nic.ip4);
      if (ipv6.length === 0 && nic.ip6) ipv6.push(nic.ip6);
      const mac = nic.mac && !/^(00[:-]){5}00$/.test(nic.mac) ? nic.mac : null;
      return { name: nic.iface, mac, ipv4, ipv6 };
    });
}
