import type { Queryable } from '../db/open.ts';
import { outboxMessages } from '../db/schema.ts';

export async function insertOutboxMessage(q: Queryable, values: { recipient: string; subject: string; bodySealed: Uint8Array; purpose: string }) {
  const [row] = await q.insert(outboxMessages).values(values).returning({ id: outboxMessages.id });
  return row;
}
