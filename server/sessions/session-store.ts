import { and, desc, eq, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import type { Reach } from '../access/reach.ts';
import type { Queryable } from '../db/open.ts';
import { reachCondition } from '../machines/machine-store.ts';
import { machines, sessionParticipants, sessions, sites, users } from '../db/schema.ts';

/** Sessions and their participants. Plain queries; the service decides who may run them. */

const view = {
  id: sessions.id,
  machineId: sessions.machineId,
  hostname: machines.hostname,
  siteId: machines.siteId,
  clientId: sites.clientId,
  userId: sessions.userId,
  userName: users.name,
  kind: sessions.kind,
  status: sessions.status,
  runAs: sessions.runAs,
  files: sessions.files,
  cols: sessions.cols,
  rows: sessions.rows,
  requestedAt: sessions.requestedAt,
  startedAt: sessions.startedAt,
  endedAt: sessions.endedAt,
  endReason: sessions.endReason,
  exitCode: sessions.exitCode,
  endsAt: sessions.endsAt,
  decidedBy: sessions.decidedBy,
  decidedAt: sessions.decidedAt,
  decisionReason: sessions.decisionReason,
};

export type SessionRow = Awaited<ReturnType<typeof findSession>> & {};

export const LIVE_STATUSES = ['starting', 'active'] as const;

export async function insertSession(
  q: Queryable,
  row: {
    machineId: string;
    userId: string;
    ownerTokenId: string;
    status?: 'starting' | 'awaiting_approval';
    runAs: string;
    files: boolean;
    cols: number;
    rows: number;
    requestedFrom: string;
    endsAt?: Date | null;
  },
) {
  const [created] = await q.insert(sessions).values({ status: 'starting', ...row }).returning({ id: sessions.id, requestedAt: sessions.requestedAt });
  return created;
}

/** Records an approver's decision on a request still awaiting one; false when it was decided already. */
export async function decide(q: Queryable, id: string, decision: { status: 'approved' | 'denied'; decidedBy: string; reason: string | null; endsAt: Date | null }) {
  const rows = await q
    .update(sessions)
    .set({ status: decision.status, decidedBy: decision.decidedBy, decidedAt: sql`now()`, decisionReason: decision.reason, endsAt: decision.endsAt })
    .where(and(eq(sessions.id, id), eq(sessions.status, 'awaiting_approval')))
    .returning({ id: sessions.id });
  return rows.length === 1;
}

/** `approved` → `starting` for the owner's start, with the sign-in they start it with; false if not approved or expired. */
export async function markStarting(q: Queryable, id: string, start: { ownerTokenId: string; cols: number; rows: number }): Promise<boolean> {
  const rows = await q
    .update(sessions)
    .set({ status: 'starting', ...start })
    .where(and(eq(sessions.id, id), eq(sessions.status, 'approved'), sql`${sessions.endsAt} > now()`))
    .returning({ id: sessions.id });
  return rows.length === 1;
}

/** A session with its machine's site and client (what the authorizer needs) and its owner's name. */
const selectSessions = (q: Queryable) =>
  q
    .select(view)
    .from(sessions)
    .innerJoin(machines, eq(machines.id, sessions.machineId))
    .innerJoin(sites, eq(sites.id, machines.siteId))
    .leftJoin(users, eq(users.id, sessions.userId));

export async function findSession(q: Queryable, id: string) {
  const [row] = await selectSessions(q).where(eq(sessions.id, id));
  return row ?? null;
}

export async function listSessions(q: Queryable, filter: { machineId?: string; status?: string; live?: boolean }, limit: number, reach: Reach | null) {
  const conditions: SQL[] = [];
  if (reach) conditions.push(reachCondition(reach));
  if (filter.machineId) conditions.push(eq(sessions.machineId, filter.machineId));
  if (filter.status) conditions.push(eq(sessions.status, filter.status));
  if (filter.live) conditions.push(inArray(sessions.status, [...LIVE_STATUSES]));
  return selectSessions(q)
    .where(conditions.length ? and(...conditions) : undefined)
    .orderBy(desc(sessions.requestedAt))
    .limit(limit);
}

/** `starting` → `active` once the agent's link attached; false when the session is no longer starting. */
export async function markActive(q: Queryable, id: string, relayUrl: string): Promise<boolean> {
  const rows = await q
    .update(sessions)
    .set({ status: 'active', startedAt: sql`now()`, relayHeartbeatAt: sql`now()`, relayUrl })
    .where(and(eq(sessions.id, id), eq(sessions.status, 'starting'), isNull(sessions.endRequestedAt)))
    .returning({ id: sessions.id });
  return rows.length === 1;
}

/** The replica relaying a live session (internal: never part of the session's public view). */
export async function relayUrlOf(q: Queryable, id: string): Promise<string | null> {
  const [row] = await q.select({ relayUrl: sessions.relayUrl }).from(sessions).where(eq(sessions.id, id));
  return row?.relayUrl ?? null;
}

/** Ends a session that is still live; returns false when something else ended it first. */
export async function markEnded(
  q: Queryable,
  id: string,
  outcome: { status: 'ended' | 'failed'; reason: string; exitCode: number | null; consentOutcome?: 'refused' | null },
): Promise<boolean> {
  const rows = await q
    .update(sessions)
    .set({
      status: outcome.status,
      endReason: outcome.reason.slice(0, 500),
      exitCode: outcome.exitCode,
      endedAt: sql`now()`,
      ...(outcome.consentOutcome ? { consentOutcome: outcome.consentOutcome } : {}),
    })
    .where(and(eq(sessions.id, id), inArray(sessions.status, [...LIVE_STATUSES])))
    .returning({ id: sessions.id });
  return rows.length === 1;
}

/** What the end user's part came to (the agent's report), kept on the session for its history. */
export async function recordConsent(q: Queryable, id: string, outcome: string): Promise<void> {
  await q.update(sessions).set({ consentOutcome: outcome }).where(eq(sessions.id, id));
}

/** Asks whichever replica relays the session to end it (the trigger notifies every replica). */
export async function requestEnd(q: Queryable, id: string, reason: string): Promise<boolean> {
  const rows = await q
    .update(sessions)
    .set({ endRequestedAt: sql`now()`, endReason: reason.slice(0, 500) })
    .where(and(eq(sessions.id, id), inArray(sessions.status, [...LIVE_STATUSES]), isNull(sessions.endRequestedAt)))
    .returning({ id: sessions.id });
  return rows.length === 1;
}

/** Of the given sessions, those that must end: no longer live, or asked to end. */
export async function sessionsToEnd(q: Queryable, ids: string[]): Promise<Map<string, string>> {
  if (!ids.length) return new Map();
  const rows = await q
    .select({ id: sessions.id, status: sessions.status, endRequestedAt: sessions.endRequestedAt, endReason: sessions.endReason })
    .from(sessions)
    .where(inArray(sessions.id, ids));
  const found = new Map(rows.map((r) => [r.id, r]));
  const result = new Map<string, string>();
  for (const id of ids) {
    const row = found.get(id);
    if (!row) result.set(id, 'the session was deleted');
    else if (row.endRequestedAt) result.set(id, row.endReason ?? 'ended on request');
    else if (row.status !== 'active') result.set(id, `the session is ${row.status}`);
  }
  return result;
}

/** The relaying replica's proof of life for its sessions, one statement per tick. */
export async function touchRelays(q: Queryable, ids: string[]): Promise<void> {
  if (ids.length) await q.update(sessions).set({ relayHeartbeatAt: sql`now()` }).where(inArray(sessions.id, ids));
}

/**
 * Ends sessions whose relay stopped proving life (its replica died); returns their ids. A session still starting has
 * no relay yet: it gets at least `startingSeconds` (the end user's consent, then the agent's attach) before it counts
 * as lost.
 */
export async function sweepLostRelays(q: Queryable, silentSeconds: number, startingSeconds: number): Promise<string[]> {
  const silentFor = sql`now() - coalesce(${sessions.relayHeartbeatAt}, ${sessions.requestedAt})`;
  const rows = await q
    .update(sessions)
    .set({ status: 'ended', endReason: 'the relaying server stopped', endedAt: sql`now()` })
    .where(
      and(
        inArray(sessions.status, [...LIVE_STATUSES]),
        sql`${silentFor} > make_interval(secs => case when ${sessions.status} = 'starting' then greatest(${silentSeconds}::integer, ${startingSeconds}::integer) else ${silentSeconds}::integer end)`,
      ),
    )
    .returning({ id: sessions.id });
  return rows.map((r) => r.id);
}

export async function insertParticipant(q: Queryable, row: { sessionId: string; userId: string; role: string; address: string }) {
  const [created] = await q.insert(sessionParticipants).values(row).returning({ id: sessionParticipants.id, joinedAt: sessionParticipants.joinedAt });
  return created;
}

export async function markParticipantLeft(q: Queryable, id: string, reason: string, droppedInputs: number): Promise<void> {
  await q
    .update(sessionParticipants)
    .set({ leftAt: sql`now()`, leftReason: reason.slice(0, 500), droppedInputs })
    .where(and(eq(sessionParticipants.id, id), isNull(sessionParticipants.leftAt)));
}

export async function listParticipants(q: Queryable, sessionId: string) {
  return q
    .select({
      id: sessionParticipants.id,
      userId: sessionParticipants.userId,
      name: users.name,
      role: sessionParticipants.role,
      joinedAt: sessionParticipants.joinedAt,
      leftAt: sessionParticipants.leftAt,
      leftReason: sessionParticipants.leftReason,
      droppedInputs: sessionParticipants.droppedInputs,
    })
    .from(sessionParticipants)
    .leftJoin(users, eq(users.id, sessionParticipants.userId))
    .where(eq(sessionParticipants.sessionId, sessionId))
    .orderBy(sessionParticipants.joinedAt);
}

/** What a session link needs: the session's state and owner, and the machine's agent key to check the link's proof. */
export async function linkTargetOf(q: Queryable, sessionId: string) {
  const [row] = await q
    .select({
      status: sessions.status,
      machineId: sessions.machineId,
      hostname: machines.hostname,
      siteId: machines.siteId,
      clientId: sites.clientId,
      userId: sessions.userId,
      userName: users.name,
      ownerTokenId: sessions.ownerTokenId,
      cols: sessions.cols,
      rows: sessions.rows,
      endsAt: sessions.endsAt,
      agentPublicKey: machines.agentPublicKey,
    })
    .from(sessions)
    .innerJoin(machines, eq(machines.id, sessions.machineId))
    .innerJoin(sites, eq(sites.id, machines.siteId))
    .leftJoin(users, eq(users.id, sessions.userId))
    .where(eq(sessions.id, sessionId));
  return row ?? null;
}
