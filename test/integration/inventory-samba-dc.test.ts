import { existsSync } from 'node:fs';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinuxInventoryExtras } from '../../agent/inventory/extras-linux.ts';
import { runCommand } from '../../agent/platform/run-command.ts';

// Domain role detection against a real, freshly provisioned Samba AD DC (no daemon needed): the real testparm
// answers, so a wrong option spelling or output assumption fails here. Needs `apt-get install samba`.
const haveSamba = existsSync('/usr/bin/samba-tool') && existsSync('/usr/bin/testparm');
let dir: string;
if (!haveSamba) console.warn('SKIPPED: Samba AD DC domain-role test: samba-tool/testparm missing (apt-get install samba samba-ad-provision)');

describe.skipIf(!haveSamba)('Linux domain role against a provisioned Samba AD DC', () => {
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'steward-dc-'));
    await writeFile(path.join(dir, 'empty.conf'), '');
    // No --adminpass: samba-tool then makes up a random one, and no password ever reaches argv.
    const provision = await runCommand(
      'samba-tool',
      ['domain', 'provision', '-s', path.join(dir, 'empty.conf'), '--realm=CORP.TEST', '--domain=CORP',
        '--server-role=dc', '--dns-backend=NONE', '--use-rfc2307', `--targetdir=${path.join(dir, 'dc')}`],
      { timeoutMs: 90_000 },
    );
    expect(provision.code, provision.stderr).toBe(0);
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('detects the domain controller and its DNS domain', async () => {
    const extras = new LinuxInventoryExtras(runCommand, { smbConf: path.join(dir, 'dc/etc/smb.conf') });
    expect(await extras.domainRole()).toEqual({ role: 'domain_controller', domain: 'corp.test' });
  });

  it('does not call it a DC once the directory database is gone', async () => {
    await unlink(path.join(dir, 'dc/private/sam.ldb'));
    const extras = new LinuxInventoryExtras(runCommand, { smbConf: path.join(dir, 'dc/etc/smb.conf') });
    expect((await extras.domainRole()).role).not.toBe('domain_controller');
  });

  it('detects a winbind member from an ADS smb.conf', async () => {
    const memberConf = path.join(dir, 'member.conf');
    await writeFile(memberConf, '[global]\n  workgroup = CORP\n  realm = CORP.TEST\n  security = ADS\n');
    const extras = new LinuxInventoryExtras(runCommand, { smbConf: memberConf });
    expect(await extras.domainRole()).toEqual({ role: 'member', domain: 'corp.test' });
  });
});
