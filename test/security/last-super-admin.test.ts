import { and, eq, isNotNull, isNull } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSIONS } from '../../server/access/permissions.ts';
import { users } from '../../server/db/schema.ts';
import { ADMIN, apiClient, setupAdmin, type Api } from '../helpers/api.ts';
import { backends } from '../helpers/db.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { createUser, loginAs } from '../helpers/users.ts';

/**
 * Lockout prevention: one local-login Super Admin (enabled, with a password) always remains. The last one cannot be
 * disabled, deleted or given another role — not even by an "Owner" custom role holding every permission, and not by
 * two Super Admins removing each other at the same moment.
 */
describe.each(backends())('the last Super Admin on %s', (backend) => {
  let server: TestServer;
  let admin: Api;
  let adminId: string;
  let owner: Api;
  const db = () => server.running.ctx.db;
  const signInSuperAdmins = async () =>
    (await db().select({ id: users.id }).from(users).where(and(eq(users.role, 'super_admin'), isNull(users.disabledAt), isNotNull(users.passwordHash)))).map((u) => u.id);
  const LAST = /is the last Super Admin who can sign in; make another Super Admin \(with a password\) before removing this one$/;

  beforeAll(async () => {
    server = await startTestServer({ backend });
    ({ api: admin, userId: adminId } = await setupAdmin(server));
    expect((await admin.post('/api/v1/roles', { name: 'Owner', permissions: [...PERMISSIONS], scope: 'global' })).status).toBe(201);
    owner = await loginAs(server, (await createUser(server, { role: 'owner' })).email);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('refuses to disable, delete or demote the only Super Admin (409), and they can still sign in', async () => {
    for (const res of [
      await owner.patch(`/api/v1/users/${adminId}`, { disabled: true }),
      await owner.patch(`/api/v1/users/${adminId}`, { role: 'owner' }),
      await owner.patch(`/api/v1/users/${adminId}`, { role: 'admin', name: 'Demoted' }),
      await owner.delete(`/api/v1/users/${adminId}`),
    ]) {
      expect(res.status).toBe(409);
      expect(res.body.error).toMatchObject({ code: 'conflict', message: expect.stringMatching(LAST) });
      expect(res.body.error.message).toContain(ADMIN.email);
    }
    expect(await signInSuperAdmins()).toEqual([adminId]);
    const [row] = await db().select().from(users).where(eq(users.id, adminId));
    expect(row.name).toBe(ADMIN.name);
    expect((await apiClient(server.url).post('/api/v1/auth/login', { email: ADMIN.email, password: ADMIN.password })).status).toBe(200);
    // Edits that keep them a Super Admin are fine.
    expect((await owner.patch(`/api/v1/users/${adminId}`, { name: 'Ada A.', role: 'super_admin' })).status).toBe(200);
  });

  it('refuses to remove themselves in any way (403)', async () => {
    expect((await admin.patch(`/api/v1/users/${adminId}`, { disabled: true })).status).toBe(403);
    expect((await admin.delete(`/api/v1/users/${adminId}`)).status).toBe(403);
    expect((await admin.patch(`/api/v1/users/${adminId}`, { role: 'owner' })).status).toBe(403);
  });

  it('an invited Super Admin without a password does not count as one who can sign in', async () => {
    const invited = await admin.post('/api/v1/users', { email: 'invited-sa@example.test', name: 'Invited', kind: 'technician', role: 'super_admin' });
    expect(invited.status).toBe(201);
    expect(invited.body.passwordSet).toBe(false);
    const res = await owner.patch(`/api/v1/users/${adminId}`, { disabled: true });
    expect(res.status).toBe(409);
    // The invited one may go: it was never the last one who can sign in.
    expect((await owner.delete(`/api/v1/users/${invited.body.id}`)).status).toBe(204);
  });

  it('with a second Super Admin, one may go; then the other is the last', async () => {
    const second = await createUser(server, { role: 'super_admin' });
    expect((await owner.patch(`/api/v1/users/${adminId}`, { disabled: true })).status).toBe(200);
    expect(await signInSuperAdmins()).toEqual([second.id]);
    const refused = await owner.patch(`/api/v1/users/${second.id}`, { disabled: true });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toMatch(LAST);
    expect((await owner.patch(`/api/v1/users/${second.id}`, { role: 'owner' })).status).toBe(409);
    expect((await owner.delete(`/api/v1/users/${second.id}`)).status).toBe(409);
    // A disabled Super Admin may be deleted: they were not counted.
    const third = await createUser(server, { role: 'super_admin' });
    expect((await owner.patch(`/api/v1/users/${third.id}`, { disabled: true })).status).toBe(200);
    expect((await owner.delete(`/api/v1/users/${third.id}`)).status).toBe(204);
    // Restore the original admin for the next test.
    expect((await owner.patch(`/api/v1/users/${adminId}`, { disabled: false })).status).toBe(200);
    expect((await owner.delete(`/api/v1/users/${second.id}`)).status).toBe(204);
    expect(await signInSuperAdmins()).toEqual([adminId]);
  });

  it('two Super Admins removing each other at the same moment: exactly one succeeds', async () => {
    for (let round = 0; round < 4; round++) {
      const a = await createUser(server, { role: 'super_admin' });
      const b = await createUser(server, { role: 'super_admin' });
      // Only a and b count in this round: the original admin is parked as disabled by the owner.
      expect((await owner.patch(`/api/v1/users/${adminId}`, { disabled: true })).status).toBe(200);
      const [asA, asB] = await Promise.all([loginAs(server, a.email), loginAs(server, b.email)]);
      const action = round % 2 === 0 ? 'disable' : 'delete';
      const [byA, byB] = await Promise.all(
        action === 'disable'
          ? [asA.patch(`/api/v1/users/${b.id}`, { disabled: true }), asB.patch(`/api/v1/users/${a.id}`, { disabled: true })]
          : [asA.delete(`/api/v1/users/${b.id}`), asB.delete(`/api/v1/users/${a.id}`)],
      );
      const statuses = [byA.status, byB.status];
      // The loser sees the conflict, or — if the winner's commit came first — finds its own token already revoked.
      expect(statuses.filter((s) => s === 200 || s === 204)).toHaveLength(1);
      expect(statuses.filter((s) => s === 409 || s === 401 || s === 404)).toHaveLength(1);
      const left = await signInSuperAdmins();
      expect(left).toHaveLength(1);
      expect([a.id, b.id]).toContain(left[0]);
      // Tidy up for the next round.
      expect((await owner.patch(`/api/v1/users/${adminId}`, { disabled: false })).status).toBe(200);
      for (const id of [a.id, b.id]) await owner.delete(`/api/v1/users/${id}`);
      expect(await signInSuperAdmins()).toEqual([adminId]);
    }
  });
});
