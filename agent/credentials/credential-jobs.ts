import { type CommandParams, type CommandResult } from '../../protocol/commands.ts';
import { crashPoint } from '../../protocol/crash-point.ts';
import { verifyCredentialJob, type CredentialInspection, type CredentialJobBody, type PasswordRules } from '../../protocol/credentials.ts';
import { sealToEscrow } from '../../protocol/escrow.ts';
import { fromBase64, PUBLIC_KEY_BYTES, toBase64 } from '../../protocol/identity.ts';
import { AccountBackendError, type AccountBackend } from '../accounts/account-backend.ts';
import { checkPassword, generatePassword } from '../accounts/password-generator.ts';
import { CommandRefused } from '../commands/command-refused.ts';
import type { Logger } from '../log.ts';

/** The account stores this endpoint has, per scope; null with the reason where it has none. */
export interface AccountBackends {
  local: AccountBackend | null;
  domain: AccountBackend | null;
  /** Why a scope has no backend here (the platform, or a tool that is missing). */
  missing: { local?: string; domain?: string };
}

interface Prepared {
  job: CredentialJobBody;
  backend: AccountBackend;
  password: string;
  timer: NodeJS.Timeout;
}

/** A prepared password the server never applied is dropped after this long: it was never set, so nothing is lost. */
const PREPARED_TTL_MS = 10 * 60_000;

/**
 * The agent's half of a rotation. `prepare` generates the password and hands back only its sealed copy; the plaintext
 * stays in this process's memory, nowhere on disk. `apply` sets it, only after the server confirmed (by asking) that
 * the sealed copy is stored. So a crash anywhere leaves the endpoint with the current or the pending escrowed password:
 * before apply the endpoint is untouched; after it, the pending copy is already in escrow.
 */
export class CredentialJobs {
  private readonly prepared = new Map<string, Prepared>();
  private readonly serverPublicKey: Uint8Array;

  constructor(
    private readonly backends: AccountBackends,
    private readonly opts: { machineId: string; serverPublicKey: string; log: Logger },
  ) {
    this.serverPublicKey = fromBase64(opts.serverPublicKey, PUBLIC_KEY_BYTES) as Uint8Array;
  }

  async inspect(params: CommandParams<'credentials.inspect'>): Promise<CredentialInspection> {
    const { account, rules } = params;
    const backend = this.backends[account.scope];
    const none: CredentialInspection = { backend: null, problem: null, policy: null, account: null, clashes: [], rulesSatisfyPolicy: [] };
    if (!backend) return { ...none, problem: this.backends.missing[account.scope] ?? `no ${account.scope} account store on this endpoint` };
    try {
      const policy = await backend.readPolicy();
      const state = await backend.lookup(account.name);
      const clashes = (await backend.serviceAccounts()).filter((use) => sameAccount(use.account, account.name));
      return { backend: backend.kind, problem: null, policy, account: state, clashes: clashes.slice(0, 500), rulesSatisfyPolicy: policyProblems(rules, policy, account.name) };
    } catch (error) {
      return { ...none, backend: backend.kind, problem: describe(error) };
    }
  }

  async prepare(params: CommandParams<'credentials.prepare'>): Promise<CommandResult<'credentials.prepare'>> {
    const job = verifyCredentialJob(params.job, { serverPublicKey: this.serverPublicKey, machineId: this.opts.machineId, now: new Date() });
    const backend = this.backends[job.account.scope];
    if (!backend) throw new CommandRefused('failed', this.backends.missing[job.account.scope] ?? `no ${job.account.scope} account store on this endpoint`);
    const escrowKey = fromBase64(job.escrowKey, 32);
    if (!escrowKey) throw new CommandRefused('invalid_params', 'the escrow key is not 32 bytes of base64');
    const policy = await backend.readPolicy().catch((error) => {
      throw new CommandRefused('failed', `reading the password policy failed: ${describe(error)}`);
    });
    let password: string;
    try {
      password = generatePassword(job.rules, policy, job.account.name);
    } catch (error) {
      throw new CommandRefused('failed', `no password from these rules satisfies the endpoint's policy: ${describe(error)}`);
    }
    const violations = checkPassword(policy, password, job.account.name);
    if (violations.length) throw new CommandRefused('failed', `the generated password does not satisfy the endpoint's policy: ${violations.join('; ')}`);
    const sealed = toBase64(sealToEscrow(Buffer.from(password, 'utf8'), escrowKey));
    this.forget(job.jobId);
    const timer = setTimeout(() => this.forget(job.jobId), PREPARED_TTL_MS);
    timer.unref();
    this.prepared.set(job.jobId, { job, backend, password, timer });
    crashPoint('agent.prepared');
    return { jobId: job.jobId, sealed };
  }

  async apply(params: CommandParams<'credentials.apply'>): Promise<CommandResult<'credentials.apply'>> {
    const entry = this.prepared.get(params.jobId);
    if (!entry) throw new CommandRefused('job_unknown', 'this agent holds no prepared password for the job (it restarted, or the job expired): prepare it again');
    const { job, backend, password } = entry;
    const { name, fullName } = job.account;
    try {
      const existing = await backend.lookup(name);
      if (existing && !existing.managedBySteward) throw new CommandRefused('refused', `an account named '${name}' exists that Steward did not create; it is left alone`);
      if (!existing && !job.create) throw new CommandRefused('failed', `the account '${name}' no longer exists on the endpoint; run the site's setup to create it again`);
      crashPoint('agent.before_set');
      if (existing) await backend.setPassword(name, password);
      else await backend.create({ name, fullName }, password);
      crashPoint('agent.after_set');
      await backend.ensureAdmin(name);
      if (!(await backend.verifyPassword(name, password))) throw new CommandRefused('failed', `the new password of '${name}' does not verify against the account store`);
      const after = await backend.lookup(name);
      this.forget(job.jobId);
      this.opts.log.info({ jobId: job.jobId, account: name, scope: job.account.scope, created: !existing }, 'managed account password set and verified');
      crashPoint('agent.applied');
      return { jobId: job.jobId, created: !existing, admin: after?.admin ?? false, verified: true };
    } catch (error) {
      if (error instanceof CommandRefused) throw error;
      throw new CommandRefused('failed', describe(error));
    }
  }

  private forget(jobId: string): void {
    const entry = this.prepared.get(jobId);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.prepared.delete(jobId);
  }
}

/** Service account names come as `name`, `DOMAIN\name` or `name@domain`; Windows and AD compare case-insensitively. */
function sameAccount(used: string, name: string): boolean {
  const bare = used.includes('\\') ? used.slice(used.lastIndexOf('\\') + 1) : used.split('@')[0];
  return bare.toLowerCase() === name.toLowerCase();
}

/** Whether passwords from these rules pass the policy: one is generated and checked, never kept. */
function policyProblems(rules: PasswordRules, policy: CredentialInspection['policy'] & object, name: string): string[] {
  try {
    return checkPassword(policy, generatePassword(rules, policy, name), name);
  } catch (error) {
    return [describe(error)];
  }
}

const describe = (error: unknown) => (error instanceof AccountBackendError ? `${error.code}: ${error.message}` : (error as Error).message ?? String(error));
