import type { Actor } from '../access/actor.ts';
import { authorize } from '../access/authorizer.ts';
import { auditDenial, demand } from '../access/demand.ts';
import { auditOf } from '../audit/audit-event.ts';
import { verifySecondFactor } from '../auth/mfa-service.ts';
import { markTokenMfaVerified } from '../auth/auth-store.ts';
import type { AppContext } from '../context.ts';
import { Conflict, Forbidden, NotFound } from '../errors.ts';
import { machineResource } from '../machines/machine-service.ts';
import { demandSite } from '../tenancy/site-demand.ts';
import { credentialPolicyOf } from './credential-policy-store.ts';
import * as store from './credential-store.ts';
import { siteStatus } from './setup-summary.ts';

const facts = async (ctx: AppContext, actor: Actor, machineId: string, permission: 'machines.view' | 'credentials.manage' | 'credentials.reveal') => {
  const machine = await store.machineFacts(ctx.db, machineId);
  if (!machine) {
    await demand(ctx, actor, permission, { type: 'collection', of: 'machines' });
    throw new NotFound('machine not found');
  }
  await demand(ctx, actor, permission, machineResource(machine));
  return machine;
};

const accountView = (a: store.CredentialAccount, openJob: store.CredentialJob | undefined) => ({
  purpose: a.purpose,
  username: a.username,
  scope: a.scope,
  domain: a.domain,
  status: a.status,
  reasons: a.reasons,
  coveredBy: a.coveredBy,
  lastRotatedAt: a.lastRotatedAt,
  rotation: openJob ? { jobId: openJob.id, reason: openJob.reason, state: openJob.state, dueAt: openJob.dueAt, lastError: openJob.lastError } : null,
});

/** Per-site status (each purpose aggregated) with per-machine details and reasons, for machines the caller sees. */
export async function siteCredentialStatus(ctx: AppContext, actor: Actor, siteId: string) {
  const site = await demandSite(ctx, actor, siteId, 'machines.view');
  const policy = await credentialPolicyOf(ctx.db, siteId);
  const rows = (await store.siteAccounts(ctx.db, siteId)).filter((r) => authorize(actor, 'machines.view', { type: 'machine', machineId: r.account.machineId, siteId, clientId: site.clientId }).allowed);
  const open = await store.openJobsOf(ctx.db, rows.map((r) => r.account.id));
  const machines = rows.map((r) => ({ machineId: r.account.machineId, hostname: r.hostname, kind: r.kind, os: r.os, ...accountView(r.account, open.get(r.account.id)) }));
  const of = (purpose: string) => machines.filter((m) => m.purpose === purpose).map((m) => m.status);
  return {
    siteId,
    setup: policy.setup,
    server: { enabled: policy.server.enabled, status: siteStatus(of('noc')) },
    desktop: { enabled: policy.desktop.enabled, status: siteStatus(of('remote_support')) },
    machines,
  };
}

export async function machineCredentials(ctx: AppContext, actor: Actor, machineId: string) {
  await facts(ctx, actor, machineId, 'machines.view');
  const accounts = await store.machineAccounts(ctx.db, machineId);
  const open = await store.openJobsOf(ctx.db, accounts.map((a) => a.id));
  return accounts.map((a) => accountView(a, open.get(a.id)));
}

/** The account that really holds the password: a member server's NOC account is its domain controller's. */
async function holdingAccount(ctx: AppContext, machineId: string, purpose: store.AccountPurpose) {
  const account = await store.findAccount(ctx.db, machineId, purpose);
  if (!account) throw new NotFound(`this machine has no ${purpose === 'noc' ? 'NOC' : 'Remote Support'} account`);
  if (!account.coveredBy) return account;
  const domainAccount = await store.accountById(ctx.db, account.coveredBy);
  if (!domainAccount) throw new NotFound('the domain account covering this machine is gone');
  return domainAccount;
}

/**
 * Reveals the escrowed password (LAPS-style): `credentials.reveal` over the machine — and over the domain controller
 * for a domain account, which opens every machine of the domain — with a second factor from the last 15 minutes (a
 * code in the request counts). Audited with the reason; a rotation follows after the site's delay. While a rotation
 * is unconfirmed, the pending candidates are returned too: one of them, or the current one, opens the account.
 */
export async function revealCredential(
  ctx: AppContext,
  actor: Actor,
  machineId: string,
  purpose: store.AccountPurpose,
  input: { reason: string; versionId?: string; totpCode?: string; recoveryCode?: string },
) {
  const machine = await store.machineFacts(ctx.db, machineId);
  if (!machine) {
    await demand(ctx, actor, 'credentials.reveal', { type: 'collection', of: 'machines' });
    throw new NotFound('machine not found');
  }
  if (input.totpCode || input.recoveryCode) await stepUp(ctx, actor, input);
  await demand(ctx, actor, 'credentials.reveal', machineResource(machine));
  const account = await holdingAccount(ctx, machineId, purpose);
  if (account.machineId !== machineId) {
    const holder = await store.machineFacts(ctx.db, account.machineId);
    if (holder) await demand(ctx, actor, 'credentials.reveal', machineResource(holder));
  }
  const versions = await store.liveVersions(ctx.db, account.id);
  // A previous password (kept history: a restored backup may still want it) is revealed only when asked for by id.
  const current = input.versionId ? await store.versionOf(ctx.db, account.id, input.versionId) : versions.find((v) => v.state === 'current');
  if (!current) {
    if (input.versionId) throw new NotFound('no such version of this account\'s password (history beyond the site\'s depth is deleted)');
    throw new Conflict(`no password for '${account.username}' has been confirmed on the endpoint yet (status: ${account.status})`);
  }
  const open = (sealed: Uint8Array) => {
    const plain = ctx.escrow.open(sealed);
    if (!plain) throw new Error('an escrowed password does not open with this server\'s escrow key (was the master key changed?)');
    return Buffer.from(plain).toString('utf8');
  };
  const policy = await credentialPolicyOf(ctx.db, machine.siteId);
  const dueAt = new Date(Date.now() + policy.rotation.rotateAfterUseMinutes * 60_000);
  const job = await ctx.db.transaction(async (tx) => {
    const [queued] = await store.queueJobs(tx, [{ accountId: account.id, machineId: account.machineId, reason: 'after_reveal', dueAt, deadlineAt: new Date(dueAt.getTime() + 7 * 86400_000), requestedBy: actor.userId }]);
    await store.insertReveal(tx, { accountId: account.id, versionId: current.id, userId: actor.userId, reason: input.reason, rotationJobId: queued.id });
    await ctx.audit.record(tx, auditOf(actor, 'credential.reveal', 'machine', machineId, { account: account.username, purpose, scope: account.scope, versionId: current.id, reason: input.reason, rotationDueAt: dueAt }));
    return queued;
  });
  return {
    username: account.username,
    domain: account.domain,
    scope: account.scope,
    password: open(current.sealed),
    versionId: current.id,
    state: current.state,
    setAt: current.appliedAt,
    unconfirmed: input.versionId ? [] : versions.filter((v) => v.state === 'pending').map((v) => ({ createdAt: v.createdAt, password: open(v.sealed) })),
    rotation: { jobId: job.id, dueAt },
  };
}

/** The escrow history of a managed account, without secrets (`credentials.reveal` over the machine). */
export async function credentialHistory(ctx: AppContext, actor: Actor, machineId: string, purpose: store.AccountPurpose) {
  await facts(ctx, actor, machineId, 'credentials.reveal');
  const account = await holdingAccount(ctx, machineId, purpose);
  return store.versionHistory(ctx.db, account.id);
}

/** A code sent with the request is a step-up: checked once, and the sign-in counts as freshly verified. */
async function stepUp(ctx: AppContext, actor: Actor, factor: { totpCode?: string; recoveryCode?: string }) {
  const ok = await ctx.db.transaction(async (tx) => {
    const kind = await verifySecondFactor(ctx, tx, actor.userId, factor);
    if (kind) await markTokenMfaVerified(tx, actor.token.id);
    return kind;
  });
  if (!ok) {
    await auditDenial(ctx, actor, 'credentials.reveal', { type: 'self' }, 'the second factor given for a reveal was wrong');
    throw new Forbidden('the authenticator or recovery code is wrong (or was used already)');
  }
  actor.token.mfaVerified = true;
  actor.token.mfaVerifiedAt = new Date();
}

/** Rotates now (`credentials.manage` over the machine); a member server's request rotates its domain account. */
export async function rotateCredential(ctx: AppContext, actor: Actor, machineId: string, purpose: store.AccountPurpose) {
  await facts(ctx, actor, machineId, 'credentials.manage');
  const account = await holdingAccount(ctx, machineId, purpose);
  if (account.status !== 'created' && account.status !== 'failed') throw new Conflict(`the account is ${account.status}; only a created account is rotated`);
  const now = new Date();
  const job = await ctx.db.transaction(async (tx) => {
    const [queued] = await store.queueJobs(tx, [{ accountId: account.id, machineId: account.machineId, reason: 'on_demand', dueAt: now, deadlineAt: new Date(now.getTime() + 86400_000), requestedBy: actor.userId }]);
    await ctx.audit.record(tx, auditOf(actor, 'credential.rotate_request', 'machine', machineId, { account: account.username, purpose, jobId: queued.id }));
    return queued;
  });
  return { jobId: job.id, dueAt: now };
}

/**
 * Rotates every managed account of a site now (`credentials.manage` over the site, and over each machine): after an
 * incident, or when a technician leaves. One transaction and one audit record, however many machines.
 */
export async function rotateSite(ctx: AppContext, actor: Actor, siteId: string, input: { purpose?: store.AccountPurpose; reason: string }) {
  const site = await demandSite(ctx, actor, siteId, 'credentials.manage');
  const rows = (await store.siteAccounts(ctx.db, siteId)).filter(
    (r) =>
      !r.account.coveredBy &&
      (r.account.status === 'created' || r.account.status === 'failed') &&
      (!input.purpose || r.account.purpose === input.purpose) &&
      authorize(actor, 'credentials.manage', { type: 'machine', machineId: r.account.machineId, siteId, clientId: site.clientId }).allowed,
  );
  const now = new Date();
  const deadlineAt = new Date(now.getTime() + 86400_000);
  const queued = await ctx.db.transaction(async (tx) => {
    const jobs = await store.queueJobs(tx, rows.map(({ account }) => ({ accountId: account.id, machineId: account.machineId, reason: 'on_demand' as const, dueAt: now, deadlineAt, requestedBy: actor.userId })));
    await ctx.audit.record(tx, auditOf(actor, 'credential.rotate_site', 'site', siteId, { purpose: input.purpose ?? 'all', accounts: jobs.length, reason: input.reason }));
    return jobs.length;
  });
  return { siteId, queued, dueAt: now };
}
