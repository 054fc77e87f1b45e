import fs from 'node:fs';
import { parseEnrollmentToken } from '../protocol/enrollment-token.ts';
import { generateKeyPair, toBase64 } from '../protocol/identity.ts';
import { openSession } from './connection/handshake.ts';
import { gatewayUrl } from './connection/server-url.ts';
import { ensureStateDir, saveEnrollment, saveKeyPair, type TlsTrust } from './state/agent-state.ts';

export interface EnrollOptions {
  serverUrl: string;
  token: string;
  stateDir: string;
  allowInsecure: boolean;
  tls: TlsTrust;
}

/**
 * Enrolls this machine: makes a fresh Ed25519 key pair, authenticates the server against the key fingerprint the
 * token pins, presents the token, and saves the key (0600) and the enrollment. Nothing is saved unless the server
 * accepted us, so a failed enrollment leaves an existing enrollment untouched.
 */
export async function enroll(opts: EnrollOptions): Promise<{ machineId: string }> {
  const token = parseEnrollmentToken(opts.token);
  if (!token) throw new Error('the enrollment token is malformed (expected stw1.<fingerprint>.<secret>)');
  const url = gatewayUrl(opts.serverUrl, opts.allowInsecure);
  if (opts.tls.caFile && !fs.existsSync(opts.tls.caFile)) throw new Error(`CA file ${opts.tls.caFile} does not exist`);
  ensureStateDir(opts.stateDir);
  const keyPair = generateKeyPair();
  const session = await openSession({
    url,
    keyPair,
    expectedServer: { fingerprint: token.serverKeyFingerprint },
    mode: 'enroll',
    enrollmentToken: opts.token,
    tls: opts.tls,
  });
  session.stream.fail(1000, 'enrolled');
  await saveKeyPair(opts.stateDir, keyPair);
  await saveEnrollment(opts.stateDir, {
    serverUrl: opts.serverUrl,
    machineId: session.welcome.machineId,
    serverPublicKey: toBase64(session.serverPublicKey),
    allowInsecure: opts.allowInsecure,
    tls: opts.tls,
    enrolledAt: new Date().toISOString(),
  });
  return { machineId: session.welcome.machineId };
}
