import { crashPoint } from '../../protocol/crash-point.ts';
import { REMOTE_SUPPORT_FULL_NAME, signCredentialJob, type ManagedAccount, type PasswordRules } from '../../protocol/credentials.ts';
import { fromBase64, toBase64 } from '../../protocol/identity.ts';
import type { AppContext } from '../context.ts';
import { AgentRefusal } from '../gateway/agent-connection.ts';
import type { CredentialPolicy } from './credential-policy-store.ts';
import * as store from './credential-store.ts';
import type { RotationLedger } from './rotation-ledger.ts';
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

/** A claimed job with what running it needs (loaded for the whole claim in one query, see credential-store.ts). */
export interface ClaimedJob {
  job: store.CredentialJob;
  account: store.CredentialAccount;
  policy: CredentialPolicy;
}

/**
 * Runs one claimed job on its machine's agent, on this replica:
 *   1. inspect — qualification from the endpoint's own answers (policy, the account as it is, name clashes);
 *   2. prepare — the agent generates and seals the password; the sealed copy is stored as `pending` (durable) first;
 *   3. apply — only then the agent sets it, verifies it and forgets it; the version is promoted to `current`.
 * Every crash between those steps leaves the current or a pending version opening the account: before apply the
 * endpoint is untouched, and what apply sets is already in escrow. A job found `prepared` resumes at apply; an agent
 * that lost its prepared password (it restarted) is asked to prepare again, the stored pending version kept as a
 * candidate until a newer password is verified. The durable writes go through the ledger, shared with the jobs
 * running beside this one.
 */
export async function runJob(ctx: AppContext, ledger: RotationLedger, { job, account, policy }: ClaimedJob): Promise<void> {
  const enabled = account.purpose === 'noc' ? policy.server.enabled : policy.desktop.enabled;
  if (!enabled) return ledger.end({ jobId: job.id, state: 'cancelled', error: 'the site disabled this part of its credential policy' });
  const managed: ManagedAccount = {
    purpose: account.purpose as ManagedAccount['purpose'],
    name: account.username,
    fullName: account.purpose === 'noc' ? NOC_FULL_NAME : REMOTE_SUPPORT_FULL_NAME,
    scope: account.scope as ManagedAccount['scope'],
  };
  const rules = passwordRulesOf(policy);
  try {
    let versionId: string | null = null;
    if (job.state === 'queued') {
      versionId = await prepare(ctx, ledger, job, account, managed, rules);
      if (!versionId) return;
    }
    await apply(ctx, ledger, job, account, policy, versionId);
  } catch (error) {
    await onError(ctx, ledger, job, account, error);
  }
}

/** Steps 1 and 2: the stored pending version's id, or null when the job ended here (not qualified). */
async function prepare(ctx: AppContext, ledger: RotationLedger, job: store.CredentialJob, account: store.CredentialAccount, managed: ManagedAccount, rules: PasswordRules): Promise<string | null> {
  const inspection = await ctx.agents.request(job.machineId, 'credentials.inspect', { account: managed, rules }, COMMAND_TIMEOUT_MS);
  const verdict = qualifyInspection(inspection, managed);
  if (verdict) {
    await endWithout(ledger, job, account, verdict.status, verdict.reasons);
    return null;
  }
  const creating = inspection.account === null;
  if (creating && job.reason !== 'setup') {
    await endWithout(ledger, job, account, 'failed', [`the account '${managed.name}' is missing on the endpoint; it is created again by the site's setup`]);
    return null;
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
  const versionId = await ledger.storePending({ accountId: account.id, jobId: job.id, sealed });
  crashPoint('server.pending_stored');
  return versionId;
}

/** Step 3. `versionId`: the pending version just stored; null when a job found `prepared` resumes here. */
async function apply(ctx: AppContext, ledger: RotationLedger, job: store.CredentialJob, account: store.CredentialAccount, policy: CredentialPolicy, versionId: string | null): Promise<void> {
  const result = await ctx.agents.request(job.machineId, 'credentials.apply', { jobId: job.id }, COMMAND_TIMEOUT_MS);
  crashPoint('server.applied');
  const version = versionId ?? (await store.pendingVersionOfJob(ctx.db, job.id))?.id;
  if (!version) throw new Error('the pending version of this job is missing');
  const reasons = result.admin ? [] : [`'${account.username}' was set but could not be made an administrator; it must keep admin rights`];
  const status = result.admin ? 'created' : 'failed';
  await ledger.end({
    jobId: job.id,
    state: result.admin ? 'done' : 'failed',
    error: reasons[0] ?? null,
    promote: { accountId: account.id, versionId: version, historyDepth: policy.rotation.historyDepth },
    account: { id: account.id, status, reasons, ...covered(account, reasons) },
    audit: {
      actorType: 'system',
      action: job.reason === 'setup' && result.created ? 'credential.create' : 'credential.rotate',
      outcome: result.admin ? 'success' : 'failure',
      targetType: 'machine',
      targetId: job.machineId,
      details: { account: account.username, purpose: account.purpose, scope: account.scope, reason: job.reason, jobId: job.id, versionId: version, created: result.created },
    },
  });
}

/** A domain account's member servers follow it, with a reason saying so. */
const covered = (account: store.CredentialAccount, reasons: string[]) =>
  account.scope === 'domain' ? { coveredReasons: [`covered by the domain account ${account.domain ?? ''}\\${account.username}`, ...reasons] } : {};

/** The job ends without a new password: not qualified, or failed. An account that already works keeps `created`. */
export function endWithout(ledger: RotationLedger, job: store.CredentialJob, account: store.CredentialAccount, status: store.AccountStatus, reasons: string[]): Promise<void> {
  const keepsWorking = account.status === 'created' && job.reason !== 'setup';
  return ledger.end({
    jobId: job.id,
    state: 'failed',
    error: reasons.join('; '),
    ...(keepsWorking ? {} : { account: { id: account.id, status, reasons, ...covered(account, reasons) } }),
    audit: {
      actorType: 'system',
      action: job.reason === 'setup' ? 'credential.create' : 'credential.rotate',
      outcome: 'failure',
      targetType: 'machine',
      targetId: job.machineId,
      details: { account: account.username, purpose: account.purpose, reason: job.reason, jobId: job.id, status, reasons },
    },
  });
}

/**
 * A definitive refusal by the agent (the account is not ours, the store refused the password) ends the job; anything
 * transient (a disconnect, a timeout, an agent that lost its prepared password) starts it over from prepare.
 */
async function onError(ctx: AppContext, ledger: RotationLedger, job: store.CredentialJob, account: store.CredentialAccount, error: unknown): Promise<void> {
  const message = error instanceof AgentRefusal ? error.agentMessage : (error as Error).message;
  const definitive = error instanceof AgentRefusal && (error.agentCode === 'refused' || error.agentCode === 'failed' || error.agentCode === 'invalid_params');
  if (definitive || job.attempts >= MAX_ATTEMPTS) {
    await endWithout(ledger, job, account, 'failed', [definitive ? message : `gave up after ${job.attempts} attempts: ${message}`]);
    return;
  }
  // An agent that restarted or went away is retried as soon as it is back (only connected agents' jobs are claimed);
  // one that is connected but failing is given time.
  const again = (error instanceof AgentRefusal && error.agentCode === 'job_unknown') || !ctx.agents.get(job.machineId);
  ctx.log.warn({ jobId: job.id, machineId: job.machineId, err: message }, 'credential job will be retried');
  await store.requeueJob(ctx.db, job.id, message, again ? 0 : Math.min(300, 5 * 2 ** job.attempts));
}
