import fs from 'node:fs';
import path from 'node:path';

/** A path the agent will not touch, with the reason (sent back to the server and audited there). */
export class PathRefused extends Error {
  override name = 'PathRefused';
}

/**
 * The one place a transfer path becomes a real path (the ScreenConnect path-traversal lesson). A path must be
 * absolute; it is resolved with every symlink followed (realpath) and must then lie inside an allowed root, itself
 * resolved the same way, so `..`, symlinks pointing out and alternate spellings all end in the same refusal.
 */
export class FileRoots {
  private readonly roots: string[];

  constructor(roots: string[]) {
    this.roots = roots.flatMap((root) => {
      try {
        return [fs.realpathSync(root)];
      } catch {
        return []; // a root that does not exist allows nothing
      }
    });
  }

  /** For a download: the real path of an existing regular file inside a root. */
  existingFile(requested: string): string {
    const real = this.realpath(checked(requested));
    this.assertInside(real, requested);
    const stat = fs.statSync(real);
    if (!stat.isFile()) throw new PathRefused(`${requested} is not a regular file`);
    return real;
  }

  /**
   * For an upload: the real path of the parent directory inside a root, plus the file name. The target itself must
   * not be a symlink, directory or device (it is replaced by rename, never written through).
   */
  newFile(requested: string): { directory: string; target: string } {
    const absolute = checked(requested);
    const name = path.basename(absolute);
    if (name === '' || name === '.' || name === '..') throw new PathRefused(`${requested} does not name a file`);
    const directory = this.realpath(path.dirname(absolute));
    this.assertInside(directory, requested, true);
    const target = path.join(directory, name);
    let stat: fs.Stats | null = null;
    try {
      stat = fs.lstatSync(target);
    } catch {
      stat = null;
    }
    if (stat && !stat.isFile()) throw new PathRefused(`${requested} exists and is not a regular file (${stat.isSymbolicLink() ? 'a symlink' : 'a directory or device'})`);
    return { directory, target };
  }

  private realpath(p: string): string {
    try {
      return fs.realpathSync(p);
    } catch (error) {
      throw new PathRefused(`${p} does not exist (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }

  private assertInside(real: string, requested: string, directory = false): void {
    const inside = this.roots.some((root) => real === root ? directory : real.startsWith(root.endsWith(path.sep) ? root : root + path.sep));
    if (!inside) throw new PathRefused(`${requested} is outside the allowed file roots (${this.roots.join(', ') || 'none'})`);
  }
}

function checked(requested: string): string {
  if (requested.includes('\0')) throw new PathRefused('a path cannot contain NUL');
  if (!path.isAbsolute(requested)) throw new PathRefused(`${requested} is not an absolute path`);
  return path.normalize(requested);
}
