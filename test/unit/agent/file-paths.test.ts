import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileRoots, PathRefused } from '../../../agent/sessions/file-paths.ts';

/**
 * Hostile paths against the agent's one canonicalization point (the ScreenConnect path-traversal lesson), on a real
 * file system: traversal, symlinks out of the root, symlinked targets, devices and fifos, NUL, relative paths.
 */
describe('agent file roots', () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-roots-'));
  const root = path.join(base, 'root');
  const outside = path.join(base, 'outside');
  let roots: FileRoots;

  beforeAll(() => {
    fs.mkdirSync(path.join(root, 'docs'), { recursive: true });
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(root, 'docs/report.txt'), 'inside');
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'outside');
    fs.symlinkSync(outside, path.join(root, 'escape')); // a directory link pointing out
    fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'docs/secret-link.txt')); // a file link pointing out
    fs.symlinkSync(path.join(root, 'docs/report.txt'), path.join(root, 'docs/inner-link.txt')); // a link that stays inside
    fs.symlinkSync(root, path.join(outside, 'back-in'));
    roots = new FileRoots([root]);
  });
  afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

  const refused = (f: () => unknown, reason: RegExp) => {
    expect(f).toThrow(PathRefused);
    expect(f).toThrow(reason);
  };

  it('allows files inside the root, by their real path', () => {
    expect(roots.existingFile(path.join(root, 'docs/report.txt'))).toBe(path.join(fs.realpathSync(root), 'docs/report.txt'));
    expect(roots.existingFile(path.join(root, 'docs/inner-link.txt'))).toBe(path.join(fs.realpathSync(root), 'docs/report.txt'));
    expect(roots.existingFile(path.join(outside, 'back-in/docs/report.txt'))).toBe(path.join(fs.realpathSync(root), 'docs/report.txt'));
    expect(roots.newFile(path.join(root, 'docs/new.txt'))).toEqual({ directory: path.join(fs.realpathSync(root), 'docs'), target: path.join(fs.realpathSync(root), 'docs/new.txt') });
  });

  it('refuses traversal, however it is spelled', () => {
    refused(() => roots.existingFile(path.join(root, '../outside/secret.txt')), /outside the allowed file roots/);
    refused(() => roots.existingFile(`${root}/docs/../../outside/secret.txt`), /outside the allowed file roots/);
    refused(() => roots.newFile(`${root}/../outside/dropped.txt`), /outside the allowed file roots/);
    refused(() => roots.existingFile(`${root}//docs/./../../outside/secret.txt`), /outside the allowed file roots/);
    refused(() => roots.newFile(`${root}/docs/..`), /does not name a file|outside/);
    refused(() => roots.existingFile('/etc/passwd'), /outside the allowed file roots/);
  });

  it('refuses symlinks that lead out, for reading and for writing through them', () => {
    refused(() => roots.existingFile(path.join(root, 'escape/secret.txt')), /outside the allowed file roots/);
    refused(() => roots.existingFile(path.join(root, 'docs/secret-link.txt')), /outside the allowed file roots/);
    refused(() => roots.newFile(path.join(root, 'escape/dropped.txt')), /outside the allowed file roots/);
    // Writing onto a symlink inside the root is refused too: the upload would replace the link, not write through it,
    // but a user asking for that is surprised either way.
    refused(() => roots.newFile(path.join(root, 'docs/secret-link.txt')), /is not a regular file \(a symlink\)/);
  });

  it('refuses directories, devices and fifos, relative paths, NUL and missing parents', () => {
    refused(() => roots.existingFile(path.join(root, 'docs')), /not a regular file/);
    refused(() => roots.newFile(path.join(root, 'docs')), /not a regular file/);
    refused(() => roots.existingFile('docs/report.txt'), /not an absolute path/);
    refused(() => roots.existingFile(`${root}/docs/report.txt\0.png`), /NUL/);
    refused(() => roots.newFile(path.join(root, 'missing/dir/file.txt')), /does not exist/);
    const fifo = path.join(root, 'docs/pipe');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    refused(() => roots.existingFile(fifo), /not a regular file/);
    refused(() => roots.newFile(fifo), /not a regular file/);
    const device = path.join(root, 'docs/null');
    if (spawnSync('mknod', [device, 'c', '1', '3']).status !== 0) {
      console.warn('SKIPPING the device-file case: mknod is not permitted here (needs root)');
      return;
    }
    refused(() => roots.existingFile(device), /not a regular file/);
    refused(() => roots.newFile(device), /not a regular file/);
    // A device reached through a link from inside the root is outside it (/dev).
    fs.symlinkSync('/dev/zero', path.join(root, 'docs/zero'));
    refused(() => roots.existingFile(path.join(root, 'docs/zero')), /outside the allowed file roots/);
  });

  it('a root that does not exist allows nothing', () => {
    const none = new FileRoots([path.join(base, 'nope')]);
    refused(() => none.existingFile(path.join(root, 'docs/report.txt')), /outside the allowed file roots \(none\)/);
  });
});
