import fs from 'node:fs';

/*
 * Just enough PE and Mach-O parsing to see where postject put the SEA blob in the executables we cannot run here.
 */

/** Names of the RCDATA resources of a PE file (postject stores the blob as RCDATA named NODE_SEA_BLOB). */
export function peResourceNames(file: string): string[] {
  const b = fs.readFileSync(file);
  if (b.toString('latin1', 0, 2) !== 'MZ') throw new Error('not a PE file');
  const pe = b.readUInt32LE(0x3c);
  if (b.toString('latin1', pe, pe + 4) !== 'PE\0\0') throw new Error('no PE signature');
  const sectionCount = b.readUInt16LE(pe + 6);
  const table = pe + 24 + b.readUInt16LE(pe + 20);
  for (let i = 0; i < sectionCount; i++) {
    const section = table + i * 40;
    if (b.toString('latin1', section, section + 8).replace(/\0+$/, '') !== '.rsrc') continue;
    const base = b.readUInt32LE(section + 20);
    // A resource directory: 16-byte header (named count at 12, id count at 14), then 8-byte entries, named first.
    const entries = (dir: number) =>
      Array.from({ length: b.readUInt16LE(dir + 12) + b.readUInt16LE(dir + 14) }, (_, n) => ({
        name: b.readUInt32LE(dir + 16 + n * 8),
        target: b.readUInt32LE(dir + 20 + n * 8),
      }));
    const RT_RCDATA = 10;
    const rcdata = entries(base).find((e) => e.name === RT_RCDATA && e.target & 0x80000000);
    if (!rcdata) return [];
    return entries(base + (rcdata.target & 0x7fffffff))
      .filter((e) => e.name & 0x80000000)
      .map((e) => {
        const at = base + (e.name & 0x7fffffff);
        return b.toString('utf16le', at + 2, at + 2 + b.readUInt16LE(at) * 2);
      });
  }
  return [];
}

export interface MachoSegment {
  name: string;
  sections: string[];
}

/** CPU type and segments (with their sections) of a thin 64-bit little-endian Mach-O file. */
export function machoSegments(file: string): { cpu: 'x86_64' | 'arm64' | string; segments: MachoSegment[] } {
  const b = fs.readFileSync(file);
  if (b.readUInt32LE(0) !== 0xfeedfacf) throw new Error(`not a thin 64-bit Mach-O (magic ${b.readUInt32LE(0).toString(16)})`);
  const cpuType = b.readUInt32LE(4);
  const cpu = cpuType === 0x01000007 ? 'x86_64' : cpuType === 0x0100000c ? 'arm64' : cpuType.toString(16);
  const commands = b.readUInt32LE(16);
  const cstr = (at: number) => b.toString('latin1', at, at + 16).replace(/\0.*$/s, '');
  const segments: MachoSegment[] = [];
  let at = 32;
  for (let i = 0; i < commands; i++) {
    const cmd = b.readUInt32LE(at);
    const size = b.readUInt32LE(at + 4);
    if (cmd === 0x19) {
      const count = b.readUInt32LE(at + 64);
      const sections = Array.from({ length: count }, (_, n) => cstr(at + 72 + n * 80));
      segments.push({ name: cstr(at + 8), sections });
    }
    at += size;
  }
  return { cpu, segments };
}

/** Whether the SEA fuse was flipped, i.e. the binary will look for its injected blob at start-up. */
export function seaFuseState(file: string, fuse: string): 'set' | 'unset' | 'missing' {
  const b = fs.readFileSync(file);
  if (b.includes(`${fuse}:1`)) return 'set';
  if (b.includes(`${fuse}:0`)) return 'unset';
  return 'missing';
}

/** Size of the PE certificate table (the Authenticode signature); 0 when the file is unsigned. */
export function peCertificateTableSize(file: string): number {
  const b = fs.readFileSync(file);
  const optional = b.readUInt32LE(0x3c) + 24;
  const magic = b.readUInt16LE(optional);
  const directories = optional + (magic === 0x20b ? 112 : 96); // PE32+ or PE32
  return b.readUInt32LE(directories + 4 * 8 + 4);
}
