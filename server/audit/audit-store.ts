import { and, desc, eq, lt, type SQL } from 'drizzle-orm';
import type { Queryable } from '../db/open.ts';
import { auditEvents } from '../db/schema.ts';

export type ActorType = 'user' | 'agent' | 'system' | 'anonymous';

export interface AuditEvent {
  actorType: ActorType;
  actorId?: string | null;
  action: string;
  outcome: 'success' | 'failure';
  targetType?: string | null;
  targetId?: string | null;
  address?: string | null;
  details?: Record<string, unknown> | null;
}

export async function insertAuditEvents(q: Queryable, events: AuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  await q.insert(auditEvents).values(
    events.map((e) => ({
      actorType: e.actorType,
      actorId: e.actorId ?? null,
      action: e.action,
      outcome: e.outcome,
      targetType: e.targetType ?? null,
      targetId: e.targetId ?? null,
      address: e.address ?? null,
      details: e.details ?? null,
    })),
  );
}

export async function listAuditEvents(
  q: Queryable,
  filter: { action?: string; targetId?: string; before?: number; limit: number },
) {
  const conditions: SQL[] = [];
  if (filter.action) conditions.push(eq(auditEvents.action, filter.action));
  if (filter.targetId) conditions.push(eq(auditEvents.targetId, filter.targetId));
  if (filter.before) conditions.push(lt(auditEvents.id, filter.before));
  return q
    .select()
    .from(auditEvents)
    .where(conditions.length ? and(...conditions) : undefined)
    .orderBy(desc(auditEvents.id))
    .limit(filter.limit);
}
