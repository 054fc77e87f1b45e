import fs from 'node:fs/promises';
import type { PrivateFiles } from './private-files.ts';

/** Linux and macOS: owner-only mode bits (0600). */
export class PosixPrivateFiles implements PrivateFiles {
  async restrict(file: string): Promise<void> {
    await fs.chmod(file, 0o600);
  }

  async assertPrivate(file: string): Promise<void> {
    const mode = (await fs.stat(file)).mode & 0o777;
    if (mode & 0o077) throw new Error(`${file} is readable by other users (mode ${mode.toString(8)}); chmod 600 it`);
  }
}
