import { and, asc, desc, eq, inArray, isNull, lt, lte, or, sql } from 'drizzle-orm';
import { rowsOf, type Queryable } from '../db/open.ts';
import { credentialAccounts, credentialJobs, credentialPolicies, credentialReveals, credentialVersions, machines } from '../db/schema.ts';

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

/** Creates or resets machines' account rows for a setup run; returns them. */
export async function upsertAccounts(
  q: Queryable,
  rows: readonly { machineId: string; purpose: AccountPurpose; scope: 'local' | 'domain'; username: string; status: AccountStatus; reasons: string[]; coveredBy: string | null; domain: string | null }[],
): Promise<CredentialAccount[]> {
  const saved: CredentialAccount[] = [];
  // Chunks keep each statement under the protocol's 65,535 bind parameters (8 per row).
  for (let i = 0; i < rows.length; i += 1000) {
    saved.push(
      ...(await q
        .insert(credentialAccounts)
        .values(rows.slice(i, i + 1000))
        .onConflictDoUpdate({
          target: [credentialAccounts.machineId, credentialAccounts.purpose],
          set: { scope: sql`excluded.scope`, username: sql`excluded.username`, status: sql`excluded.status`, reasons: sql`excluded.reasons`, coveredBy: sql`excluded.covered_by`, domain: sql`excluded.domain`, updatedAt: sql`now()` },
        })
        .returning()),
    );
  }
  return saved;
}

/** New statuses for accounts, and for the member servers' accounts covered by a domain account among them. */
export async function setAccountStatuses(q: Queryable, rows: readonly { id: string; status: AccountStatus; reasons: string[]; coveredReasons?: string[] }[]): Promise<void> {
  if (rows.length === 0) return;
  const list = rows.map((r) => ({ id: r.id, status: r.status, reasons: r.reasons }));
  await q.execute(sql`update credential_accounts a set status = u.status, reasons = u.reasons, updated_at = now()
    from jsonb_to_recordset(${JSON.stringify(list)}::jsonb) as u(id uuid, status text, reasons jsonb) where a.id = u.id`);
  // A member server's NOC account follows the domain account it is covered by.
  const covering = rows.filter((r) => r.coveredReasons).map((r) => ({ id: r.id, status: r.status, reasons: r.coveredReasons }));
  if (covering.length === 0) return;
  await q.execute(sql`update credential_accounts a set status = u.status, reasons = u.reasons, updated_at = now()
    from jsonb_to_recordset(${JSON.stringify(covering)}::jsonb) as u(id uuid, status text, reasons jsonb) where a.covered_by = u.id`);
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

export interface JobRequest {
  accountId: string;
  machineId: string;
  reason: JobReason;
  dueAt: Date;
  deadlineAt: Date;
  requestedBy: string | null;
}

/**
 * Queues a job for each account unless it already has one open (the partial unique index keeps it to one, whoever
 * races). A second trigger that wants the open job sooner moves it up and gives it its reason (an access revocation
 * overtakes a rotation scheduled for after use). Set-based: a site-wide rotation is two statements, not two per
 * machine. Returns each account's open job, in order, and whether this call created it.
 */
export async function queueJobs(q: Queryable, requests: readonly JobRequest[]): Promise<{ accountId: string; id: string; created: boolean }[]> {
  if (requests.length === 0) return [];
  const wanted = JSON.stringify(requests.map((r) => ({ ...r, dueAt: r.dueAt.toISOString(), deadlineAt: r.deadlineAt.toISOString() })));
  const inserted = rowsOf<{ id: string; account_id: string }>(
    await q.execute(sql`with wanted as (
        select * from jsonb_to_recordset(${wanted}::jsonb)
          as w("accountId" uuid, "machineId" uuid, reason text, "dueAt" timestamptz, "deadlineAt" timestamptz, "requestedBy" uuid)),
      moved as (
        update credential_jobs j set due_at = w."dueAt", reason = w.reason from wanted w
        where j.account_id = w."accountId" and j.state in ('queued', 'prepared') and w."dueAt" < j.due_at)
      insert into credential_jobs (account_id, machine_id, reason, due_at, deadline_at, requested_by)
        select w."accountId", w."machineId", w.reason, w."dueAt", w."deadlineAt", w."requestedBy" from wanted w
        on conflict (account_id) where state in ('queued', 'prepared') do nothing
        returning id, account_id`),
  );
  const created = new Map(inserted.map((r) => [r.account_id, r.id]));
  const others = requests.filter((r) => !created.has(r.accountId)).map((r) => r.accountId);
  const open = others.length
    ? await q
        .select({ id: credentialJobs.id, accountId: credentialJobs.accountId })
        .from(credentialJobs)
        .where(and(inArray(credentialJobs.accountId, others), inArray(credentialJobs.state, OPEN_JOB_STATES)))
    : [];
  const existing = new Map(open.map((r) => [r.accountId, r.id]));
  // The open job that made the insert step aside finished before the select saw it: queue those again.
  const finished = requests.filter((r) => !created.has(r.accountId) && !existing.has(r.accountId));
  const again = new Map((await queueJobs(q, finished)).map((r) => [r.accountId, r]));
  return requests.map((r) => {
    const id = created.get(r.accountId);
    const openId = existing.get(r.accountId);
    return id ? { accountId: r.accountId, id, created: true } : openId ? { accountId: r.accountId, id: openId, created: false } : (again.get(r.accountId) as { accountId: string; id: string; created: boolean });
  });
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

/** Back to the start (prepare again), after `retryInSeconds`. A pending password already stored stays a candidate. */
export async function requeueJob(q: Queryable, id: string, error: string, retryInSeconds: number): Promise<void> {
  await q
    .update(credentialJobs)
    .set({ state: 'queued', lastError: error.slice(0, 1000), leaseUntil: null, dueAt: sql`now() + make_interval(secs => ${retryInSeconds})` })
    .where(eq(credentialJobs.id, id));
}

export async function finishJobs(q: Queryable, rows: readonly { id: string; state: 'done' | 'failed' | 'cancelled'; error: string | null }[]): Promise<void> {
  if (rows.length === 0) return;
  const list = rows.map((r) => ({ id: r.id, state: r.state, error: r.error?.slice(0, 1000) ?? null }));
  await q.execute(sql`update credential_jobs j set state = u.state, last_error = u.error, finished_at = now(), lease_until = null
    from jsonb_to_recordset(${JSON.stringify(list)}::jsonb) as u(id uuid, state text, error text) where j.id = u.id`);
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

/** The open job of each of these accounts that has one, by account id. */
export async function openJobsOf(q: Queryable, accountIds: readonly string[]): Promise<Map<string, CredentialJob>> {
  const open = new Map<string, CredentialJob>();
  // Chunks keep each statement under the protocol's 65,535 bind parameters.
  for (let i = 0; i < accountIds.length; i += 10_000) {
    const rows = await q
      .select()
      .from(credentialJobs)
      .where(and(inArray(credentialJobs.accountId, accountIds.slice(i, i + 10_000)), inArray(credentialJobs.state, OPEN_JOB_STATES)));
    for (const row of rows) open.set(row.accountId, row);
  }
  return open;
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
  const list = rowsOf<{ id: string; machine_id: string }>(rows);
  return list.map((r) => ({ id: r.id, machineId: r.machine_id }));
}

// ---- versions ----

/** Stores the sealed passwords the agents prepared as `pending` and marks their jobs `prepared`; returns the version ids. */
export async function insertPendingVersions(q: Queryable, rows: readonly { accountId: string; jobId: string; sealed: Uint8Array }[]): Promise<string[]> {
  if (rows.length === 0) return [];
  const created = await q
    .insert(credentialVersions)
    .values(rows.map((r) => ({ ...r, state: 'pending' })))
    .returning({ id: credentialVersions.id, jobId: credentialVersions.jobId });
  await q.update(credentialJobs).set({ state: 'prepared' }).where(inArray(credentialJobs.id, rows.map((r) => r.jobId)));
  const byJob = new Map(created.map((c) => [c.jobId, c.id]));
  return rows.map((r) => byJob.get(r.jobId) as string);
}

/**
 * The agents verified these versions on their endpoints: each becomes current; the previous current becomes history;
 * any other pending version of the account (an earlier attempt that may have reached the endpoint) is superseded,
 * because the newer one was set after it. History beyond the site's `historyDepth` is deleted. One account appears
 * at most once (it has at most one open job).
 */
export async function promoteVersions(q: Queryable, rows: readonly { accountId: string; versionId: string; historyDepth: number }[]): Promise<void> {
  if (rows.length === 0) return;
  const list = sql`jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as p("accountId" uuid, "versionId" uuid, "historyDepth" integer)`;
  await q.execute(sql`update credential_versions v set state = 'retired', retired_at = now()
    from ${list} where v.account_id = p."accountId" and v.state = 'current'`);
  await q.execute(sql`update credential_versions v set state = 'superseded', retired_at = now()
    from ${list} where v.account_id = p."accountId" and v.state = 'pending' and v.id <> p."versionId"`);
  await q.execute(sql`update credential_versions v set state = 'current', applied_at = now()
    from ${list} where v.id = p."versionId"`);
  await q.execute(sql`delete from credential_versions v using (
      select h.id, p."historyDepth" as depth, row_number() over (partition by h.account_id order by h.created_at desc, h.id) as n
      from credential_versions h join ${list} on h.account_id = p."accountId"
      where h.state in ('retired', 'superseded')) old
    where v.id = old.id and old.n > old.depth`);
  await q.execute(sql`update credential_accounts a set last_rotated_at = now(), updated_at = now()
    from ${list} where a.id = p."accountId"`);
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

/** What running the claimed jobs needs, in one query: each job's account and its site's policy (null: defaults). */
export async function jobContexts(q: Queryable, jobIds: readonly string[]) {
  if (jobIds.length === 0) return [];
  return q
    .select({ jobId: credentialJobs.id, account: credentialAccounts, policy: credentialPolicies })
    .from(credentialJobs)
    .innerJoin(credentialAccounts, eq(credentialAccounts.id, credentialJobs.accountId))
    .innerJoin(machines, eq(machines.id, credentialJobs.machineId))
    .leftJoin(credentialPolicies, eq(credentialPolicies.siteId, machines.siteId))
    .where(inArray(credentialJobs.id, [...jobIds]));
}

/** Sites with a credential part enabled that have a machine with no account row yet (enrolled or re-kinded since). */
export async function sitesWithUnplannedMachines(q: Queryable): Promise<string[]> {
  const rows = await q.execute(sql`
    select distinct m.site_id from machines m join credential_policies p on p.site_id = m.site_id
    where m.kind is not null and (
      (p.desktop_enabled and m.kind = 'desktop' and not exists (select 1 from credential_accounts a where a.machine_id = m.id and a.purpose = 'remote_support'))
      or (p.server_enabled and m.kind = 'server' and not exists (select 1 from credential_accounts a where a.machine_id = m.id and a.purpose = 'noc')))`);
  const list = rowsOf<{ site_id: string }>(rows);
  return list.map((r) => r.site_id);
}
