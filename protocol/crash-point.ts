import { readFileSync, rmSync } from 'node:fs';

/**
 * Fault injection for the credential rotation's crash-safety test. With STEWARD_CRASH_FILE naming a file, a process
 * that reaches the crash point written in that file removes the file and kills itself (SIGKILL: no clean-up, no
 * flushing), exactly as a power cut or an OOM kill would; the test writes the next point and restarts what died.
 * Unset in production. The points are named once here so the test and the code agree.
 */
export type CrashPointName =
  | 'agent.prepared'
  | 'agent.before_set'
  | 'agent.after_set'
  | 'agent.applied'
  | 'server.prepared'
  | 'server.pending_stored'
  | 'server.applied';

export const CRASH_POINTS: readonly CrashPointName[] = [
  'agent.prepared',
  'agent.before_set',
  'agent.after_set',
  'agent.applied',
  'server.prepared',
  'server.pending_stored',
  'server.applied',
];

export function crashPoint(name: CrashPointName): void {
  const file = process.env.STEWARD_CRASH_FILE;
  if (!file) return;
  let armed = '';
  try {
    armed = readFileSync(file, 'utf8').trim();
  } catch {
    return;
  }
  if (armed !== name) return;
  rmSync(file, { force: true });
  process.kill(process.pid, 'SIGKILL');
}
