import { asc, eq } from 'drizzle-orm';
import type { Queryable } from '../db/open.ts';
import { clients, sites } from '../db/schema.ts';

export async function insertClient(q: Queryable, name: string) {
  const [row] = await q.insert(clients).values({ name }).returning();
  return row;
}

export const listClients = (q: Queryable) => q.select().from(clients).orderBy(asc(clients.name));

export async function findClient(q: Queryable, id: string) {
  const [row] = await q.select().from(clients).where(eq(clients.id, id));
  return row ?? null;
}

export async function insertSite(q: Queryable, clientId: string, name: string) {
  const [row] = await q.insert(sites).values({ clientId, name }).returning();
  return row;
}

export const listSites = (q: Queryable, clientId: string) =>
  q.select().from(sites).where(eq(sites.clientId, clientId)).orderBy(asc(sites.name));

export async function findSite(q: Queryable, id: string) {
  const [row] = await q.select().from(sites).where(eq(sites.id, id));
  return row ?? null;
}

export const listAllSites = (q: Queryable) => q.select({ id: sites.id, clientId: sites.clientId }).from(sites);

export async function updateClient(q: Queryable, id: string, changes: { name?: string; requireMfa?: boolean }) {
  const [row] = await q.update(clients).set(changes).where(eq(clients.id, id)).returning();
  return row ?? null;
}
