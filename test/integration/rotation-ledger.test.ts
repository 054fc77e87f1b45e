import { randomBytes } from 'node:crypto';
import { and, eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as store from '../../server/credentials/credential-store.ts';
import { RotationLedger } from '../../server/credentials/rotation-ledger.ts';
import { auditEvents, credentialAccounts, credentialJobs, credentialVersions } from '../../server/db/schema.ts';
import { setupAdmin, type Api } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createMachine } from '../helpers/users.ts';

/**
 * The rotation's durable writes over a real database, as many jobs at once write them: queueJobs keeps one open job
 * per account however callers race, and the RotationLedger's group commits promote, supersede, prune history and
 * audit exactly as one job at a time would — with one bad job failing alone.
 */
describe.each(backends())('rotation ledger on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  let accounts: store.CredentialAccount[] = [];
  const db = () => server.running.ctx.db;
  const request = (a: store.CredentialAccount, reason: store.JobReason, dueAt: Date): store.JobRequest => ({ accountId: a.id, machineId: a.machineId, reason, dueAt, deadlineAt: new Date(dueAt.getTime() + 86400_000), requestedBy: null });
  const versions = (accountId: string) => db().select().from(credentialVersions).where(eq(credentialVersions.accountId, accountId));

  beforeAll(async () => {
    server = await startTestServer({ backend, env: { STEWARD_CREDENTIAL_TICK_SECONDS: '3600' } });
    ({ api: admin } = await setupAdmin(server));
    const client = await admin.post('/api/v1/clients', { name: 'Ledger' });
    const site = await admin.post(`/api/v1/clients/${client.body.id}/sites`, { name: 'Main' });
    const machines = await Promise.all(Array.from({ length: 12 }, (_, i) => createMachine(server, site.body.id, `desk-${i}`)));
    accounts = await store.upsertAccounts(
      db(),
      machines.map((m) => ({ machineId: m.id, purpose: 'remote_support' as const, scope: 'local' as const, username: 'remote-support', status: 'created' as const, reasons: [], coveredBy: null, domain: null })),
    );
    // Each account: a current password and three older ones in history, a day apart.
    for (const a of accounts) {
      const day = (n: number) => new Date(Date.now() - n * 86400_000);
      const [setup] = await db().insert(credentialJobs).values({ accountId: a.id, machineId: a.machineId, reason: 'setup', state: 'done', deadlineAt: day(0) }).returning();
      await db().insert(credentialVersions).values([
        { accountId: a.id, jobId: setup.id, sealed: randomBytes(92), state: 'current', createdAt: day(1) },
        { accountId: a.id, jobId: setup.id, sealed: randomBytes(92), state: 'retired', createdAt: day(2) },
        { accountId: a.id, jobId: setup.id, sealed: randomBytes(92), state: 'retired', createdAt: day(3) },
        { accountId: a.id, jobId: setup.id, sealed: randomBytes(92), state: 'superseded', createdAt: day(4) },
      ]);
    }
  }, 60_000);
  afterAll(() => server?.close());

  it('queueJobs: callers racing for the same accounts end with one open job each, and agree on it', async () => {
    const now = new Date();
    const [one, two] = await Promise.all([
      db().transaction((tx) => store.queueJobs(tx, accounts.map((a) => request(a, 'on_demand', now)))),
      db().transaction((tx) => store.queueJobs(tx, accounts.map((a) => request(a, 'schedule', now)))),
    ]);
    const open = await db().select().from(credentialJobs).where(inArray(credentialJobs.state, ['queued', 'prepared']));
    expect(open).toHaveLength(accounts.length);
    accounts.forEach((a, i) => {
      expect(one[i].accountId).toBe(a.id);
      expect(one[i].id).toBe(two[i].id);
      expect(one[i].created !== two[i].created, 'exactly one caller created it').toBe(true);
    });
  });

  it('queueJobs: a trigger that wants it sooner moves the open job up with its reason; a later one changes nothing', async () => {
    const [a, b] = accounts;
    const sooner = new Date(Date.now() - 60_000);
    const [moved, unchanged] = await store.queueJobs(db(), [request(a, 'access_revoked', sooner), request(b, 'after_reveal', new Date(Date.now() + 3600_000))]);
    expect([moved.created, unchanged.created]).toEqual([false, false]);
    const [ja] = await db().select().from(credentialJobs).where(eq(credentialJobs.id, moved.id));
    const [jb] = await db().select().from(credentialJobs).where(eq(credentialJobs.id, unchanged.id));
    expect([ja.reason, ja.dueAt.getTime()]).toEqual(['access_revoked', sooner.getTime()]);
    expect(jb.reason).not.toBe('after_reveal');
  });

  it('the ledger stores pending passwords and ends jobs for many at once exactly as one at a time would', async () => {
    const ledger = new RotationLedger(db(), server.running.ctx.audit);
    const jobs = await db().select().from(credentialJobs).where(inArray(credentialJobs.state, ['queued']));
    const byAccount = new Map(jobs.map((j) => [j.accountId, j]));
    // An earlier attempt of account 0 left a pending password that may have reached the endpoint.
    const stale = (await db().insert(credentialVersions).values({ accountId: accounts[0].id, jobId: (byAccount.get(accounts[0].id) as store.CredentialJob).id, sealed: randomBytes(92), state: 'pending' }).returning())[0];
    const auditBefore = (await db().select({ id: auditEvents.id }).from(auditEvents)).length;

    const versionIds = await Promise.all(accounts.map((a) => ledger.storePending({ accountId: a.id, jobId: (byAccount.get(a.id) as store.CredentialJob).id, sealed: randomBytes(92) })));
    expect(new Set(versionIds).size).toBe(accounts.length);
    const prepared = await db().select().from(credentialJobs).where(inArray(credentialJobs.id, jobs.map((j) => j.id)));
    expect(prepared.every((j) => j.state === 'prepared')).toBe(true);
    for (const [i, a] of accounts.entries()) {
      const [row] = await db().select().from(credentialVersions).where(eq(credentialVersions.id, versionIds[i]));
      expect([row.state, row.accountId, row.jobId]).toEqual(['pending', a.id, byAccount.get(a.id)?.id]);
    }

    await Promise.all(
      accounts.map((a, i) =>
        ledger.end({
          jobId: (byAccount.get(a.id) as store.CredentialJob).id,
          state: 'done',
          error: null,
          promote: { accountId: a.id, versionId: versionIds[i], historyDepth: 2 },
          account: { id: a.id, status: 'created', reasons: [] },
          audit: { actorType: 'system', action: 'credential.rotate', outcome: 'success', targetType: 'machine', targetId: a.machineId, details: { versionId: versionIds[i] } },
        }),
      ),
    );

    for (const [i, a] of accounts.entries()) {
      const rows = await versions(a.id);
      const current = rows.filter((v) => v.state === 'current');
      expect(current.map((v) => v.id), `account ${i}: the verified version is the only current one`).toEqual([versionIds[i]]);
      expect(current[0].appliedAt).not.toBeNull();
      const history = rows.filter((v) => v.state === 'retired' || v.state === 'superseded').sort((x, y) => y.createdAt.getTime() - x.createdAt.getTime());
      // The previous current (a day old) and, for account 0, the stale pending attempt are the newest history; the
      // rest is beyond the depth of 2 and gone.
      expect(history).toHaveLength(2);
      expect(rows.filter((v) => v.state === 'pending')).toEqual([]);
      if (i === 0) expect(history.map((v) => v.id)).toContain(stale.id);
      if (i === 0) expect(history.find((v) => v.id === stale.id)?.state).toBe('superseded');
    }
    const ended = await db().select().from(credentialJobs).where(inArray(credentialJobs.id, jobs.map((j) => j.id)));
    expect(ended.every((j) => j.state === 'done' && j.finishedAt && j.leaseUntil === null)).toBe(true);
    const rotated = await db().select().from(credentialAccounts).where(inArray(credentialAccounts.id, accounts.map((a) => a.id)));
    expect(rotated.every((a) => a.lastRotatedAt !== null && a.status === 'created')).toBe(true);
    const events = await db().select().from(auditEvents).where(eq(auditEvents.action, 'credential.rotate'));
    expect(events).toHaveLength(accounts.length);
    expect((await db().select({ id: auditEvents.id }).from(auditEvents)).length).toBe(auditBefore + accounts.length);
    const verify = await admin.get('/api/v1/audit/verify');
    expect(verify.body.ok, JSON.stringify(verify.body)).toBe(true);
  });

  it('a job whose ending the database refuses fails alone; the jobs batched with it commit', async () => {
    const ledger = new RotationLedger(db(), server.running.ctx.audit);
    const queued = await store.queueJobs(db(), accounts.slice(0, 4).map((a) => request(a, 'on_demand', new Date())));
    const endings = queued.map((q, i) =>
      ledger.end({
        // Not a uuid: the database refuses this one row, and with it the whole first batch.
        jobId: i === 2 ? 'not-a-job-id' : q.id,
        state: 'failed',
        error: 'the agent refused',
        account: { id: q.accountId, status: 'failed', reasons: ['the agent refused'] },
        audit: { actorType: 'system', action: 'credential.rotate', outcome: 'failure', targetType: 'machine', targetId: accounts[i].machineId, details: { i } },
      }),
    );
    const results = await Promise.allSettled(endings);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    const jobs = await db().select().from(credentialJobs).where(inArray(credentialJobs.id, queued.map((q) => q.id)));
    const state = new Map(jobs.map((j) => [j.id, j.state]));
    expect(queued.map((q) => state.get(q.id))).toEqual(['failed', 'failed', 'queued', 'failed']);
    const [untouched] = await db().select().from(credentialAccounts).where(and(eq(credentialAccounts.id, accounts[2].id)));
    expect(untouched.status, 'nothing of the refused ending was half-written').toBe('created');
    const verify = await admin.get('/api/v1/audit/verify');
    expect(verify.body.ok, JSON.stringify(verify.body)).toBe(true);
  });
});
