import fs from 'node:fs';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { count, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatEnrollmentToken, hashEnrollmentSecret, parseEnrollmentToken } from '../../protocol/enrollment-token.ts';
import { enrollmentTokens, machines } from '../../server/db/schema.ts';
import { createSiteWithToken, setupAdmin, type Api } from '../helpers/api.ts';
import { newStateDir, runAgentCommand } from '../helpers/agent-process.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

type AuditRow = { action: string; outcome: string; targetId: string | null; details: Record<string, unknown> | null };

/** Enrollment tokens: shown once, stored hashed, counted exactly, refused when expired, revoked or foreign. */
describe.each(backends())('enrollment tokens on %s', (backend) => {
  let server: TestServer;
  let api: Api;
  const db = () => server.running.ctx.db;
  const enroll = (token: string, stateDir = newStateDir()) =>
    runAgentCommand(['enroll', '--server', server.url, '--token', token, '--state-dir', stateDir]).then((r) => ({ ...r, stateDir }));
  const machinesOfToken = (tokenId: string) => db().select().from(machines).where(eq(machines.enrollmentTokenId, tokenId));
  const machineCount = async () => (await db().select({ n: count() }).from(machines))[0].n;
  const enrollAudit = async (): Promise<AuditRow[]> => (await api.get('/api/v1/audit?action=machine.enroll&limit=1000')).body.events;

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api } = await setupAdmin(server));
  });
  afterAll(async () => {
    await server?.close();
  });

  it('creates, lists without the secret, and revokes via REST, with audit rows', async () => {
    const site = await createSiteWithToken(api, { maxUses: 3, expiresInHours: 2 });
    expect(parseEnrollmentToken(site.token)?.serverKeyFingerprint).toBe(server.running.ctx.identity.fingerprint);
    const secret = parseEnrollmentToken(site.token)!.secret;

    const list = await api.get(`/api/v1/sites/${site.siteId}/enrollment-tokens`);
    expect(list.status).toBe(200);
    expect(list.body.tokens).toHaveLength(1);
    expect(list.body.tokens[0]).toMatchObject({ id: site.tokenId, siteId: site.siteId, maxUses: 3, uses: 0, revokedAt: null });
    expect(Object.keys(list.body.tokens[0]).sort()).toEqual(['createdAt', 'createdBy', 'expiresAt', 'id', 'maxUses', 'revokedAt', 'siteId', 'uses']);
    expect(JSON.stringify(list.body)).not.toContain(secret);

    const revoked = await api.delete(`/api/v1/enrollment-tokens/${site.tokenId}`);
    expect(revoked.status).toBe(204);
    const after = await api.get(`/api/v1/sites/${site.siteId}/enrollment-tokens`);
    expect(Date.parse(after.body.tokens[0].revokedAt)).toBeLessThanOrEqual(Date.now());
    expect((await api.delete(`/api/v1/enrollment-tokens/${randomUUID()}`)).status).toBe(404);

    for (const action of ['enrollment_token.create', 'enrollment_token.revoke']) {
      const audit = await api.get(`/api/v1/audit?action=${action}&targetId=${site.tokenId}`);
      expect(audit.body.events).toHaveLength(1);
      expect(audit.body.events[0]).toMatchObject({ outcome: 'success', actorType: 'user', targetType: 'enrollment_token' });
    }
  });

  it('keeps only a hash of the secret: the token text appears in no column', async () => {
    const site = await createSiteWithToken(api);
    const { secret } = parseEnrollmentToken(site.token)!;
    const [row] = await db().select().from(enrollmentTokens).where(eq(enrollmentTokens.id, site.tokenId));
    expect(row.secretHash).not.toBe(site.token);
    expect(row.secretHash).not.toBe(secret);
    expect(row.secretHash).toBe(hashEnrollmentSecret(secret));
    const everything = JSON.stringify(await db().select().from(enrollmentTokens));
    expect(everything).toContain(site.tokenId);
    expect(everything).not.toContain(site.token);
    expect(everything).not.toContain(secret);
  });

  it('counts uses exactly: maxUses=2 and 4 concurrent agents → exactly 2 enroll', async () => {
    const site = await createSiteWithToken(api, { maxUses: 2 });
    const results = await Promise.all(Array.from({ length: 4 }, () => enroll(site.token)));
    const codes = results.map((r) => r.code).sort();
    expect(codes).toEqual([0, 0, 3, 3]);
    const [row] = await db().select().from(enrollmentTokens).where(eq(enrollmentTokens.id, site.tokenId));
    expect(row.uses).toBe(2);
    const enrolled = await machinesOfToken(site.tokenId);
    expect(enrolled).toHaveLength(2);
    for (const r of results.filter((x) => x.code === 0)) {
      const { machineId } = JSON.parse(fs.readFileSync(path.join(r.stateDir, 'agent.json'), 'utf8'));
      expect(enrolled.map((m) => m.id)).toContain(machineId);
      expect(r.stdout).toContain(machineId);
    }
    for (const r of results.filter((x) => x.code !== 0)) {
      expect(r.stderr).toContain('token used up');
      expect(fs.existsSync(path.join(r.stateDir, 'agent.json'))).toBe(false);
    }
    const audit = await enrollAudit();
    const successes = audit.filter((e) => e.outcome === 'success' && (e.details as { enrollmentTokenId?: string })?.enrollmentTokenId === site.tokenId);
    expect(successes.map((e) => e.targetId).sort()).toEqual(enrolled.map((m) => m.id).sort());
    expect(audit.filter((e) => e.outcome === 'failure' && e.details?.reason === 'token used up')).toHaveLength(2);
  });

  it('refuses an expired token with exit code 3 and creates no machine', async () => {
    const site = await createSiteWithToken(api);
    await db().update(enrollmentTokens).set({ expiresAt: new Date(Date.now() - 60_000) }).where(eq(enrollmentTokens.id, site.tokenId));
    const before = await machineCount();
    const result = await enroll(site.token);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('token expired');
    expect(await machinesOfToken(site.tokenId)).toEqual([]);
    expect(await machineCount()).toBe(before);
    const [row] = await db().select().from(enrollmentTokens).where(eq(enrollmentTokens.id, site.tokenId));
    expect(row.uses).toBe(0);
    expect((await enrollAudit()).filter((e) => e.outcome === 'failure' && e.details?.reason === 'token expired')).toHaveLength(1);
  });

  it('refuses a revoked token', async () => {
    const site = await createSiteWithToken(api);
    expect((await api.delete(`/api/v1/enrollment-tokens/${site.tokenId}`)).status).toBe(204);
    const before = await machineCount();
    const result = await enroll(site.token);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('token revoked');
    expect(await machineCount()).toBe(before);
    expect((await enrollAudit()).filter((e) => e.outcome === 'failure' && e.details?.reason === 'token revoked')).toHaveLength(1);
  });

  it("is refused by the agent itself when the token pins another server's key", async () => {
    const site = await createSiteWithToken(api);
    const otherFingerprint = randomBytes(32).toString('base64url');
    const foreign = formatEnrollmentToken(otherFingerprint).token;
    // The real secret of this server under another server's fingerprint: it must never be sent.
    const swapped = `stw1.${otherFingerprint}.${parseEnrollmentToken(site.token)!.secret}`;
    const auditBefore = await enrollAudit();
    const machinesBefore = await machineCount();
    for (const token of [foreign, swapped]) {
      const result = await enroll(token);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/identity key/);
      expect(result.stderr).toContain(server.running.ctx.identity.fingerprint);
      expect(fs.existsSync(path.join(result.stateDir, 'agent.json'))).toBe(false);
    }
    expect(await enrollAudit()).toEqual(auditBefore);
    expect(await machineCount()).toBe(machinesBefore);
    const [row] = await db().select().from(enrollmentTokens).where(eq(enrollmentTokens.id, site.tokenId));
    expect(row.uses).toBe(0);
  });

  it('refuses a malformed token locally, without contacting the server', async () => {
    const site = await createSiteWithToken(api);
    const auditBefore = await enrollAudit();
    const malformed = ['garbage', `${site.token}x`, site.token.replace('stw1.', 'stw2.'), site.token.split('.').slice(0, 2).join('.')];
    for (const result of await Promise.all(malformed.map((token) => enroll(token)))) {
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('enrollment token is malformed');
    }
    expect(await enrollAudit()).toEqual(auditBefore);
  });

  it('enrolls with a good token and audits success next to every failure reason', async () => {
    const site = await createSiteWithToken(api, { maxUses: 1 });
    const result = await enroll(site.token);
    expect(result.code).toBe(0);
    const [machine] = await machinesOfToken(site.tokenId);
    expect(machine.siteId).toBe(site.siteId);
    const audit = await enrollAudit();
    expect(audit.find((e) => e.outcome === 'success' && e.targetId === machine.id)).toMatchObject({ details: { siteId: site.siteId, enrollmentTokenId: site.tokenId } });
    const reasons = new Set(audit.filter((e) => e.outcome === 'failure').map((e) => e.details?.reason));
    expect([...reasons].sort()).toEqual(['token expired', 'token revoked', 'token used up']);
  });
});
