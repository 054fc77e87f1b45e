import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PosixPrivateFiles } from '../../../agent/platform/private-files-posix.ts';
import { WindowsPrivateFiles } from '../../../agent/platform/private-files-windows.ts';
import { exits, ok, TranscriptRunner } from '../../helpers/transcript-runner.ts';

describe('PosixPrivateFiles (real files)', () => {
  it('restricts to 0600 and refuses group- or world-readable files', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'steward-pf-')), 'agent.key');
    fs.writeFileSync(file, 'secret', { mode: 0o644 });
    const files = new PosixPrivateFiles();
    await expect(files.assertPrivate(file)).rejects.toThrow('readable by other users (mode 644)');
    await files.restrict(file);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    await expect(files.assertPrivate(file)).resolves.toBeUndefined();
    fs.chmodSync(file, 0o640);
    await expect(files.assertPrivate(file)).rejects.toThrow('mode 640');
  });
});

// Contract tests: output shapes from Microsoft's documentation of `whoami /user /fo csv /nh` (one CSV line: name,
// SID), `icacls` (grant syntax "*SID:(F)", "Successfully processed 1 files") and Get-Acl's FileSystemAccessRule
// (IdentityReference translated to SecurityIdentifier; AccessControlType Allow/Deny) serialized by ConvertTo-Json.
const WHOAMI = ['whoami', '/user', '/fo', 'csv', '/nh'];
const whoami = ok(WHOAMI, '"nt authority\\system","S-1-5-18"\r\n');
const aclScript = (runner: TranscriptRunner) => runner.calls.find((c) => c[0] === 'powershell.exe');

describe('WindowsPrivateFiles (contract)', () => {
  it('restricts with icacls by SID, inheritance removed, never by localized names', async () => {
    const icacls = ['icacls', 'C:\\ProgramData\\Steward\\Agent\\agent.key', '/inheritance:r', '/grant:r', '*S-1-5-18:(F)', '/grant:r', '*S-1-5-32-544:(F)'];
    const runner = new TranscriptRunner([whoami, ok(icacls, 'processed file: C:\\ProgramData\\Steward\\Agent\\agent.key\r\nSuccessfully processed 1 files; Failed processing 0 files\r\n')]);
    await new WindowsPrivateFiles(runner.run).restrict('C:\\ProgramData\\Steward\\Agent\\agent.key');
    expect(runner.unexpected).toEqual([]);
    expect(runner.uncalled()).toEqual([]);
  });

  it('surfaces an icacls failure instead of pretending the file is protected', async () => {
    const icacls = ['icacls', 'C:\\k', '/inheritance:r', '/grant:r', '*S-1-5-18:(F)', '/grant:r', '*S-1-5-32-544:(F)'];
    const runner = new TranscriptRunner([whoami, exits(icacls, 5, '', 'C:\\k: Access is denied.\r\nSuccessfully processed 0 files; Failed processing 1 files\r\n')]);
    await expect(new WindowsPrivateFiles(runner.run).restrict('C:\\k')).rejects.toThrow('Access is denied');
  });

  const aclRunner = (json: string) => {
    const runner = new TranscriptRunner([whoami]);
    const run = runner.run;
    return {
      runner,
      files: new WindowsPrivateFiles(async (file, args, opts) => {
        if (file === 'powershell.exe') {
          runner.calls.push([file, ...args]);
          expect(opts?.env?.STEWARD_PRIVATE_FILE).toBe('C:\\k');
          return { code: 0, stdout: json, stderr: '' };
        }
        return run(file, args, opts);
      }),
    };
  };

  it('accepts a key readable only by SYSTEM and Administrators', async () => {
    const { files, runner } = aclRunner('[{"sid":"S-1-5-18","type":"Allow"},{"sid":"S-1-5-32-544","type":"Allow"}]');
    await expect(files.assertPrivate('C:\\k')).resolves.toBeUndefined();
    expect(aclScript(runner)?.join(' ')).toContain('Get-Acl -LiteralPath $env:STEWARD_PRIVATE_FILE');
  });

  it('refuses a key that Users (S-1-5-32-545) or Everyone (S-1-1-0) can read; a single ACE is an object, not an array', async () => {
    const { files } = aclRunner('[{"sid":"S-1-5-18","type":"Allow"},{"sid":"S-1-5-32-545","type":"Allow"},{"sid":"S-1-1-0","type":"Allow"}]');
    await expect(files.assertPrivate('C:\\k')).rejects.toThrow('readable by S-1-5-32-545, S-1-1-0');
    const single = aclRunner('{"sid":"S-1-1-0","type":"Allow"}');
    await expect(single.files.assertPrivate('C:\\k')).rejects.toThrow('readable by S-1-1-0');
    const denied = aclRunner('[{"sid":"S-1-5-18","type":"Allow"},{"sid":"S-1-1-0","type":"Deny"}]');
    await expect(denied.files.assertPrivate('C:\\k')).resolves.toBeUndefined();
  });
});
