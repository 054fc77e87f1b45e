import { crashPoint } from '../../protocol/crash-point.ts';
import { REMOTE_SUPPORT_FULL_NAME, signCredentialJob, type ManagedAccount, type PasswordRules } from '../../protocol/credentials.ts';
import { fromBase64, toBase64 } from '../../protocol/identity.ts';
import type { AppContext } from '../context.ts';
import { AgentRefusal } from '../gateway/agent-connection.ts';
import { credentialPolicyOf, type CredentialPolicy } from './credential-policy-store.ts';
import * as store from './credential-store.ts';
import { NOC_FULL_NAME, qualifyInspection } from './qualification.ts';

/** How long the agent's prepared password stays valid for applying; also the job's signed expiry. */
const JOB_EXPIRY_MS = 10 * 60_000;
const COMMAND_TIMEOUT_MS = 60_000;
/** A job that keeps failing for transient reasons (disconnects, timeouts) is given up after this many attempts. */
const MAX_ATTEMPTS = 6;

export function passwordRulesOf(policy: CredentialPolicy): PasswordRules {
  return policy.rotation.mode === 'passphrase'
    ? { mode: 'passphrase', words: policy.rotation.passphraseWords }
    : { mode: 'characters', length: policy.rotation.length, classes: policy.rotation.classes };
}

/**
 * Runs one claimed job on its machine's agent, on this replica:
 *   1. inspect — qualification from the endpoint's own answers (policy, the account as it is, name clashes);
 *   2. prepare — the agent generates and seals the password; the sealed copy is stored as `pending` (durable) first;
 *   3. apply — only then the agent sets it, verifies it and forgets it; the version is promoted to `current`.
 * Every crash between those steps leaves the current or a pending version opening the account: before apply the
 * endpoint is untouched, and what apply sets is already in escrow. A job found `prepared` resumes at apply; an agent
 * that lost its prepared password (it restarted) is asked to prepare again, the stored pending version kept as a
 * candidate until a newer password is verified.
 */
export async function runJob(ctx: AppContext, job: store.CredentialJob): Promise<void> {
  const account = await store.accountById(ctx.db, job.accountId);
  const machine = await store.machineFacts(ctx.db, job.machineId);
  if (!account || !machine) return store.finishJob(ctx.db, job.id, 'cancelled', 'the account or its machine is gone');
  const policy = await credentialPolicyOf(ctx.db, machine.siteId);
  const enabled = account.purpose === 'noc' ? policy.server.enabled : policy.desktop.enabled;
  if (!enabled) return store.finishJob(ctx.db, job.id, 'cancelled', 'the site disabled this part of its credential policy');
  const managed: ManagedAccount = {
    purpose: account.purpose as ManagedAccount['purpose'],
    name: account.username,
    fullName: account.purpose === 'noc' ? NOC_FULL_NAME : REMOTE_SUPPORT_FULL_NAME,
    scope: account.scope as ManagedAccount['scope'],
  };
  const rules = passwordRulesOf(policy);
  try {
    if (job.state === 'queued') {
      const prepared = await prepare(ctx, job, account, managed, rules);
      if (!prepared) return;
    }
    await apply(ctx, job, account, policy);
  } catch (error) {
    await onError(ctx, job, account, error);
  }
}

/** Steps 1 and 2. False when the job ended here (not qualified). */
async function prepare(ctx: AppContext, job: store.CredentialJob, account: store.CredentialAccount, managed: ManagedAccount, rules: PasswordRules): Promise<boolean> {
  const inspection = await ctx.agents.request(job.machineId, 'credentials.inspect', { account: managed, rules }, COMMAND_TIMEOUT_MS);
  const verdict = qualifyInspection(inspection, managed);
  if (verdict) {
    await endWithout(ctx, job, account, verdict.status, verdict.reasons);
    return false;
  }
  const creating = inspection.account === null;
  if (creating && job.reason !== 'setup') {
    await endWithout(ctx, job, account, 'failed', [`the account '${managed.name}' is missing on the endpoint; it is created again by the site's setup`]);
    return false;
  }
  const issuedAt = new Date();
  const signed = signCredentialJob(
    {
      jobId: job.id,
      machineId: job.machineId,
      account: managed,
      rules,
      create: creating,
      escrowKey: toBase64(ctx.escrow.publicKey),
      issuedAt: issuedAt.toISOString(),
      expiresAt: new Date(issuedAt.getTime() + JOB_EXPIRY_MS).toISOString(),
    },
    ctx.identity.sign,
  );
  const result = await ctx.agents.request(job.machineId, 'credentials.prepare', { job: signed }, COMMAND_TIMEOUT_MS);
  const sealed = fromBase64(result.sealed, Buffer.from(result.sealed, 'base64').length);
  // Store only what the escrow key opens: a box sealed to another key would be a password nobody could ever read.
  const opened = sealed ? ctx.escrow.open(sealed) : null;
  if (!sealed || !opened || opened.length === 0) throw new Error('the agent sealed the password to a key this server cannot open');
  opened.fill(0);
  crashPoint('server.prepared');
  await ctx.db.transaction(async (tx) => {
    await store.insertPendingVersion(tx, { accountId: account.id, jobId: job.id, sealed });
    await store.markJobPrepared(tx, job.id);
  });
  crashPoint('server.pending_stored');
  return true;
}

/** Step 3. */
async function apply(ctx: AppContext, job: store.CredentialJob, account: store.CredentialAccount, policy: CredentialPolicy): Promise<void> {
  const result = await ctx.agents.request(job.machineId, 'credentials.apply', { jobId: job.id }, COMMAND_TIMEOUT_MS);
  crashPoint('server.applied');
  const version = await store.pendingVersionOfJob(ctx.db, job.id);
  if (!version) throw new Error('the pending version of this job is missing');
  const reasons = result.admin ? [] : [`'${account.username}' was set but could not be made an administrator; it must keep admin rights`];
  const status = result.admin ? 'created' : 'failed';
  await ctx.db.transaction(async (tx) => {
    await store.promoteVersion(tx, account.id, version.id, policy.rotation.historyDepth);
    await store.setAccountStatus(tx, account.id, status, reasons);
    if (account.scope === 'domain') await store.setCoveredStatus(tx, account.id, status, coveredReasons(account, reasons));
    await store.finishJob(tx, job.id, result.admin ? 'done' : 'failed', reasons[0] ?? null);
    await ctx.audit.record(tx, {
      actorType: 'system',
      action: job.reason === 'setup' && result.created ? 'credential.create' : 'credential.rotate',
      outcome: result.admin ? 'success' : 'failure',
      targetType: 'machine',
      targetId: job.machineId,
      details: { account: account.username, purpose: account.purpose, scope: account.scope, reason: job.reason, jobId: job.id, versionId: version.id, created: result.created },
    });
  });
}

const coveredReasons = (account: store.CredentialAccount, reasons: string[]) => [
  `covered by the domain account ${account.domain ?? ''}\\${account.username}`,
  ...reasons,
];

/** The job ends without a new password: not qualified, or failed. An account that already works keeps `created`. */
async function endWithout(ctx: AppContext, job: store.CredentialJob, account: store.CredentialAccount, status: store.AccountStatus, reasons: string[]): Promise<void> {
  const keepsWorking = account.status === 'created' && job.reason !== 'setup';
  await ctx.db.transaction(async (tx) => {
    if (!keepsWorking) {
      await store.setAccountStatus(tx, account.id, status, reasons);
      if (account.scope === 'domain') await store.setCoveredStatus(tx, account.id, status, coveredReasons(account, reasons));
    }
    await store.finishJob(tx, job.id, 'failed', reasons.join('; '));
    await ctx.audit.record(tx, {
      actorType: 'system',
      action: job.reason === 'setup' ? 'credential.create' : 'credential.rotate',
      outcome: 'failure',
      targetType: 'machine',
      targetId: job.machineId,
      details: { account: account.username, purpose: account.purpose, reason: job.reason, jobId: job.id, status, reasons },
    });
  });
}

/**
 * A definitive refusal by the agent (the account is not ours, the store refused the password) ends the job; anything
 * transient (a disconnect, a timeout, an agent that lost its prepared password) starts it over from prepare.
 */
async function onError(ctx: AppContext, job: store.CredentialJob, account: store.CredentialAccount, error: unknown): Promise<void> {
  const message = error instanceof AgentRefusal ? error.agentMessage : (error as Error).message;
  const definitive = error instanceof AgentRefusal && (error.agentCode === 'refused' || error.agentCode === 'failed' || error.agentCode === 'invalid_params');
  if (definitive || job.attempts >= MAX_ATTEMPTS) {
    await endWithout(ctx, job, account, 'failed', [definitive ? message : `gave up after ${job.attempts} attempts: ${message}`]);
    return;
  }
  // An agent that restarted or went away is retried as soon as it is back (only connected agents' jobs are claimed);
  // one that is connected but failing is given time.
  const again = (error instanceof AgentRefusal && error.agentCode === 'job_unknown') || !ctx.agents.get(job.machineId);
  ctx.log.warn({ jobId: job.id, machineId: job.machineId, err: message }, 'credential job will be retried');
  await store.requeueJob(ctx.db, job.id, message, again ? 0 : Math.min(300, 5 * 2 ** job.attempts));
}
