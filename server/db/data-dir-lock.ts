import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * An exclusive lock on the embedded database directory. Two processes on one PGlite directory silently lose
 * committed rows, so a second server must refuse to start. The lock file is created atomically (O_EXCL) and names
 * its owner; a lock left by a process that no longer exists on this host is taken over.
 */
export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError';
}

interface LockOwner {
  pid: number;
  hostname: string;
  startedAt: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(file: string): LockOwner | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as LockOwner;
  } catch {
    return null;
  }
}

export function lockDataDir(dir: string): { release(): void } {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, 'steward.lock');
  const me: LockOwner = { pid: process.pid, hostname: os.hostname(), startedAt: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify(me), { flag: 'wx', mode: 0o600 });
      return {
        release() {
          if (readOwner(file)?.pid === process.pid) fs.rmSync(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = readOwner(file);
      const stale = owner !== null && owner.hostname === me.hostname && owner.pid !== process.pid && !isAlive(owner.pid);
      if (!stale) {
        const who = owner ? `process ${owner.pid} on ${owner.hostname} since ${owner.startedAt}` : 'another process';
        throw new DataDirLockedError(
          `the data directory ${dir} is in use by ${who}; stop that server first, or point STEWARD_DATA_DIR elsewhere ` +
            `(two servers on one embedded database lose data)`,
        );
      }
      fs.rmSync(file, { force: true });
    }
  }
  throw new DataDirLockedError(`could not lock the data directory ${dir}`);
}
