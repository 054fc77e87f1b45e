import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import nacl from 'tweetnacl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinuxLocalAccounts } from '../../agent/accounts/linux-local.ts';
import { CommandRefused } from '../../agent/commands/command-refused.ts';
import { CredentialJobs } from '../../agent/credentials/credential-jobs.ts';
import { createAgentLogger } from '../../agent/log.ts';
import { runCommand } from '../../agent/platform/run-command.ts';
import { CredentialJobRefused, signCredentialJob, type CredentialJobBody } from '../../protocol/credentials.ts';
import { openFromEscrow } from '../../protocol/escrow.ts';
import { generateKeyPair, signerFor, toBase64 } from '../../protocol/identity.ts';
import { linuxFakeRoot, linuxPasswordOpens, passwdEntry } from '../helpers/account-stores.ts';

/**
 * The agent's own checks on a credential job (the Kaseya lesson: agents verify what they are told to do): only a job
 * signed by the server key it pinned, for its own machine, not expired, is prepared; nothing is set on the endpoint
 * before `apply`; the password leaves the agent only sealed to the job's escrow key.
 */
describe('agent credential jobs', () => {
  const server = generateKeyPair();
  const machineId = randomUUID();
  const escrow = nacl.box.keyPair();
  let root: string;
  let jobs: CredentialJobs;

  const body = (changes: Partial<CredentialJobBody> = {}): CredentialJobBody => ({
    jobId: randomUUID(),
    machineId,
    account: { purpose: 'remote_support', name: 'remote-support', fullName: 'Remote Support', scope: 'local' },
    rules: { mode: 'characters', length: 20, classes: ['lower', 'upper', 'digit', 'symbol'] },
    create: true,
    escrowKey: toBase64(escrow.publicKey),
    issuedAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + 60_000).toISOString(),
    ...changes,
  });
  const signed = (b: CredentialJobBody, key = server.secretKey) => signCredentialJob(b, signerFor(key));

  beforeAll(() => {
    root = linuxFakeRoot();
    jobs = new CredentialJobs(
      { local: new LinuxLocalAccounts(runCommand, { root }), domain: null, missing: { domain: 'no domain here' } },
      { machineId, serverPublicKey: toBase64(server.publicKey), log: createAgentLogger('silent') },
    );
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('refuses a job signed by another key, for another machine, expired, or tampered with', async () => {
    const refusals = [
      signed(body(), generateKeyPair().secretKey),
      signed(body({ machineId: randomUUID() })),
      signed(body({ expiresAt: new Date(Date.now() - 1000).toISOString() })),
      { ...signed(body()), body: Buffer.from(JSON.stringify({ ...body(), create: false })).toString('base64') },
    ];
    for (const job of refusals) await expect(jobs.prepare({ job })).rejects.toBeInstanceOf(CredentialJobRefused);
    expect(passwdEntry(root, 'remote-support')).toBeNull();
  });

  it('prepares without touching the endpoint, hands out only a box the escrow key opens, and sets it on apply', async () => {
    const job = body();
    const prepared = await jobs.prepare({ job: signed(job) });
    expect(passwdEntry(root, 'remote-support')).toBeNull();
    const sealed = Buffer.from(prepared.sealed, 'base64');
    expect(openFromEscrow(sealed, nacl.box.keyPair().secretKey)).toBeNull();
    const password = Buffer.from(openFromEscrow(sealed, escrow.secretKey) as Uint8Array).toString('utf8');
    expect(password).toHaveLength(20);
    expect(prepared.sealed).not.toContain(password);
    const applied = await jobs.apply({ jobId: job.jobId });
    expect(applied).toEqual({ jobId: job.jobId, created: true, admin: true, verified: true });
    expect(linuxPasswordOpens(root, 'remote-support', password)).toBe(true);
    // Applied and forgotten: the same job cannot be applied again.
    await expect(jobs.apply({ jobId: job.jobId })).rejects.toMatchObject({ code: 'job_unknown' });
  });

  it('never applies a job it did not prepare, and never takes over an account it did not create', async () => {
    await expect(jobs.apply({ jobId: randomUUID() })).rejects.toMatchObject({ code: 'job_unknown' });
    const foreign = body({ account: { purpose: 'noc', name: 'daemon', fullName: 'NOC', scope: 'local' } });
    await jobs.prepare({ job: signed(foreign) });
    const refusal = await jobs.apply({ jobId: foreign.jobId }).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(CommandRefused);
    expect((refusal as CommandRefused).message).toContain('Steward did not create');
  });
});
