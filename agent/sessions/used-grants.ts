import fs from 'node:fs';
import path from 'node:path';
import { GRANT_CLOCK_SKEW_MS, GrantRefused, type SessionGrantBody } from '../../protocol/session-grant.ts';
import { privateFilesForThisPlatform } from '../platform/private-files.ts';
import { writeAtomic } from '../state/agent-state.ts';

const FILE = 'used-session-grants.json';

/**
 * The session ids this agent has already started, kept on disk until their grants could no longer be used anyway,
 * so a captured grant cannot be replayed — not even across an agent restart.
 */
export class UsedGrants {
  private used: Map<string, number> | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly stateDir: string) {}

  /** Records the grant's session id, refusing one seen before. Resolves once the record is on disk. */
  async claim(grant: SessionGrantBody, now = Date.now()): Promise<void> {
    const used = this.load();
    for (const [id, until] of used) if (until < now) used.delete(id);
    if (used.has(grant.sessionId)) throw new GrantRefused('already used (replay)');
    used.set(grant.sessionId, Date.parse(grant.startBy) + 2 * GRANT_CLOCK_SKEW_MS);
    const content = JSON.stringify(Object.fromEntries(used));
    this.writing = this.writing.then(() => writeAtomic(path.join(this.stateDir, FILE), content, privateFilesForThisPlatform()));
    await this.writing;
  }

  private load(): Map<string, number> {
    if (this.used) return this.used;
    const file = path.join(this.stateDir, FILE);
    let entries: [string, number][] = [];
    try {
      const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
      entries = Object.entries(parsed).filter((e): e is [string, number] => typeof e[1] === 'number');
    } catch (error) {
      // Missing is normal (no session yet); unreadable means replays cannot be ruled out, so refuse to go on.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new GrantRefused(`the record of used grants is unreadable (${(error as Error).message})`);
    }
    this.used = new Map(entries);
    return this.used;
  }
}
