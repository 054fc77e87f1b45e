/**
 * Fault injection for the credential rotation's crash-safety test: with STEWARD_CRASH_AT naming a point, the process
 * kills itself (SIGKILL, no clean-up) the first time it reaches it, exactly as a power cut or an OOM kill would. Unset
 * in production; the points are named once here so the test and the code agree.
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
  if (process.env.STEWARD_CRASH_AT === name) process.kill(process.pid, 'SIGKILL');
}
