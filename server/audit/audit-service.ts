import type { Actor } from '../access/actor.ts';
import { demand } from '../access/demand.ts';
import type { AppContext } from '../context.ts';
import { Invalid } from '../errors.ts';
import { ChainWalk } from './audit-chain.ts';
import { chainPage, listAuditEvents, type ActorType, type AuditFilter, type Outcome } from './audit-store.ts';

/** The audit log's query string, as validated by the route schema. */
export interface AuditQuery {
  actorId?: string;
  actorType?: ActorType;
  targetType?: string;
  targetId?: string;
  /** An exact action name, or a prefix ending in `*` (`auth.*`). */
  action?: string;
  outcome?: Outcome;
  from?: string;
  to?: string;
  before?: number;
  after?: number;
  order: 'asc' | 'desc';
  limit: number;
}

/**
 * Audit events matching every given filter, in id order (newest first by default). A full page also returns the
 * cursor for the next one: `nextBefore` when paging newest first, `nextAfter` when paging oldest first.
 */
export async function listAudit(ctx: AppContext, actor: Actor, query: AuditQuery) {
  await demand(ctx, actor, 'audit.view', { type: 'installation' });
  const filter: AuditFilter = { ...query, action: undefined, from: dateOf('from', query.from), to: dateOf('to', query.to) };
  if (query.action?.endsWith('*')) filter.actionPrefix = query.action.slice(0, -1);
  else filter.action = query.action;
  if (filter.from && filter.to && filter.from >= filter.to) throw new Invalid('querystring/from must be earlier than querystring/to');
  // One row more than asked tells whether another page exists.
  const rows = await listAuditEvents(ctx.db, { ...filter, limit: query.limit + 1 });
  const events = rows.slice(0, query.limit);
  const next = rows.length > query.limit ? events[events.length - 1].id : null;
  return { events, nextBefore: query.order === 'desc' ? next : null, nextAfter: query.order === 'asc' ? next : null };
}

/** Rows read per page while verifying: bounded memory whatever the size of the log. */
const VERIFY_PAGE = 5000;

export interface VerifyResult {
  ok: boolean;
  checked: number;
  firstBrokenId: number | null;
  reason: string | null;
  /** The newest row that verified, for anchoring outside the database (see audit-chain.ts). */
  lastId: number | null;
  lastHash: string | null;
}

/**
 * Walks the whole chain in id order and reports the first broken link. Detects an edited, forged or hash-less row
 * and a deleted row (except the newest ones: see audit-chain.ts for what only an external anchor catches). The
 * verification itself is audited, with its outcome.
 */
export async function verifyAudit(ctx: AppContext, actor: Actor): Promise<VerifyResult> {
  await demand(ctx, actor, 'audit.view', { type: 'installation' });
  const walk = new ChainWalk();
  for (let afterId = 0; ; ) {
    const page = await chainPage(ctx.db, afterId, VERIFY_PAGE);
    if (!walk.check(page) || page.length < VERIFY_PAGE) break;
    afterId = page[page.length - 1].id;
  }
  const result: VerifyResult = {
    ok: walk.broken === null,
    checked: walk.checked,
    firstBrokenId: walk.broken?.id ?? null,
    reason: walk.broken?.reason ?? null,
    lastId: walk.lastId,
    lastHash: walk.lastHash,
  };
  await ctx.audit.record(ctx.db, {
    actorType: 'user',
    actorId: actor.userId,
    action: 'audit.verify',
    outcome: result.ok ? 'success' : 'failure',
    targetType: 'audit_log',
    address: actor.address,
    details: { checked: result.checked, firstBrokenId: result.firstBrokenId, reason: result.reason, lastId: result.lastId, lastHash: result.lastHash },
  });
  return result;
}

/** A date-time the schema accepted but PostgreSQL could not take (a leap second, year 0) is still a 400, never a 500. */
function dateOf(field: string, text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const date = new Date(text);
  if (Number.isNaN(date.getTime()) || date.getUTCFullYear() < 1) throw new Invalid(`querystring/${field} is not a usable date-time`);
  return date;
}
