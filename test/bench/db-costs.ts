import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { formatEnrollmentToken } from '../../protocol/enrollment-token.ts';
import { AuditLog } from '../../server/audit/audit-log.ts';
import { insertAuditEvents } from '../../server/audit/audit-store.ts';
import type { AppContext } from '../../server/context.ts';
import { openDatabase } from '../../server/db/open.ts';
import { clients, sites, users } from '../../server/db/schema.ts';
import { enrollMachine } from '../../server/enrollment/enrollment-service.ts';
import { insertEnrollmentToken } from '../../server/enrollment/enrollment-store.ts';
import { ConnectionClaims } from '../../server/gateway/connection-claims.ts';
import { listMachines, machineExists } from '../../server/machines/machine-store.ts';
import { markConnectionsClosed, markDisconnected, sweepOffline, touchConnections } from '../../server/machines/presence-store.ts';
import { createBenchDatabase } from './server-process.ts';
import { newSecretKey } from './sim-agent.ts';

/**
 * Where the database time of an agent connection goes: the server's own store functions, timed in-process on a
 * fresh database, one call at a time (and, on PostgreSQL, 10 at a time, like the server's pool).
 *   npx tsx test/bench/db-costs.ts [--db pglite|postgres] [--machines 5000]
 */
const { values: opt } = parseArgs({ options: { db: { type: 'string', default: 'pglite' }, machines: { type: 'string', default: '5000' } } });
const M = Number(opt.machines);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-dbcost-'));
const pg = opt.db === 'postgres' ? await createBenchDatabase(process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test') : null;
const database = await openDatabase({ databaseUrl: pg?.url ?? null, dataDir: tmp });
const db = database.db;
const log = pino({ level: 'silent' });
const fingerprint = 'x'.repeat(43);
const ctx = { db, audit: new AuditLog(db, log), identity: { fingerprint }, log } as unknown as AppContext;

async function time(label: string, count: number, op: (i: number) => Promise<unknown>, parallel = 1): Promise<void> {
  const start = process.hrtime.bigint();
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < count) await op(next++);
  }));
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const par = parallel > 1 ? ` (${parallel} in flight)` : '';
  process.stdout.write(`  ${label.padEnd(52)} ${(ms / count).toFixed(3).padStart(8)} ms/op ${Math.round((count / ms) * 1000).toString().padStart(7)} op/s${par}\n`);
}

try {
  const [user] = await db.insert(users).values({ email: 'c@x.test', name: 'c', passwordHash: 'x', role: 'super_admin' }).returning();
  const [client] = await db.insert(clients).values({ name: 'c' }).returning();
  const [site] = await db.insert(sites).values({ clientId: client.id, name: 's' }).returning();
  const { token, secretHash } = formatEnrollmentToken(fingerprint);
  await insertEnrollmentToken(db, { siteId: site.id, secretHash, expiresAt: new Date(Date.now() + 3600_000), maxUses: 10 * M, createdBy: user.id });
  process.stdout.write(`db costs on ${database.driver}, ${M} machines (node ${process.version})\n`);

  const keys = Array.from({ length: M }, () => newSecretKey().subarray(32));
  const ids: string[] = [];
  await time('enrollMachine (token use + machine + audit, 1 tx)', M, async (i) => {
    ids.push((await enrollMachine(ctx, { enrollmentToken: token, agentPublicKey: keys[i], agentVersion: '0.1.0', address: '127.0.0.2' })).machineId);
  });
  await time('machineExists (select by id)', M, (i) => machineExists(db, ids[i]));
  const claims = new ConnectionClaims(db, { url: 'http://127.0.0.1:1' });
  const conns = ids.map(() => randomUUID());
  const claim = (i: number) => claims.claim({ machineId: ids[i], agentPublicKey: keys[i], connectionId: conns[i], address: '127.0.0.2' });
  await time('ConnectionClaims.claim, one at a time', M, claim);
  await time('ConnectionClaims.claim, all at once (batched)', 1, () => Promise.all(ids.map((_, i) => claim(i))));
  process.stdout.write(`    (the line above is the whole batch of ${M}: divide by ${M} for the per-claim cost)\n`);
  const event = (i: number) => ({ actorType: 'agent' as const, actorId: ids[i], action: 'agent.connect', outcome: 'success' as const, targetType: 'machine', targetId: ids[i], address: '127.0.0.2', details: { enrolled: false, connectionId: conns[i] } });
  await time('audit: insertAuditEvents, 1 event per insert', 1000, (i) => insertAuditEvents(db, [event(i % M)]));
  const batches = Math.max(1, Math.floor(M / 1000));
  const t0 = Date.now();
  for (let b = 0; b < batches; b++) await insertAuditEvents(db, Array.from({ length: 1000 }, (_, i) => event((b * 1000 + i) % M)));
  process.stdout.write(`  ${'audit: batches of 1000 (AuditLog.flush), per event'.padEnd(52)} ${((Date.now() - t0) / (batches * 1000)).toFixed(3).padStart(8)} ms/op\n`);
  const live = ids.map((machineId, i) => ({ machineId, connectionId: conns[i] }));
  await time(`touchConnections (all ${M}, one registry tick)`, 3, () => touchConnections(db, live));
  await time('sweepOffline (one registry tick)', 3, () => sweepOffline(db, 90));
  await time(`listMachines online (REST list of ${M})`, 3, () => listMachines(db, { online: true }, null));
  await time('markDisconnected (conditional update)', M, (i) => markDisconnected(db, ids[i], conns[i]));
  await Promise.all(ids.map((_, i) => claim(i)));
  await time(`markConnectionsClosed (all ${M}, shutdown)`, 1, () => markConnectionsClosed(db, conns));
  if (database.driver === 'postgres') {
    await time('machineExists', M, (i) => machineExists(db, ids[i]), 10);
    await time('ConnectionClaims.claim', M, claim, 10);
    const more = Array.from({ length: M }, () => newSecretKey().subarray(32));
    await time('enrollMachine (all on one token row)', M, (i) => enrollMachine(ctx, { enrollmentToken: token, agentPublicKey: more[i], agentVersion: '0.1.0', address: '127.0.0.2' }), 10);
  }
} finally {
  await database.close();
  await pg?.drop();
  fs.rmSync(tmp, { recursive: true, force: true });
}
