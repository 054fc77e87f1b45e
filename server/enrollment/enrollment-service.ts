import { formatEnrollmentToken, hashEnrollmentSecret, parseEnrollmentToken } from '../../protocol/enrollment-token.ts';
import type { Actor } from '../access/actor.ts';
import type { AppContext } from '../context.ts';
import { sqlState, UNIQUE_VIOLATION, type Tx } from '../db/open.ts';
import { Conflict, Forbidden, NotFound } from '../errors.ts';
import { demand } from '../access/demand.ts';
import { auditOf } from '../audit/audit-event.ts';
import { findSite } from '../tenancy/tenancy-store.ts';
import * as store from './enrollment-store.ts';

/**
 * The site, once the caller has been asked for `machines.manage` on it: an unknown id is 404 only to those who may
 * manage some site. Also the check of installer downloads (server/installers), which mint enrollment tokens too.
 */
export async function siteFor(ctx: AppContext, actor: Actor, siteId: string | null) {
  const site = siteId ? await findSite(ctx.db, siteId) : null;
  if (!site) {
    await demand(ctx, actor, 'machines.manage', { type: 'collection', of: 'sites' });
    throw new NotFound(siteId ? 'site not found' : 'enrollment token not found');
  }
  await demand(ctx, actor, 'machines.manage', { type: 'site', siteId: site.id, clientId: site.clientId });
  return site;
}

export async function createEnrollmentToken(
  ctx: AppContext,
  actor: Actor,
  siteId: string,
  input: { expiresInHours: number; maxUses: number },
) {
  await siteFor(ctx, actor, siteId);
  return ctx.db.transaction((tx) => issueEnrollmentToken(ctx, tx, actor, siteId, input));
}

/**
 * Inserts and audits a new token inside the caller's transaction. Callers have already checked `machines.manage`
 * on the site (siteFor); the token text is returned once and only its hash is kept.
 */
export async function issueEnrollmentToken(ctx: AppContext, tx: Tx, actor: Actor, siteId: string, input: { expiresInHours: number; maxUses: number }) {
  const { token, secretHash } = formatEnrollmentToken(ctx.identity.fingerprint);
  const expiresAt = new Date(Date.now() + input.expiresInHours * 3600_000);
  const row = await store.insertEnrollmentToken(tx, { siteId, secretHash, expiresAt, maxUses: input.maxUses, createdBy: actor.userId });
  await ctx.audit.record(tx, auditOf(actor, 'enrollment_token.create', 'enrollment_token', row.id, { siteId, maxUses: input.maxUses, expiresAt }));
  return { id: row.id, siteId, token, expiresAt: row.expiresAt, maxUses: row.maxUses, uses: row.uses, createdAt: row.createdAt };
}

export async function listEnrollmentTokens(ctx: AppContext, actor: Actor, siteId: string) {
  await siteFor(ctx, actor, siteId);
  return store.listEnrollmentTokens(ctx.db, siteId);
}

export async function revokeEnrollmentToken(ctx: AppContext, actor: Actor, tokenId: string) {
  const token = await store.findEnrollmentToken(ctx.db, tokenId);
  const site = await siteFor(ctx, actor, token?.siteId ?? null);
  await ctx.db.transaction(async (tx) => {
    await store.revokeEnrollmentToken(tx, tokenId);
    await ctx.audit.record(tx, auditOf(actor, 'enrollment_token.revoke', 'enrollment_token', tokenId, { siteId: site.id }));
  });
}

/**
 * Enrolls a new machine with a token presented on an authenticated agent connection (the agent has already proved
 * it holds `agentPublicKey`). One use of the token, the machine row and the audit entry commit together.
 */
export async function enrollMachine(
  ctx: AppContext,
  input: { enrollmentToken: string; agentPublicKey: Uint8Array; agentVersion: string; address: string },
): Promise<{ machineId: string; siteId: string }> {
  const parsed = parseEnrollmentToken(input.enrollmentToken);
  const secretHash = parsed ? hashEnrollmentSecret(parsed.secret) : null;
  const refuse = async (reason: string) => {
    await ctx.audit.record(ctx.db, {
      actorType: 'agent',
      action: 'machine.enroll',
      outcome: 'failure',
      address: input.address,
      details: { reason },
    });
    return new Forbidden(`enrollment refused: ${reason}`);
  };
  if (!parsed || !secretHash) throw await refuse('malformed token');
  if (parsed.serverKeyFingerprint !== ctx.identity.fingerprint) throw await refuse('token was issued by another server');
  try {
    const enrolled = await ctx.db.transaction(async (tx) => {
      const token = await store.consumeEnrollmentToken(tx, secretHash);
      if (!token) return null;
      const machine = await store.insertMachine(tx, {
        siteId: token.siteId,
        agentPublicKey: input.agentPublicKey,
        enrollmentTokenId: token.id,
        agentVersion: input.agentVersion,
        lastAddress: input.address,
      });
      await ctx.audit.record(tx, {
        actorType: 'agent',
        actorId: machine.id,
        action: 'machine.enroll',
        outcome: 'success',
        targetType: 'machine',
        targetId: machine.id,
        address: input.address,
        details: { siteId: token.siteId, enrollmentTokenId: token.id },
      });
      return { machineId: machine.id, siteId: token.siteId };
    });
    if (!enrolled) throw await refuse(await store.whyTokenRefused(ctx.db, secretHash));
    return enrolled;
  } catch (error) {
    if (sqlState(error) === UNIQUE_VIOLATION) throw new Conflict('this agent key is already enrolled');
    throw error;
  }
}
