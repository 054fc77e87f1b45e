import { describe, expect, it } from 'vitest';
import { runCommand } from '../../../agent/platform/run-command.ts';

// Real child processes: this is the boundary every per-OS module relies on.
describe('runCommand', () => {
  it('captures stdout, stderr and the exit code without a shell', async () => {
    const result = await runCommand('sh', ['-c', 'echo out; echo err >&2; exit 3']);
    expect(result).toEqual({ code: 3, stdout: 'out\n', stderr: 'err\n' });
  });

  it('passes arguments verbatim: no globbing, no variable expansion', async () => {
    const result = await runCommand('printf', ['%s|', '*', '$HOME', 'a b']);
    expect(result.stdout).toBe('*|$HOME|a b|');
  });

  it('feeds input on stdin (the channel for secrets)', async () => {
    const result = await runCommand('cat', [], { input: 's3cret-on-stdin\n' });
    expect(result).toEqual({ code: 0, stdout: 's3cret-on-stdin\n', stderr: '' });
  });

  it('closes stdin when no input is given, so readers do not hang', async () => {
    const result = await runCommand('cat', [], { timeoutMs: 2_000 });
    expect(result).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('resolves a missing program to code null with ENOENT instead of throwing', async () => {
    const result = await runCommand('steward-no-such-program', ['--version']);
    expect(result.code).toBeNull();
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^ENOENT steward-no-such-program/);
  });

  it('kills the child at the timeout and says so', async () => {
    const started = Date.now();
    const result = await runCommand('sleep', ['10'], { timeoutMs: 200 });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(result.code).toBeNull();
    expect(result.stderr).toMatch(/timed out after 200 ms/);
  });

  it('uses the given env and cwd', async () => {
    const result = await runCommand('sh', ['-c', 'echo "$STEWARD_PROBE"; pwd'], {
      env: { PATH: process.env.PATH, STEWARD_PROBE: 'probe-value' },
      cwd: '/tmp',
    });
    expect(result.stdout).toBe('probe-value\n/tmp\n');
  });
});
