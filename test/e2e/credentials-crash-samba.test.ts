import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { SambaAdAccounts } from '../../agent/accounts/samba-ad.ts';
import { runCommand } from '../../agent/platform/run-command.ts';
import { CRASH_POINTS } from '../../protocol/crash-point.ts';
import { HAVE_SAMBA, provisionSambaDomain } from '../helpers/account-stores.ts';
import { startCrashWorld, type CrashWorld } from '../helpers/crash-world.ts';

/**
 * Rotation never loses a password, on a real Samba AD domain controller: the agent reports the DC (testparm on the
 * domain's smb.conf), setup creates the NOC account in the domain, and the agent and the server are killed at every
 * step of every rotation, RUNS_PER_POINT times each. After every kill an escrowed password must match the account's
 * NT hash in sam.ldb.
 */
const RUNS_PER_POINT = Number(process.env.STEWARD_CRASH_RUNS ?? 3);
const havePostgres = !!process.env.DATABASE_URL;
if (!havePostgres) console.warn('SKIPPED: credential crash-safety runs (Samba AD): they need DATABASE_URL (real PostgreSQL); CI sets it');
if (!HAVE_SAMBA) console.warn('SKIPPED: credential crash-safety runs (Samba AD): samba-tool missing (apt-get install samba samba-ad-provision)');

describe.skipIf(!havePostgres || !HAVE_SAMBA)('rotation crash safety on a Samba AD domain controller', () => {
  let world: CrashWorld;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'steward-crash-samba-'));
    const smbConf = await provisionSambaDomain(dir);
    const domain = new SambaAdAccounts(runCommand, { smbConf });
    world = await startCrashWorld({
      kind: 'server',
      purpose: 'noc',
      agentEnv: { STEWARD_AGENT_SMB_CONF: smbConf },
      policy: {
        server: { enabled: true, username: 'NOC_HelpDesk', nocAccessLevel: 2, serviceLevel: 'elite' },
        desktop: { enabled: false },
        rotation: { mode: 'characters', length: 20, classes: ['lower', 'upper', 'digit', 'symbol'], passphraseWords: 6, maxAgeDays: 30, rotateAfterUseMinutes: 60, historyDepth: 3, rotateOnAccessRevoked: true },
      },
      opens: (password) => domain.verifyPassword('NOC_HelpDesk', password),
    });
  }, 180_000);
  afterAll(async () => {
    await world?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each(CRASH_POINTS)(`survives ${RUNS_PER_POINT} kills at %s`, async (point) => {
    for (let i = 0; i < RUNS_PER_POINT; i++) await world.run(point);
  }, 600_000);
});
