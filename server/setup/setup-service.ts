import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { AppContext } from '../context.ts';
import { Conflict, Forbidden } from '../errors.ts';
import { hashPassword } from '../auth/password.ts';
import { claimSetup, insertUser, setupState, storeSetupTokenHash, userCount } from './setup-store.ts';

const hashSetupToken = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

export const setupTokenFile = (dataDir: string) => path.join(dataDir, 'setup-token');

/**
 * At start-up: while setup is open and no user exists, mint a one-time setup token, keep its hash, write it to
 * dataDir/setup-token (0600) and return it for printing. Once setup is done the file is removed and null returned.
 */
export async function prepareSetup(ctx: AppContext): Promise<string | null> {
  const file = setupTokenFile(ctx.config.dataDir);
  const state = await setupState(ctx.db);
  if (state.completedAt || (await userCount(ctx.db)) > 0) {
    fs.rmSync(file, { force: true });
    return null;
  }
  const token = randomBytes(24).toString('base64url');
  await storeSetupTokenHash(ctx.db, hashSetupToken(token));
  fs.mkdirSync(ctx.config.dataDir, { recursive: true, mode: 0o700 });
  fs.rmSync(file, { force: true });
  fs.writeFileSync(file, token + '\n', { mode: 0o600, flag: 'wx' });
  return token;
}

export interface SetupInput {
  setupToken: string;
  email: string;
  name: string;
  password: string;
}

/** Creates the first Super Admin. Works exactly once; every later call, however it arrives, is a 409. */
export async function completeSetup(ctx: AppContext, input: SetupInput, address: string) {
  const passwordHash = await hashPassword(input.password);
  const result = await ctx.db.transaction(async (tx) => {
    if (!(await claimSetup(tx, hashSetupToken(input.setupToken)))) return null;
    const user = await insertUser(tx, {
      email: input.email.trim().toLowerCase(),
      name: input.name.trim(),
      passwordHash,
      role: 'super_admin',
      allowRemoteControl: true,
    });
    await ctx.audit.record(tx, {
      actorType: 'anonymous',
      action: 'setup.complete',
      outcome: 'success',
      targetType: 'user',
      targetId: user.id,
      address,
      details: { email: user.email },
    });
    return user;
  });
  if (result) {
    fs.rmSync(setupTokenFile(ctx.config.dataDir), { force: true });
    return result;
  }
  const state = await setupState(ctx.db);
  await ctx.audit.record(ctx.db, {
    actorType: 'anonymous',
    action: 'setup.complete',
    outcome: 'failure',
    address,
    details: { reason: state.completedAt ? 'already complete' : 'bad setup token' },
  });
  if (state.completedAt) throw new Conflict('setup is already complete');
  throw new Forbidden('setup token is not valid');
}
