import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { CRASH_POINTS } from '../../protocol/crash-point.ts';
import { linuxFakeRoot, linuxPasswordOpens } from '../helpers/account-stores.ts';
import { startCrashWorld, type CrashWorld } from '../helpers/crash-world.ts';

/**
 * Rotation never loses a password, on a fake-root /etc: the agent and the server are killed at every step of the
 * two-phase rotation, RUNS_PER_POINT times each, and after every kill an escrowed password opens the real account
 * (crypt(3) against the shadow file). Needs PostgreSQL: the escrow is read from the database while the server is down.
 */
const RUNS_PER_POINT = Number(process.env.STEWARD_CRASH_RUNS ?? 5);
const havePostgres = !!process.env.DATABASE_URL;
if (!havePostgres) console.warn('SKIPPED: credential crash-safety runs (fake root): they need DATABASE_URL (real PostgreSQL); CI sets it');

describe.skipIf(!havePostgres)('rotation crash safety on a fake-root /etc', () => {
  let world: CrashWorld;
  let root: string;

  beforeAll(async () => {
    root = linuxFakeRoot();
    world = await startCrashWorld({
      kind: 'desktop',
      purpose: 'remote_support',
      agentEnv: { STEWARD_AGENT_ACCOUNTS_ROOT: root },
      policy: {
        server: { enabled: false, username: 'NOC_HelpDesk', nocAccessLevel: 0, serviceLevel: 'standard' },
        desktop: { enabled: true },
        rotation: { mode: 'characters', length: 20, classes: ['lower', 'upper', 'digit', 'symbol'], passphraseWords: 6, maxAgeDays: 30, rotateAfterUseMinutes: 60, historyDepth: 3, rotateOnAccessRevoked: true },
      },
      opens: async (password) => linuxPasswordOpens(root, 'remote-support', password),
    });
  }, 120_000);
  afterAll(async () => {
    await world?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it.each(CRASH_POINTS)(`survives ${RUNS_PER_POINT} kills at %s`, async (point) => {
    for (let i = 0; i < RUNS_PER_POINT; i++) await world.run(point);
  }, 600_000);
});
