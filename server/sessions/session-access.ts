import type { Actor } from '../access/actor.ts';
import { authorize, type Decision } from '../access/authorizer.ts';
import type { ParticipantRole } from './session-relay.ts';

export type MachineResource = { type: 'machine'; machineId: string; siteId: string; clientId: string };

/**
 * The role a user may hold in a session on this machine, from two questions to the one authorizer: `sessions.join`
 * gives input (`owner` for the user the session was granted to, else `participant`), `sessions.view_only` alone —
 * a view-only assignment — gives `observer`. Asked when a console attaches and again on every access change;
 * `join` is always the `sessions.join` decision, whose reason explains why someone cannot (or can no longer) type.
 */
export function sessionRole(
  actor: Actor,
  machine: MachineResource,
  opts: { isOwner: boolean; wantsObserver: boolean },
  now = new Date(),
): { role: ParticipantRole | null; decision: Decision; join: Decision } {
  const join = authorize(actor, 'sessions.join', machine, now);
  if (join.allowed) return { role: opts.wantsObserver ? 'observer' : opts.isOwner ? 'owner' : 'participant', decision: join, join };
  const view = authorize(actor, 'sessions.view_only', machine, now);
  if (view.allowed) return { role: 'observer', decision: view, join };
  return { role: null, decision: join, join };
}
