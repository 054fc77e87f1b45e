import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MacosInventoryExtras } from '../../../agent/inventory/extras-macos.ts';
import { TranscriptRunner, exits, loadTranscript, ok, type Scripted } from '../../helpers/transcript-runner.ts';

// Contract tests: transcripts carry the exact argv the agent must run and output shaped after Apple's man pages.
const dir = path.resolve(import.meta.dirname, '../../fixtures/inventory/macos');
const transcript = (name: string) => loadTranscript(path.join(dir, name));
const FAKE_ROOT = path.join(dir, 'root');

let runner: TranscriptRunner;
function extras(...scripted: Scripted[]) {
  runner = new TranscriptRunner(scripted);
  return new MacosInventoryExtras(runner.run, { root: FAKE_ROOT, now: () => new Date(2024, 10, 20, 12, 0) });
}
afterEach(() => {
  expect(runner.unexpected).toEqual([]);
});

describe('software', () => {
  it('reads system_profiler JSON, with publishers from the Apple origin or the Developer ID signer', async () => {
    const software = await extras(transcript('system-profiler-applications.txt')).software();
    expect(software).toEqual([
      { name: 'Safari', version: '18.0', publisher: 'Apple Inc.', source: 'applications' },
      { name: 'Google Chrome', version: '129.0.6668.90', publisher: 'Google LLC', source: 'applications' },
      { name: 'Numbers', version: '14.2', publisher: null, source: 'applications' },
      { name: 'InHouseTool', version: null, publisher: null, source: 'applications' },
    ]);
  });

  it('falls back to the .app bundles in /Applications when system_profiler fails', async () => {
    const profiler = transcript('system-profiler-applications.txt');
    const plist = (app: string) => path.join(FAKE_ROOT, 'Applications', `${app}.app`, 'Contents', 'Info');
    const x = extras(
      { ...profiler, result: { code: 1, stdout: '', stderr: 'system_profiler: timed out\n' } },
      ok(['defaults', 'read', plist('Firefox'), 'CFBundleShortVersionString'], '131.0.2\n'),
      // `defaults read` on a missing key: message on stderr, exit 1.
      exits(['defaults', 'read', plist('Slack'), 'CFBundleShortVersionString'], 1, '', 'The domain/default pair does not exist\n'),
    );
    expect(await x.software()).toEqual([
      { name: 'Firefox', version: '131.0.2', publisher: null, source: 'applications' },
      { name: 'Slack', version: null, publisher: null, source: 'applications' },
    ]);
  });
});

describe('local accounts', () => {
  it('lists regular users (uid >= 500, no "_" service accounts) with real names and admin membership', async () => {
    const x = extras(
      transcript('dscl-users-uniqueid.txt'),
      transcript('dscl-users-realname.txt'),
      transcript('dscl-admin-group.txt'),
    );
    expect(await x.localAccounts()).toEqual([
      { name: 'alice', fullName: 'Alice Appleseed', uid: '501', isAdmin: true, disabled: null },
      { name: 'bob', fullName: 'Bob Builder', uid: '502', isAdmin: false, disabled: null },
      { name: 'svc-kiosk', fullName: null, uid: '503', isAdmin: false, disabled: null },
    ]);
  });

  it('fails rather than reporting no accounts when dscl fails', async () => {
    const ids = transcript('dscl-users-uniqueid.txt');
    const x = extras(
      { ...ids, result: { code: 1, stdout: '', stderr: 'DS Error: -14009 (eDSUnknownNodeName)\n' } },
      transcript('dscl-users-realname.txt'),
      transcript('dscl-admin-group.txt'),
    );
    await expect(x.localAccounts()).rejects.toThrow(/eDSUnknownNodeName/);
  });
});

describe('logged-in users, kind, domain, FQDN', () => {
  it('parses BSD who output', async () => {
    expect(await extras(transcript('who.txt')).loggedInUsers()).toEqual([
      { name: 'alice', terminal: 'console', host: null, since: new Date(2024, 10, 20, 8, 1).toISOString() },
      { name: 'alice', terminal: 'ttys000', host: null, since: new Date(2024, 10, 20, 9, 12).toISOString() },
      { name: 'bob', terminal: 'ttys001', host: '192.0.2.44', since: new Date(2024, 10, 20, 10, 3).toISOString() },
    ]);
  });

  it('is a desktop unless configured otherwise, without running anything', async () => {
    expect(await extras().machineKind()).toBe('desktop');
    expect(runner.calls).toEqual([]);
  });

  it('is a member of the "Active Directory Domain" dsconfigad shows when bound', async () => {
    expect(await extras(transcript('dsconfigad-bound.txt')).domainRole()).toEqual({
      role: 'member',
      domain: 'corp.example.com',
    });
  });

  it('is standalone when dsconfigad shows nothing', async () => {
    expect(await extras(transcript('dsconfigad-unbound.txt')).domainRole()).toEqual({ role: 'standalone', domain: null });
  });

  it('takes the FQDN from scutil HostName, else hostname -f', async () => {
    expect(await extras(ok(['scutil', '--get', 'HostName'], 'mac-build-01.corp.example.com\n')).fqdn()).toBe(
      'mac-build-01.corp.example.com',
    );
    expect(await extras(transcript('scutil-hostname-not-set.txt'), transcript('hostname-f.txt')).fqdn()).toBe(
      'alice-mbp.local',
    );
  });
});
