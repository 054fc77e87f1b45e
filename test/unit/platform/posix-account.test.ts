import { describe, expect, it } from 'vitest';
import { parseDsclAccount, parsePasswdLine, posixAccount } from '../../../agent/platform/posix-account.ts';
import { ok, TranscriptRunner } from '../../helpers/transcript-runner.ts';

describe('looking up the account a session runs as', () => {
  it('reads a passwd(5) line', () => {
    expect(parsePasswdLine('remote-support:x:1001:1001:Remote Support,,,,Managed by Steward:/home/remote-support:/bin/bash')).toEqual({
      name: 'remote-support',
      uid: 1001,
      gid: 1001,
      home: '/home/remote-support',
      shell: '/bin/bash',
    });
    expect(parsePasswdLine('broken:x:abc:1:::')).toBeNull();
  });

  it('reads `dscl . -read` output on macOS (dscl(1): "Key: value", long values continued on the next line)', async () => {
    // Shape as printed by dscl for a user record; a home path with a space is printed on a continuation line.
    const stdout = 'NFSHomeDirectory:\n /Users/Remote Support\nPrimaryGroupID: 20\nUniqueID: 502\nUserShell: /bin/zsh\n';
    const runner = new TranscriptRunner([ok(['dscl', '.', '-read', '/Users/Remote Support', 'UniqueID', 'PrimaryGroupID', 'NFSHomeDirectory', 'UserShell'], stdout)]);
    expect(await posixAccount(runner.run, 'macos', 'Remote Support')).toEqual({ name: 'Remote Support', uid: 502, gid: 20, home: '/Users/Remote Support', shell: '/bin/zsh' });
    expect(runner.unexpected).toEqual([]);
    expect(parseDsclAccount('x', 'UniqueID: 5\n')).toBeNull();
  });
});
