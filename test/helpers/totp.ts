import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { eq } from 'drizzle-orm';
import { users } from '../../server/db/schema.ts';
import type { TestServer } from './server.ts';

/**
 * TOTP codes from Debian's `oathtool` (OATH Toolkit): an implementation of RFC 6238 independent of the `otpauth`
 * library the server uses, so a test passing means both agree on the algorithm, not that one library agrees with
 * itself. The secret goes in argv: acceptable for a throwaway test secret, never for a real one.
 */
const run = promisify(execFile);
export const TOTP_PERIOD_SECONDS = 30;

/** The code for `at` (default now); `stepsAgo` moves that many 30-second steps back (negative: forward). */
export async function totpCode(secretBase32: string, opts: { at?: number; stepsAgo?: number } = {}): Promise<string> {
  const at = (opts.at ?? Date.now()) - (opts.stepsAgo ?? 0) * TOTP_PERIOD_SECONDS * 1000;
  const { stdout } = await run('oathtool', ['--totp', '-b', '-N', `@${Math.floor(at / 1000)}`, secretBase32]);
  const code = stdout.trim();
  if (!/^\d{6}$/.test(code)) throw new Error(`oathtool printed ${JSON.stringify(stdout)}`);
  return code;
}

/**
 * Waits until at least `seconds` are left in the current 30-second step, so a code computed now is still judged
 * against the same step when the server checks it (a step boundary mid-test would turn "one step old" into two).
 */
export async function awaitStepHeadroom(seconds = 5): Promise<void> {
  const left = TOTP_PERIOD_SECONDS - ((Date.now() / 1000) % TOTP_PERIOD_SECONDS);
  if (left < seconds) await new Promise((r) => setTimeout(r, left * 1000 + 100));
}

/** The parts of an otpauth:// URI an authenticator app reads. */
export function parseOtpauthUri(uri: string) {
  const url = new URL(uri);
  return {
    protocol: url.protocol,
    type: url.host,
    label: decodeURIComponent(url.pathname.replace(/^\//, '')),
    secret: url.searchParams.get('secret'),
    issuer: url.searchParams.get('issuer'),
    algorithm: url.searchParams.get('algorithm'),
    digits: url.searchParams.get('digits'),
    period: url.searchParams.get('period'),
  };
}

/**
 * Enrolls the caller of `api` in TOTP through the API, confirming with an oathtool code. The confirming code's step
 * is used up; the next login needs a code of a later step (or of the same step after `forgetLastStep`).
 */
export async function enrollTotp(api: { post: (path: string, body?: unknown) => Promise<{ status: number; body: any }> }) {
  const start = await api.post('/api/v1/me/mfa/totp');
  if (start.status !== 200) throw new Error(`enroll: ${start.status} ${JSON.stringify(start.body)}`);
  const secret = start.body.secret as string;
  await awaitStepHeadroom();
  const confirm = await api.post('/api/v1/me/mfa/totp/confirm', { code: await totpCode(secret) });
  if (confirm.status !== 200) throw new Error(`confirm: ${confirm.status} ${JSON.stringify(confirm.body)}`);
  return { secret, recoveryCodes: confirm.body.recoveryCodes as string[], otpauthUri: start.body.otpauthUri as string };
}

/**
 * Forgets which TOTP step the user last used, as if the clock had moved on: lets a test log in again within the
 * same 30 seconds instead of sleeping, and lets window tests see the window alone (not the replay guard) decide.
 */
export async function forgetLastStep(server: TestServer, userId: string): Promise<void> {
  await server.running.ctx.db.update(users).set({ mfaLastStep: null }).where(eq(users.id, userId));
}
