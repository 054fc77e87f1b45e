import { and, eq, inArray, sql } from 'drizzle-orm';
import { rowsOf, type Queryable } from '../db/open.ts';
import { machines } from '../db/schema.ts';

/**
 * Machine presence in the database, so any replica can answer "is it online" and rebuild after a restart. Each
 * live connection has an id; a newer connection overwrites it, and every write below is conditional on it, so a
 * superseded connection (on this or another replica) can never mark the machine offline or keep it alive.
 */
export async function markDisconnected(q: Queryable, machineId: string, connectionId: string): Promise<boolean> {
  const rows = await q
    .update(machines)
    .set({ online: false, connectionId: null, lastSeenAt: sql`now()` })
    .where(and(eq(machines.id, machineId), eq(machines.connectionId, connectionId)))
    .returning({ id: machines.id });
  return rows.length > 0;
}

/** Marks the machines of these connections offline in bulk (shutdown); a superseded connection matches nothing. */
export async function markConnectionsClosed(q: Queryable, connectionIds: string[]): Promise<number> {
  let count = 0;
  for (let i = 0; i < connectionIds.length; i += 5000) {
    const rows = await q
      .update(machines)
      .set({ online: false, connectionId: null, lastSeenAt: sql`now()` })
      .where(inArray(machines.connectionId, connectionIds.slice(i, i + 5000)))
      .returning({ id: machines.id });
    count += rows.length;
  }
  return count;
}

/**
 * Records that these connections were heard from; returns the machine ids whose connection has been superseded
 * (the caller closes those sockets).
 */
export async function touchConnections(q: Queryable, live: { machineId: string; connectionId: string }[]): Promise<string[]> {
  const superseded: string[] = [];
  for (let i = 0; i < live.length; i += 4000) {
    const chunk = live.slice(i, i + 4000);
    const values = sql.join(
      chunk.map((c) => sql`(${c.machineId}::uuid, ${c.connectionId}::uuid)`),
      sql`, `,
    );
    const result = await q.execute(sql`
      update machines m set last_seen_at = now(), online = true
      from (values ${values}) as live(machine_id, connection_id)
      where m.id = live.machine_id and m.connection_id = live.connection_id
      returning m.id`);
    const rows = rowsOf<{ id: string }>(result);
    const touched = new Set(rows.map((r) => r.id));
    superseded.push(...chunk.filter((c) => !touched.has(c.machineId)).map((c) => c.machineId));
  }
  return superseded;
}

/** Marks machines offline whose connection has been silent for longer than `silentSeconds` (any replica may run it). */
export async function sweepOffline(q: Queryable, silentSeconds: number): Promise<string[]> {
  const rows = await q
    .update(machines)
    .set({ online: false, connectionId: null })
    .where(and(eq(machines.online, true), sql`${machines.lastSeenAt} < now() - make_interval(secs => ${silentSeconds})`))
    .returning({ id: machines.id });
  return rows.map((r) => r.id);
}
