import { and, eq, sql } from 'drizzle-orm';
import { GRANT_START_WINDOW_MS, signSessionGrant } from '../../protocol/session-grant.ts';
import type { Actor } from '../access/actor.ts';
import { authorize } from '../access/authorizer.ts';
import { demand, visible } from '../access/demand.ts';
import { reachOf } from '../access/reach.ts';
import { auditOf } from '../audit/audit-event.ts';
import type { AppContext } from '../context.ts';
import { assignments } from '../db/schema.ts';
import { DomainError, NotFound, Unavailable } from '../errors.ts';
import { machineResource } from '../machines/machine-service.ts';
import { findMachine } from '../machines/machine-store.ts';
import * as store from './session-store.ts';

/** How long the agent may take to verify the grant, spawn the shell and attach the link. */
const OPEN_TIMEOUT_MS = 20_000;

const sessionResource = (s: { machineId: string; siteId: string; clientId: string }) => ({ type: 'machine' as const, machineId: s.machineId, siteId: s.siteId, clientId: s.clientId });

/**
 * Opens a terminal on a machine for the caller: the authorizer first (`sessions.join` over the machine, which covers
 * Allow Remote Control Access, MFA policy and assignment rights and expiry), then a grant signed with the server
 * key that the agent checks again on its own. Answers once the agent's link is attached and the session is live.
 */
export async function requestSession(ctx: AppContext, actor: Actor, machineId: string, input: { cols: number; rows: number }) {
  const machine = await findMachine(ctx.db, machineId);
  if (!machine) {
    await demand(ctx, actor, 'sessions.join', { type: 'collection', of: 'machines' });
    throw new NotFound('machine not found');
  }
  const resource = machineResource(machine);
  await demand(ctx, actor, 'sessions.join', resource);
  if (!machine.online) throw new Unavailable('the machine is offline', 'machine_offline');
  const files = authorize(actor, 'sessions.files', resource).allowed;
  const created = await ctx.db.transaction(async (tx) => {
    const row = await store.insertSession(tx, { machineId, userId: actor.userId, ownerTokenId: actor.token.id, runAs: 'agent', files, cols: input.cols, rows: input.rows, endsAt: null, requestedFrom: actor.address });
    await ctx.audit.record(tx, auditOf(actor, 'session.request', 'session', row.id, { machineId, kind: 'terminal', files, outcome: 'granted' }));
    return row;
  });
  const issuedAt = new Date();
  const grant = signSessionGrant(
    {
      sessionId: created.id,
      machineId,
      userId: actor.userId,
      kind: 'terminal',
      runAs: 'agent',
      files,
      issuedAt: issuedAt.toISOString(),
      startBy: new Date(issuedAt.getTime() + GRANT_START_WINDOW_MS).toISOString(),
      endsAt: null,
    },
    ctx.identity.sign,
  );
  try {
    await ctx.agents.request(machineId, 'session.open', { grant, cols: input.cols, rows: input.rows }, OPEN_TIMEOUT_MS);
  } catch (error) {
    const reason = (error as Error).message;
    await store.markEnded(ctx.db, created.id, { status: 'failed', reason, exitCode: null });
    await ctx.audit.record(ctx.db, { ...auditOf(actor, 'session.start', 'session', created.id, { machineId, reason }), outcome: 'failure' });
    if (error instanceof DomainError && error.code === 'agent_error') throw new DomainError(502, 'agent_refused', reason);
    throw error;
  }
  await ctx.db
    .update(assignments)
    .set({ lastUsedAt: sql`now()` })
    .where(and(eq(assignments.userId, actor.userId), eq(assignments.machineId, machineId)));
  return sessionView(ctx, created.id);
}

async function sessionView(ctx: AppContext, id: string) {
  const row = await store.findSession(ctx.db, id);
  if (!row) throw new NotFound('session not found');
  return { ...row, streamPath: `/api/v1/sessions/${row.id}/stream` };
}

/** A session, visible to whoever may at least observe sessions on its machine. */
export async function getSession(ctx: AppContext, actor: Actor, id: string) {
  const row = await store.findSession(ctx.db, id);
  if (!row) {
    await demand(ctx, actor, 'sessions.view_only', { type: 'collection', of: 'machines' });
    throw new NotFound('session not found');
  }
  await demand(ctx, actor, 'sessions.view_only', sessionResource(row));
  return { ...row, streamPath: `/api/v1/sessions/${row.id}/stream`, participants: await store.listParticipants(ctx.db, id) };
}

export async function listSessions(ctx: AppContext, actor: Actor, filter: { machineId?: string; status?: string; live?: boolean; limit: number }) {
  await demand(ctx, actor, 'sessions.view_only', { type: 'collection', of: 'machines' });
  const rows = await store.listSessions(ctx.db, filter, filter.limit, reachOf(actor));
  return visible(actor, 'sessions.view_only', rows, sessionResource).map((row) => ({ ...row, streamPath: `/api/v1/sessions/${row.id}/stream` }));
}

/**
 * Ends a live session: its owner may always end it; anyone else needs `sessions.approve` over the machine (the
 * supervisor's "kill session"). The relaying replica, told through the database, closes it within a second.
 */
export async function endSession(ctx: AppContext, actor: Actor, id: string) {
  const row = await store.findSession(ctx.db, id);
  if (!row) {
    await demand(ctx, actor, 'sessions.approve', { type: 'collection', of: 'machines' });
    throw new NotFound('session not found');
  }
  if (row.userId !== actor.userId) await demand(ctx, actor, 'sessions.approve', sessionResource(row));
  const requested = await ctx.db.transaction(async (tx) => {
    const changed = await store.requestEnd(tx, id, `ended by ${actor.name}`);
    if (changed) await ctx.audit.record(tx, auditOf(actor, 'session.kill', 'session', id, { machineId: row.machineId, ownerId: row.userId }));
    return changed;
  });
  if (!requested && !store.LIVE_STATUSES.includes(row.status as (typeof store.LIVE_STATUSES)[number])) {
    throw new DomainError(409, 'session_not_live', `the session is already ${row.status}`);
  }
  // This replica may relay it: end it now rather than wait for the notification to come back.
  ctx.sessions.get(id)?.end(`ended by ${actor.name}`);
  return { id, ending: true };
}
