import fs from 'node:fs';
import zlib from 'node:zlib';

/**
 * Just enough of the tar format (POSIX ustar) for the server to add files to an installer at download time,
 * without unpacking or recompressing it: a header for a small file or directory, the end-of-archive marker, and
 * the gzip member that carries that marker alone at the end of our .tar.gz files (see writeTarGz).
 */
export const TAR_BLOCK = 512;

/** Two zero blocks end a tar archive (POSIX); readers need nothing more. */
export const TAR_END = Buffer.alloc(2 * TAR_BLOCK);

/**
 * The last gzip member of every .tar.gz that writeTarGz makes: TAR_END alone, as a stored deflate block with a
 * fixed header, so it is the same bytes whatever zlib builds or reads it. Concatenated gzip members are one
 * stream to every gunzip, so a download can drop this member and append one holding more files plus TAR_END.
 */
export const TAR_END_GZIP_MEMBER: Buffer = storedGzipMember(TAR_END);

function storedGzipMember(data: Buffer): Buffer {
  if (data.length > 0xffff) throw new Error('a stored deflate block holds at most 65535 bytes');
  // ID1 ID2, CM=deflate, no flags, MTIME 0, XFL 0, OS unknown: nothing in it depends on when or where it is made.
  const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
  const block = Buffer.alloc(5);
  block[0] = 1; // BFINAL=1, BTYPE=00 (stored)
  block.writeUInt16LE(data.length, 1);
  block.writeUInt16LE(~data.length & 0xffff, 3);
  const trailer = Buffer.alloc(8);
  // The CRC-32 that any gzip member of `data` ends with (zlib.crc32 needs Node 20.15; engines allows 20.12).
  const reference = zlib.gzipSync(data);
  trailer.writeUInt32LE(reference.readUInt32LE(reference.length - 8), 0);
  trailer.writeUInt32LE(data.length, 4);
  return Buffer.concat([header, block, data, trailer]);
}

export interface TarEntry {
  /** Path inside the archive, `/`-separated. */
  name: string;
  mode: number;
  mtime: Date;
  type: 'file' | 'directory';
  size: number;
}

/** A ustar header, root-owned like the entries GNU tar writes for our packages (--owner=0 --group=0). */
export function tarHeader(entry: TarEntry): Buffer {
  const header = Buffer.alloc(TAR_BLOCK);
  const [prefix, name] = splitName(entry.type === 'directory' && !entry.name.endsWith('/') ? `${entry.name}/` : entry.name);
  header.write(name, 0, 100, 'utf8');
  writeOctal(header, entry.mode & 0o7777, 100, 8);
  writeOctal(header, 0, 108, 8);
  writeOctal(header, 0, 116, 8);
  writeOctal(header, entry.type === 'file' ? entry.size : 0, 124, 12);
  writeOctal(header, Math.floor(entry.mtime.getTime() / 1000), 136, 12);
  header.fill(' ', 148, 156); // the checksum is computed with its own field as spaces
  header.write(entry.type === 'file' ? '0' : '5', 156, 1, 'ascii');
  header.write('ustar\u000000', 257, 8, 'ascii');
  header.write('root', 265, 32, 'ascii');
  header.write('root', 297, 32, 'ascii');
  header.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of header) sum += byte;
  writeOctal(header, sum, 148, 7);
  return header;
}

/** Zero bytes that pad `size` bytes of file data to a whole block. */
export function tarPadding(size: number): Buffer {
  return Buffer.alloc((TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK);
}

/** Header, data and padding of a small in-memory file. */
export function tarFile(name: string, data: Buffer, mode: number, mtime: Date): Buffer {
  return Buffer.concat([tarHeader({ name, mode, mtime, type: 'file', size: data.length }), data, tarPadding(data.length)]);
}

/**
 * Where the end-of-archive marker of an uncompressed tar file starts: walks the headers (each followed by its
 * data, rounded up to blocks) to the first zero block. Trailing zeros cannot simply be trimmed: a file's own data
 * may end in zero blocks.
 */
export function tarEndOffset(file: string): number {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const header = Buffer.alloc(TAR_BLOCK);
    let offset = 0;
    while (offset + TAR_BLOCK <= size) {
      fs.readSync(fd, header, 0, TAR_BLOCK, offset);
      if (header.every((byte) => byte === 0)) return offset;
      if (header.toString('ascii', 257, 262) !== 'ustar') throw new Error(`${file}: no tar header at byte ${offset}`);
      const dataSize = readSize(header);
      offset += TAR_BLOCK + Math.ceil(dataSize / TAR_BLOCK) * TAR_BLOCK;
    }
    throw new Error(`${file}: the tar archive has no end-of-archive marker`);
  } finally {
    fs.closeSync(fd);
  }
}

function readSize(header: Buffer): number {
  const field = header.subarray(124, 136);
  // GNU base-256 for sizes past 8 GiB: the high bit of the first byte is set, the rest is big-endian.
  if (field[0] & 0x80) return field.subarray(1).reduce((value, byte) => value * 256 + byte, field[0] & 0x7f);
  return parseInt(field.toString('ascii').replace(/[\0 ]+$/, '') || '0', 8);
}

function writeOctal(header: Buffer, value: number, offset: number, length: number): void {
  const digits = value.toString(8);
  if (digits.length > length - 1) throw new Error(`tar header field overflow (${value})`);
  header.write(`${digits.padStart(length - 1, '0')}\0`, offset, length, 'ascii');
}

/** ustar keeps up to 100 bytes of name and 155 of prefix, split at a '/'. */
function splitName(full: string): [string, string] {
  if (Buffer.byteLength(full) <= 100) return ['', full];
  const cut = full.lastIndexOf('/', full.length - 2);
  const prefix = full.slice(0, cut);
  const name = full.slice(cut + 1);
  if (cut <= 0 || Buffer.byteLength(prefix) > 155 || Buffer.byteLength(name) > 100) throw new Error(`'${full}' is too long for a ustar header`);
  return [prefix, name];
}
