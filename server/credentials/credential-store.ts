import { and, asc, desc, eq, inArray, isNull, lt, lte, ne, or, sql } from 'drizzle-orm';
import type { Queryable } from '../db/open.ts';
import { credentialAccounts, credentialJobs, credentialReveals, credentialVersions, machines } from '../db/schema.ts';

export type AccountPurpose = 'remote_support' | 'noc';
export type AccountStatus = 'in_progress' | 'created' | 'failed' | 'not_qualified';
export type JobReason = 'setup' | 'schedule' | 'on_demand' | 'after_reveal' | 'after_session' | 'access_revoked';
export type CredentialAccount = typeof credentialAccounts.$inferSelect;
export type CredentialJob = typeof credentialJobs.$inferSelect;

/** Jobs still to run (`queued`) or half-way (`prepared`: a sealed pending password is stored, the agent may set it). */
const OPEN_JOB_STATES = ['queued', 'prepared'];

export async function findAccount(q: Queryable, machineId: string, purpose: AccountPurpose): Promise<CredentialAccount | undefined> {
  const [row] = await q.select().from(credentialAccounts).where(and(eq(credentialAccounts.machineId, machineId), eq(credentialAccounts.purpose, purpose)));
  return row;
}

export async function accountById(q: Queryable, id: string): Promise<CredentialAccount | undefined> {
  const [row] = await q.select().from(credentialAccounts).where(eq(credentialAccounts.id, id));
  return row;
}

/** Creates or resets the machine's account row for a setup run; returns it. */
export async function upsertAccount(
  q: Queryable,
  row: { machineId: string; purpose: AccountPurpose; scope: 'local' | 'domain'; username: string; status: AccountStatus; reasons: string[]; coveredBy: string | null; domain: string | null },
): Promise<CredentialAccount> {
  const [saved] = await q
    .insert(credentialAccounts)
    .values(row)
    .onConflictDoUpdate({
      target: [credentialAccounts.machineId, credentialAccounts.purpose],
      set: { scope: row.scope, username: row.username, status: row.status, reasons: row.reasons, coveredBy: row.coveredBy, domain: row.domain, updatedAt: sql`now()` },
    })
    .returning();
  return saved;
}

export async function setAccountStatus(q: Queryable, id: string, status: AccountStatus, reasons: string[]): Promise<void> {
  await q.update(credentialAccounts).set({ status, reasons, updatedAt: sql`now()` }).where(eq(credentialAccounts.id, id));
}

/** A member server's NOC account follows the domain account it is covered by. */
export async function setCoveredStatus(q: Queryable, coveredBy: string, status: AccountStatus, reasons: string[]): Promise<void> {
  await q.update(credentialAccounts).set({ status, reasons, updatedAt: sql`now()` }).where(eq(credentialAccounts.coveredBy, coveredBy));
}

/** Every managed account of a site with its machine, for status pages and setup. */
export async function siteAccounts(q: Queryable, siteId: string) {
  return q
    .select({ account: credentialAccounts, hostname: machines.hostname, kind: machines.kind, os: machines.os, clientId: sql<string>`(select client_id from sites where id = ${machines.siteId})` })
    .from(credentialAccounts)
    .innerJoin(machines, eq(machines.id, credentialAccounts.machineId))
    .where(eq(machines.siteId, siteId))
    .orderBy(asc(machines.hostname), asc(credentialAccounts.purpose));
}

export async function machineAccounts(q: Queryable, machineId: string): Promise<CredentialAccount[]> {
  return q.select().from(credentialAccounts).where(eq(credentialAccounts.machineId, machineId)).orderBy(asc(credentialAccounts.purpose));
}

// ---- jobs ----

/**
 * Queues a job unless the account already has one open. A second trigger that wants it sooner moves it up and gives
 * it its reason (an access revocation overtakes a rotation scheduled for after use).
 */
export async function queueJob(
  q: Queryable,
  job: { accountId: string; machineId: string; reason: JobReason; dueAt: Date; deadlineAt: Date; requestedBy: string | null },
): Promise<{ id: string; created: boolean }> {
  const [open] = await q
    .select({ id: credentialJobs.id, dueAt: credentialJobs.dueAt })
    .from(credentialJobs)
    .where(and(eq(credentialJobs.accountId, job.accountId), inArray(credentialJobs.state, OPEN_JOB_STATES)));
  if (open) {
    if (job.dueAt < open.dueAt) await q.update(credentialJobs).set({ dueAt: job.dueAt, reason: job.reason }).where(eq(credentialJobs.id, open.id));
    return { id: open.id, created: false };
  }
  const [created] = await q.insert(credentialJobs).values(job).returning({ id: credentialJobs.id });
  return { id: created.id, created: true };
}

/** The machine's live agent connection (machines.connection_id), for a job row in a query. */
const currentConnection = sql`(select m.connection_id from machines m where m.id = ${credentialJobs.machineId})`;

/**
 * Claims due jobs of machines connected to this replica, with a lease on that agent connection: a replica that dies
 * mid-job leaves the job to whichever replica the agent reconnects to — at once, because the lease belonged to the
 * old connection — or to anyone once the lease runs out. SKIP LOCKED keeps replicas off each other's rows.
 */
export async function claimDueJobs(q: Queryable, machineIds: string[], limit: number, leaseSeconds: number): Promise<CredentialJob[]> {
  if (machineIds.length === 0) return [];
  const due = q
    .select({ id: credentialJobs.id })
    .from(credentialJobs)
    .where(
      and(
        inArray(credentialJobs.state, OPEN_JOB_STATES),
        lte(credentialJobs.dueAt, sql`now()`),
        or(isNull(credentialJobs.leaseUntil), lt(credentialJobs.leaseUntil, sql`now()`), sql`${credentialJobs.leaseConnection} is distinct from ${currentConnection}`),
        inArray(credentialJobs.machineId, machineIds),
      ),
    )
    .orderBy(asc(credentialJobs.dueAt))
    .limit(limit)
    .for('update', { skipLocked: true });
  return q
    .update(credentialJobs)
    .set({ leaseUntil: sql`now() + make_interval(secs => ${leaseSeconds})`, leaseConnection: currentConnection, attempts: sql`${credentialJobs.attempts} + 1` })
    .where(inArray(credentialJobs.id, due))
    .returning();
}

export async function markJobPrepared(q: Queryable, id: string): Promise<void> {
  await q.update(credentialJobs).set({ state: 'prepared' }).where(eq(credentialJobs.id, id));
}

/** Back to the start (prepare again), after `retryInSeconds`. A pending password already stored stays a candidate. */
export async function requeueJob(q: Queryable, id: string, error: string, retryInSeconds: number): Promise<void> {
  await q
    .update(credentialJobs)
    .set({ state: 'queued', lastError: error.slice(0, 1000), leaseUntil: null, dueAt: sql`now() + make_interval(secs => ${retryInSeconds})` })
    .where(eq(credentialJobs.id, id));
}

export async function finishJob(q: Queryable, id: string, state: 'done' | 'failed' | 'cancelled', error: string | null): Promise<void> {
  await q.update(credentialJobs).set({ state, lastError: error?.slice(0, 1000) ?? null, finishedAt: sql`now()`, leaseUntil: null }).where(eq(credentialJobs.id, id));
}

/** Open jobs whose deadline passed while their agent never came to run them. */
export async function overdueJobs(q: Queryable): Promise<CredentialJob[]> {
  return q
    .select()
    .from(credentialJobs)
    .where(and(inArray(credentialJobs.state, OPEN_JOB_STATES), lt(credentialJobs.deadlineAt, sql`now()`), or(isNull(credentialJobs.leaseUntil), lt(credentialJobs.leaseUntil, sql`now()`))));
}

export async function cancelOpenJobs(q: Queryable, accountIds: string[]): Promise<void> {
  if (!accountIds.length) return;
  await q
    .update(credentialJobs)
    .set({ state: 'cancelled', finishedAt: sql`now()`, lastError: 'cancelled: the site disabled this part of its credential policy' })
    .where(and(inArray(credentialJobs.accountId, accountIds), inArray(credentialJobs.state, OPEN_JOB_STATES)));
}

export async function openJobOf(q: Queryable, accountId: string): Promise<CredentialJob | undefined> {
  const [row] = await q.select().from(credentialJobs).where(and(eq(credentialJobs.accountId, accountId), inArray(credentialJobs.state, OPEN_JOB_STATES)));
  return row;
}

/** Created accounts whose current password is older than their site's maximum age, and no job open: rotate them. */
export async function accountsPastMaxAge(q: Queryable, limit: number): Promise<{ id: string; machineId: string }[]> {
  const rows = await q.execute(sql`
    select a.id, a.machine_id from credential_accounts a
      join machines m on m.id = a.machine_id
      join credential_policies p on p.site_id = m.site_id
    where a.status = 'created' and a.covered_by is null
      and a.last_rotated_at < now() - make_interval(days => p.max_age_days)
      and not exists (select 1 from credential_jobs j where j.account_id = a.id and j.state in ('queued', 'prepared'))
    limit ${limit}`);
  const list = (Array.isArray(rows) ? rows : (rows as { rows: unknown[] }).rows) as { id: string; machine_id: string }[];
  return list.map((r) => ({ id: r.id, machineId: r.machine_id }));
}

// ---- versions ----

export async function insertPendingVersion(q: Queryable, row: { accountId: string; jobId: string; sealed: Uint8Array }): Promise<string> {
  const [created] = await q.insert(credentialVersions).values({ ...row, state: 'pending' }).returning({ id: credentialVersions.id });
  return created.id;
}

/**
 * The agent verified this version on the endpoint: it becomes current; the previous current becomes history; any
 * other pending version (an earlier attempt that may have reached the endpoint) is superseded, because this newer one
 * was set after it. History beyond `historyDepth` is deleted.
 */
export async function promoteVersion(q: Queryable, accountId: string, versionId: string, historyDepth: number): Promise<void> {
  await q
    .update(credentialVersions)
    .set({ state: 'retired', retiredAt: sql`now()` })
    .where(and(eq(credentialVersions.accountId, accountId), eq(credentialVersions.state, 'current')));
  await q
    .update(credentialVersions)
    .set({ state: 'superseded', retiredAt: sql`now()` })
    .where(and(eq(credentialVersions.accountId, accountId), eq(credentialVersions.state, 'pending'), ne(credentialVersions.id, versionId)));
  await q.update(credentialVersions).set({ state: 'current', appliedAt: sql`now()` }).where(eq(credentialVersions.id, versionId));
  const old = await q
    .select({ id: credentialVersions.id })
    .from(credentialVersions)
    .where(and(eq(credentialVersions.accountId, accountId), inArray(credentialVersions.state, ['retired', 'superseded'])))
    .orderBy(desc(credentialVersions.createdAt))
    .offset(historyDepth);
  if (old.length) await q.delete(credentialVersions).where(inArray(credentialVersions.id, old.map((o) => o.id)));
  await q.update(credentialAccounts).set({ lastRotatedAt: sql`now()`, updatedAt: sql`now()` }).where(eq(credentialAccounts.id, accountId));
}

export async function pendingVersionOfJob(q: Queryable, jobId: string): Promise<{ id: string } | undefined> {
  const [row] = await q
    .select({ id: credentialVersions.id })
    .from(credentialVersions)
    .where(and(eq(credentialVersions.jobId, jobId), eq(credentialVersions.state, 'pending')))
    .orderBy(desc(credentialVersions.createdAt))
    .limit(1);
  return row;
}

/** What may open the account now: the current version and every pending one, newest first. */
export async function liveVersions(q: Queryable, accountId: string) {
  return q
    .select()
    .from(credentialVersions)
    .where(and(eq(credentialVersions.accountId, accountId), inArray(credentialVersions.state, ['current', 'pending'])))
    .orderBy(desc(credentialVersions.createdAt));
}

/** Every escrowed version of the account (current, pending and the kept history), newest first — no secrets. */
export async function versionHistory(q: Queryable, accountId: string) {
  return q
    .select({ id: credentialVersions.id, state: credentialVersions.state, createdAt: credentialVersions.createdAt, appliedAt: credentialVersions.appliedAt, retiredAt: credentialVersions.retiredAt })
    .from(credentialVersions)
    .where(eq(credentialVersions.accountId, accountId))
    .orderBy(desc(credentialVersions.createdAt));
}

export async function versionOf(q: Queryable, accountId: string, versionId: string) {
  const [row] = await q.select().from(credentialVersions).where(and(eq(credentialVersions.accountId, accountId), eq(credentialVersions.id, versionId)));
  return row;
}

// ---- reveals ----

export async function insertReveal(q: Queryable, row: { accountId: string; versionId: string; userId: string; reason: string; rotationJobId: string | null }): Promise<void> {
  await q.insert(credentialReveals).values(row);
}

/** Users who revealed a password that is still current: if they lose access, that password must change. */
export async function revealersOfCurrentPasswords(q: Queryable) {
  return q
    .select({ accountId: credentialReveals.accountId, userId: credentialReveals.userId, machineId: credentialAccounts.machineId })
    .from(credentialReveals)
    .innerJoin(credentialVersions, and(eq(credentialVersions.id, credentialReveals.versionId), eq(credentialVersions.state, 'current')))
    .innerJoin(credentialAccounts, eq(credentialAccounts.id, credentialReveals.accountId))
    .where(lte(credentialReveals.revealedAt, sql`now()`));
}

// ---- machines, as qualification sees them ----

const facts = {
  id: machines.id,
  siteId: machines.siteId,
  clientId: sql<string>`(select client_id from sites where sites.id = ${machines.siteId})`,
  hostname: machines.hostname,
  kind: machines.kind,
  os: machines.os,
  domainRole: machines.domainRole,
  domain: sql<string | null>`${machines.inventory}->>'domain'`,
};

export async function siteMachineFacts(q: Queryable, siteId: string) {
  return q.select(facts).from(machines).where(eq(machines.siteId, siteId)).orderBy(asc(machines.hostname));
}

export async function machineFacts(q: Queryable, machineId: string) {
  const [row] = await q.select(facts).from(machines).where(eq(machines.id, machineId));
  return row;
}

/** Sites with a credential part enabled that have a machine with no account row yet (enrolled or re-kinded since). */
export async function sitesWithUnplannedMachines(q: Queryable): Promise<string[]> {
  const rows = await q.execute(sql`
    select distinct m.site_id from machines m join credential_policies p on p.site_id = m.site_id
    where m.kind is not null and (
      (p.desktop_enabled and m.kind = 'desktop' and not exists (select 1 from credential_accounts a where a.machine_id = m.id and a.purpose = 'remote_support'))
      or (p.server_enabled and m.kind = 'server' and not exists (select 1 from credential_accounts a where a.machine_id = m.id and a.purpose = 'noc')))`);
  const list = (Array.isArray(rows) ? rows : (rows as { rows: unknown[] }).rows) as { site_id: string }[];
  return list.map((r) => r.site_id);
}
