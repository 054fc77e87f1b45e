import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TAR_END_GZIP_MEMBER, tarEndOffset } from './tar-format.ts';

/**
 * Packs `dir/base` as `file` (.tar.gz) with GNU tar: root-owned entries and a stable order, whoever builds it.
 *
 * Written as two gzip members: the archive's entries without the end-of-archive marker, then TAR_END_GZIP_MEMBER
 * holding only the marker. Every gunzip reads concatenated members as one stream, so this is an ordinary .tar.gz;
 * and the server can serve it with a site's enroll.env added by sending all but the last member and appending a
 * small one, instead of recompressing 100 MB per download (server/installers/tar-gz-download.ts).
 */
export function writeTarGz(dir: string, base: string, file: string): void {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-tar-'));
  try {
    const tar = path.join(scratch, 'archive.tar');
    execFileSync('tar', ['--owner=0', '--group=0', '--numeric-owner', '--sort=name', '-cf', tar, '-C', dir, base], { stdio: ['ignore', 'ignore', 'inherit'] });
    fs.truncateSync(tar, tarEndOffset(tar));
    const out = fs.openSync(file, 'w');
    try {
      // -n: no file name or time stamp in the header, so the bytes depend on the contents only.
      execFileSync('gzip', ['-n', '-6', '-c', tar], { stdio: ['ignore', out, 'inherit'] });
      fs.writeSync(out, TAR_END_GZIP_MEMBER);
    } finally {
      fs.closeSync(out);
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

