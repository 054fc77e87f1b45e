import { and, eq, sql } from 'drizzle-orm';
import { CONSENT_TIMEOUT_MS, GRANT_START_WINDOW_MS, signSessionGrant, type SessionConsent } from '../../protocol/session-grant.ts';
import type { Actor } from '../access/actor.ts';
import { authorize } from '../access/authorizer.ts';
import { demand, visible } from '../access/demand.ts';
import { reachOf } from '../access/reach.ts';
import { auditOf } from '../audit/audit-event.ts';
import type { AppContext } from '../context.ts';
import { assignments } from '../db/schema.ts';
import { AgentRefusal } from '../gateway/agent-connection.ts';
import { Conflict, DomainError, Forbidden, NotFound, Unavailable } from '../errors.ts';
import { machineResource } from '../machines/machine-service.ts';
import { findMachine } from '../machines/machine-store.ts';
import { sessionPolicyOf } from './session-policy-store.ts';
import * as store from './session-store.ts';

/** How long the agent may take to verify the grant, spawn the shell and attach the link. */
const OPEN_TIMEOUT_MS = 20_000;
/** Added when the end user is only told: delivering the notice (a desktop notification) may take a moment. */
const NOTICE_TIMEOUT_MS = 10_000;

const sessionResource = (s: { machineId: string; siteId: string; clientId: string }) => ({ type: 'machine' as const, machineId: s.machineId, siteId: s.siteId, clientId: s.clientId });
const withStream = <T extends { id: string }>(row: T) => ({ ...row, streamPath: `/api/v1/sessions/${row.id}/stream` });

/**
 * Opens a terminal on a machine for the caller: the authorizer first (`sessions.join` over the machine, which covers
 * Allow Remote Control Access, MFA policy and assignment rights and expiry), then the site's policy: on a server of a
 * site that requires approval the request waits (`awaiting_approval`) for someone with `sessions.approve`; otherwise
 * a grant signed with the server key goes to the agent, which checks it again on its own. Answers once the agent's
 * link is attached and the session is live.
 */
export async function requestSession(ctx: AppContext, actor: Actor, machineId: string, input: { cols: number; rows: number }) {
  const machine = await findMachine(ctx.db, machineId);
  if (!machine) {
    await demand(ctx, actor, 'sessions.join', { type: 'collection', of: 'machines' });
    throw new NotFound('machine not found');
  }
  const resource = machineResource(machine);
  await demand(ctx, actor, 'sessions.join', resource);
  const policy = await sessionPolicyOf(ctx.db, machine.siteId);
  const needsApproval = policy.serverApproval && machine.kind === 'server';
  if (!needsApproval && !machine.online) throw new Unavailable('the machine is offline', 'machine_offline');
  const files = authorize(actor, 'sessions.files', resource).allowed;
  // The Remote Support account exists on desktops only; servers always run as the agent's account.
  const runAs = machine.kind === 'desktop' ? policy.runAs : 'agent';
  const created = await ctx.db.transaction(async (tx) => {
    const row = await store.insertSession(tx, {
      machineId,
      userId: actor.userId,
      ownerTokenId: actor.token.id,
      status: needsApproval ? 'awaiting_approval' : 'starting',
      runAs,
      files,
      cols: input.cols,
      rows: input.rows,
      requestedFrom: actor.address,
    });
    await ctx.audit.record(tx, auditOf(actor, 'session.request', 'session', row.id, { machineId, kind: 'terminal', files, outcome: needsApproval ? 'awaiting_approval' : 'granted' }));
    return row;
  });
  // The end user's say is for desktops; servers run unattended (and have approvals instead).
  const consent: SessionConsent = {
    mode: machine.kind === 'desktop' ? policy.desktopConsent : 'none',
    requester: actor.name,
    whenNobody: policy.consentWhenNobody,
  };
  if (!needsApproval) await openOnAgent(ctx, actor, { id: created.id, machineId, runAs, files, cols: input.cols, rows: input.rows, endsAt: null, consent });
  return sessionView(ctx, created.id);
}

/** Starts an approved session: its owner only, within the approved time, authorized again now. */
export async function startApprovedSession(ctx: AppContext, actor: Actor, id: string, input: { cols: number; rows: number }) {
  const row = await visibleSession(ctx, actor, id, 'sessions.join');
  if (row.userId !== actor.userId) throw await refused(ctx, actor, row, 'only the user who requested an approved session can start it');
  if (row.status !== 'approved') throw new Conflict(`the session is ${row.status}, not approved`);
  const machine = await findMachine(ctx.db, row.machineId);
  if (!machine?.online) throw new Unavailable('the machine is offline', 'machine_offline');
  const files = authorize(actor, 'sessions.files', sessionResource(row)).allowed;
  if (!(await store.markStarting(ctx.db, id, { ownerTokenId: actor.token.id, cols: input.cols, rows: input.rows }))) {
    throw new Conflict('the approval has expired or the session was started already');
  }
  const consent: SessionConsent = { mode: 'none', requester: actor.name, whenNobody: 'deny' };
  await openOnAgent(ctx, actor, { id, machineId: row.machineId, runAs: row.runAs as 'agent' | 'remote_support', files, cols: input.cols, rows: input.rows, endsAt: row.endsAt, consent });
  return sessionView(ctx, id);
}

/** Signs the grant and asks the agent to open the session; on any failure the session is `failed`, with the reason. */
async function openOnAgent(
  ctx: AppContext,
  actor: Actor,
  session: { id: string; machineId: string; runAs: 'agent' | 'remote_support'; files: boolean; cols: number; rows: number; endsAt: Date | null; consent: SessionConsent },
): Promise<void> {
  const issuedAt = new Date();
  const grant = signSessionGrant(
    {
      sessionId: session.id,
      machineId: session.machineId,
      userId: actor.userId,
      kind: 'terminal',
      runAs: session.runAs,
      files: session.files,
      issuedAt: issuedAt.toISOString(),
      startBy: new Date(issuedAt.getTime() + GRANT_START_WINDOW_MS).toISOString(),
      endsAt: session.endsAt?.toISOString() ?? null,
      consent: session.consent,
    },
    ctx.identity.sign,
  );
  const timeoutMs = OPEN_TIMEOUT_MS + (session.consent.mode === 'require' ? CONSENT_TIMEOUT_MS : session.consent.mode === 'notify' ? NOTICE_TIMEOUT_MS : 0);
  let opened;
  try {
    opened = await ctx.agents.request(session.machineId, 'session.open', { grant, cols: session.cols, rows: session.rows }, timeoutMs);
  } catch (error) {
    const reason = (error as Error).message;
    const consentRefused = error instanceof AgentRefusal && error.agentCode === 'consent_refused';
    await store.markEnded(ctx.db, session.id, { status: 'failed', reason: consentRefused ? (error as AgentRefusal).agentMessage : reason, exitCode: null, consentOutcome: consentRefused ? 'refused' : null });
    if (consentRefused) {
      await ctx.audit.record(ctx.db, { ...auditOf(actor, 'session.consent', 'session', session.id, { machineId: session.machineId, mode: session.consent.mode, outcome: 'refused', reason: (error as AgentRefusal).agentMessage }), outcome: 'failure' });
      throw new DomainError(403, 'consent_refused', `the session did not start: ${(error as AgentRefusal).agentMessage}`);
    }
    await ctx.audit.record(ctx.db, { ...auditOf(actor, 'session.start', 'session', session.id, { machineId: session.machineId, reason }), outcome: 'failure' });
    if (error instanceof DomainError && error.code === 'agent_error') throw new DomainError(502, 'agent_refused', reason);
    throw error;
  }
  if (session.consent.mode !== 'none') {
    await store.recordConsent(ctx.db, session.id, opened.consent.outcome);
    await ctx.audit.record(ctx.db, auditOf(actor, 'session.consent', 'session', session.id, { machineId: session.machineId, mode: session.consent.mode, ...opened.consent }));
  }
  await ctx.db
    .update(assignments)
    .set({ lastUsedAt: sql`now()` })
    .where(and(eq(assignments.userId, actor.userId), eq(assignments.machineId, session.machineId)));
}

async function sessionView(ctx: AppContext, id: string) {
  const row = await store.findSession(ctx.db, id);
  if (!row) throw new NotFound('session not found');
  return withStream(row);
}

/** The session if the caller may act on its machine with `permission`; unknown ids are 404 only to those who could. */
async function visibleSession(ctx: AppContext, actor: Actor, id: string, permission: 'sessions.view_only' | 'sessions.join' | 'sessions.approve') {
  const row = await store.findSession(ctx.db, id);
  if (!row) {
    await demand(ctx, actor, permission, { type: 'collection', of: 'machines' });
    throw new NotFound('session not found');
  }
  await demand(ctx, actor, permission, sessionResource(row));
  return row;
}

async function refused(ctx: AppContext, actor: Actor, row: { machineId: string; siteId: string; clientId: string }, reason: string) {
  await ctx.audit.record(ctx.db, { ...auditOf(actor, 'access.denied', 'machine', row.machineId, { reason }), outcome: 'failure' });
  return new Forbidden(reason);
}

/** A session, visible to whoever may at least observe sessions on its machine. */
export async function getSession(ctx: AppContext, actor: Actor, id: string) {
  const row = await visibleSession(ctx, actor, id, 'sessions.view_only');
  return { ...withStream(row), participants: await store.listParticipants(ctx.db, id) };
}

export async function listSessions(ctx: AppContext, actor: Actor, filter: { machineId?: string; status?: string; live?: boolean; limit: number }) {
  await demand(ctx, actor, 'sessions.view_only', { type: 'collection', of: 'machines' });
  const rows = await store.listSessions(ctx.db, filter, filter.limit, reachOf(actor));
  return visible(actor, 'sessions.view_only', rows, sessionResource).map(withStream);
}

/** Requests waiting for a decision on machines the caller may approve sessions on. */
export async function listSessionRequests(ctx: AppContext, actor: Actor, limit: number) {
  await demand(ctx, actor, 'sessions.approve', { type: 'collection', of: 'machines' });
  const rows = await store.listSessions(ctx.db, { status: 'awaiting_approval' }, limit, reachOf(actor));
  return visible(actor, 'sessions.approve', rows, sessionResource).map(withStream);
}

/**
 * An approver's decision (`sessions.approve` over the machine). Nobody decides on their own request. Approval sets
 * the session's maximum duration (the site's default, or shorter), which the grant carries to the agent.
 */
export async function decideSessionRequest(ctx: AppContext, actor: Actor, id: string, input: { approve: boolean; reason?: string; maxMinutes?: number }) {
  const row = await visibleSession(ctx, actor, id, 'sessions.approve');
  if (row.userId === actor.userId) throw await refused(ctx, actor, row, 'you cannot decide on your own session request');
  const policy = await sessionPolicyOf(ctx.db, row.siteId);
  const minutes = Math.min(input.maxMinutes ?? policy.approvalMaxMinutes, policy.approvalMaxMinutes);
  const endsAt = input.approve ? new Date(Date.now() + minutes * 60_000) : null;
  const decided = await ctx.db.transaction(async (tx) => {
    const changed = await store.decide(tx, id, { status: input.approve ? 'approved' : 'denied', decidedBy: actor.userId, reason: input.reason ?? null, endsAt });
    if (changed) {
      await ctx.audit.record(tx, auditOf(actor, input.approve ? 'session.approve' : 'session.deny', 'session', id, { machineId: row.machineId, requesterId: row.userId, reason: input.reason ?? null, endsAt }));
    }
    return changed;
  });
  if (!decided) throw new Conflict(`the request is ${row.status}, not awaiting approval`);
  return sessionView(ctx, id);
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
