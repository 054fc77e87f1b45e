import { effectivePermissions, type Actor } from '../access/actor.ts';
import { authorize, type Resource } from '../access/authorizer.ts';
import { auditDenial, demand } from '../access/demand.ts';
import { ASSIGNMENT_RIGHTS, RIGHT_PERMISSIONS, type AssignmentRight } from '../access/permissions.ts';
import { reachOf } from '../access/reach.ts';
import { userForAdmin } from '../auth/user-lookup.ts';
import type { AppContext } from '../context.ts';
import { sqlState, UNIQUE_VIOLATION } from '../db/open.ts';
import { Conflict, Forbidden, Invalid, NotFound } from '../errors.ts';
import { machineResource } from '../machines/machine-service.ts';
import { findMachine } from '../machines/machine-store.ts';
import { auditOf } from '../audit/audit-event.ts';
import * as store from './assignment-store.ts';

/**
 * "Assign Machine": grants one machine to one user with session rights, an optional note and expiry. Every change
 * needs `assignments.manage` over the machine, and nobody hands out a session right they do not hold on that machine
 * themselves. Expiry needs no job: the authorizer compares `expiresAt` with the clock on every decision.
 */
export interface AssignmentInput {
  userId: string;
  rights: AssignmentRight[];
  note?: string;
  expiresAt?: string;
}

export interface AssignmentChanges {
  rights?: AssignmentRight[];
  note?: string | null;
  expiresAt?: string | null;
}


const COLLECTION: Resource = { type: 'collection', of: 'assignments' };
/** The machine an assignment is on, as the authorizer sees it (`id` of an assignment row is the assignment's). */
const machineOf = (a: { machineId: string; siteId: string; clientId: string }): Resource => ({ type: 'machine', machineId: a.machineId, siteId: a.siteId, clientId: a.clientId });

export async function createAssignment(ctx: AppContext, actor: Actor, machineId: string, input: AssignmentInput) {
  const machine = await requireManagedMachine(ctx, actor, machineId);
  const expiresAt = futureDate(input.expiresAt);
  const assignee = await userForAdmin(ctx.db, input.userId);
  if (!assignee) throw new NotFound('user not found');
  if (assignee.disabledAt) throw new Invalid('the user is disabled; enable them before assigning machines');
  if (assignee.kind === 'client_user' && assignee.clientId !== machine.clientId) {
    throw new Invalid("a client user can only be assigned machines of their own client");
  }
  const rights = canonicalRights(input.rights);
  await assertCanGrantRights(ctx, actor, machineResource(machine), rights);
  try {
    const id = await ctx.db.transaction(async (tx) => {
      const row = await store.insertAssignment(tx, { userId: assignee.id, machineId, rights, note: input.note ?? null, expiresAt, assignedBy: actor.userId });
      await ctx.audit.record(tx, auditOf(actor, 'assignment.create', 'assignment', row.id, { machineId, hostname: machine.hostname, userId: assignee.id, email: assignee.email, rights, expiresAt }));
      return row.id;
    });
    return present((await store.findAssignment(ctx.db, id))!);
  } catch (error) {
    if (sqlState(error) === UNIQUE_VIOLATION) throw new Conflict(`${assignee.email} already has an assignment on this machine; change it instead`);
    throw error;
  }
}

export async function listMachineAssignments(ctx: AppContext, actor: Actor, machineId: string, includeExpired: boolean) {
  await requireManagedMachine(ctx, actor, machineId);
  return (await store.listAssignments(ctx.db, { machineId, includeExpired }, actor.userId, null)).map(present);
}

/**
 * Assignments the caller may be shown: those on machines they may manage assignments on, and their own on machines
 * they may see (so nothing shows while MFA is owed, and an assignee's expired assignment goes with the machine).
 * Anyone signed in may ask, so the entry check is on the account itself; every row is then put to the authorizer.
 */
export async function listAssignments(ctx: AppContext, actor: Actor, filter: store.AssignmentFilter) {
  await demand(ctx, actor, 'self.view', { type: 'self' });
  const manages = authorize(actor, 'assignments.manage', COLLECTION).allowed;
  const rows = await store.listAssignments(ctx.db, filter, actor.userId, manages ? reachOf(actor) : false);
  const now = new Date();
  const shown = (row: store.AssignmentView) => {
    const machine = machineOf(row);
    if (authorize(actor, 'assignments.manage', machine, now).allowed) return true;
    return row.userId === actor.userId && authorize(actor, 'machines.view', machine, now).allowed;
  };
  return rows.filter(shown).map(present);
}

export async function updateAssignment(ctx: AppContext, actor: Actor, id: string, changes: AssignmentChanges) {
  const current = await requireManagedAssignment(ctx, actor, id);
  const expiresAt = changes.expiresAt === undefined ? undefined : changes.expiresAt === null ? null : futureDate(changes.expiresAt);
  const rights = changes.rights ? canonicalRights(changes.rights) : undefined;
  // Widening in time is granting too: a new expiry re-checks the rights the assignment will carry.
  if (rights || expiresAt !== undefined) await assertCanGrantRights(ctx, actor, machineOf(current), rights ?? (current.rights as AssignmentRight[]));
  await ctx.db.transaction(async (tx) => {
    await store.updateAssignment(tx, id, { rights, note: changes.note, expiresAt });
    await ctx.audit.record(
      tx,
      auditOf(actor, 'assignment.update', 'assignment', id, {
        machineId: current.machineId,
        hostname: current.hostname,
        userId: current.userId,
        email: current.userEmail,
        rights: rights ?? current.rights,
        expiresAt: expiresAt === undefined ? current.expiresAt : expiresAt,
        changed: Object.keys(changes),
      }),
    );
  });
  return present((await store.findAssignment(ctx.db, id))!);
}

/** Unassigning takes effect on the assignee's next request (grants are loaded per request). */
export async function deleteAssignment(ctx: AppContext, actor: Actor, id: string) {
  const current = await requireManagedAssignment(ctx, actor, id);
  await ctx.db.transaction(async (tx) => {
    if (!(await store.deleteAssignment(tx, id))) throw new NotFound('assignment not found');
    await ctx.audit.record(
      tx,
      auditOf(actor, 'assignment.delete', 'assignment', id, {
        machineId: current.machineId,
        hostname: current.hostname,
        userId: current.userId,
        email: current.userEmail,
        rights: current.rights,
        expiresAt: current.expiresAt,
      }),
    );
  });
}

/** An assignment as the API shows it: `expired` is computed against the clock, like the authorizer does. */
export function present(row: store.AssignmentView) {
  return { ...row, rights: row.rights as AssignmentRight[], expired: Boolean(row.expiresAt && row.expiresAt.getTime() <= Date.now()) };
}

async function requireManagedMachine(ctx: AppContext, actor: Actor, machineId: string) {
  const machine = await findMachine(ctx.db, machineId);
  if (!machine) {
    await demand(ctx, actor, 'assignments.manage', COLLECTION);
    throw new NotFound('machine not found');
  }
  await demand(ctx, actor, 'assignments.manage', machineResource(machine));
  return machine;
}

async function requireManagedAssignment(ctx: AppContext, actor: Actor, id: string) {
  const assignment = await store.findAssignment(ctx.db, id);
  if (!assignment) {
    await demand(ctx, actor, 'assignments.manage', COLLECTION);
    throw new NotFound('assignment not found');
  }
  await demand(ctx, actor, 'assignments.manage', machineOf(assignment));
  return assignment;
}

/**
 * No escalation: each right must be one the actor could use on this machine right now (the one authorizer decides,
 * so scope, token narrowing and the remote-control switch all count). A refusal is audited like any denial.
 */
async function assertCanGrantRights(ctx: AppContext, actor: Actor, machine: Resource, rights: readonly AssignmentRight[]) {
  const now = new Date();
  for (const right of rights) {
    const decisions = RIGHT_PERMISSIONS[right].map((permission) => authorize(actor, permission, machine, now));
    if (decisions.some((d) => d.allowed)) continue;
    // Explain with a permission the actor's role does have, if any: that refusal says what else is missing.
    const held = effectivePermissions(actor);
    const why = decisions.find((_, i) => held.has(RIGHT_PERMISSIONS[right][i])) ?? decisions[0];
    const reason = `cannot grant right '${right}': you do not hold ${RIGHT_PERMISSIONS[right].join(' or ')} on this machine (${why.reason})`;
    await auditDenial(ctx, actor, 'assignments.manage', machine, reason, { right });
    throw new Forbidden(reason);
  }
}

/** Rights in catalog order, so equal sets are stored (and compared) alike. */
const canonicalRights = (rights: readonly AssignmentRight[]) => ASSIGNMENT_RIGHTS.filter((r) => rights.includes(r));

function futureDate(value: string | undefined): Date | null {
  if (value === undefined) return null;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new Invalid('expiresAt is not a valid date-time');
  if (date.getTime() <= Date.now()) throw new Invalid('expiresAt must be in the future');
  return date;
}
