import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../context.ts';
import { requireActor } from '../http/authenticate.ts';
import { ErrorBody, Nullable, Timestamp } from '../http/schemas.ts';
import { listAudit, verifyAudit } from './audit-service.ts';

const AuditEvent = Type.Object({
  id: Type.Integer(),
  at: Timestamp,
  actorType: Type.String(),
  actorId: Nullable(Type.String()),
  action: Type.String(),
  outcome: Type.String(),
  targetType: Nullable(Type.String()),
  targetId: Nullable(Type.String()),
  address: Nullable(Type.String()),
  details: Type.Unknown(),
  prevHash: Nullable(Type.String()),
  hash: Nullable(Type.String()),
});

/** Filter text: matched exactly (never as SQL or a pattern). NUL cannot be stored, so no row could match it anyway. */
const FilterText = (description: string) => Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000]*$', description });
/** Row ids are bigserial; beyond 2^53 a JavaScript number is no longer exact. */
const Cursor = (description: string) => Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description });

const AuditQuery = Type.Object(
  {
    actorId: Type.Optional(FilterText('who acted (user id, machine id)')),
    actorType: Type.Optional(Type.Union([Type.Literal('user'), Type.Literal('agent'), Type.Literal('system'), Type.Literal('anonymous')])),
    targetType: Type.Optional(FilterText('what kind of thing was acted on (user, machine, client, …)')),
    targetId: Type.Optional(FilterText('what was acted on')),
    action: Type.Optional(FilterText('an exact action (`auth.login`) or a prefix ending in `*` (`auth.*`)')),
    outcome: Type.Optional(Type.Union([Type.Literal('success'), Type.Literal('failure')])),
    from: Type.Optional(Type.String({ format: 'date-time', description: 'events at or after this time' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'events before this time' })),
    before: Type.Optional(Cursor('events with a smaller id (the `nextBefore` of the previous page)')),
    after: Type.Optional(Cursor('events with a larger id (the `nextAfter` of the previous page)')),
    order: Type.Union([Type.Literal('desc'), Type.Literal('asc')], { default: 'desc', description: 'by id: newest first (desc) or oldest first' }),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  },
  { additionalProperties: false },
);

const VerifyResult = Type.Object({
  ok: Type.Boolean(),
  checked: Type.Integer({ description: 'rows examined' }),
  firstBrokenId: Nullable(Type.Integer()),
  reason: Nullable(Type.String()),
  lastId: Nullable(Type.Integer({ description: 'the newest row that verified' })),
  lastHash: Nullable(Type.String({ description: 'its hash: record it outside the database to detect later truncation' })),
});

export const auditRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/v1/audit',
      {
        schema: {
          summary: 'Audit events with filters, newest first (page with `before`, or with `after` and order=asc)',
          tags: ['audit'],
          querystring: AuditQuery,
          response: {
            200: Type.Object({ events: Type.Array(AuditEvent), nextBefore: Nullable(Type.Integer()), nextAfter: Nullable(Type.Integer()) }),
            400: ErrorBody,
            401: ErrorBody,
            403: ErrorBody,
          },
        },
      },
      async (request) => listAudit(ctx, requireActor(request), request.query),
    );

    app.get(
      '/api/v1/audit/verify',
      {
        schema: {
          summary: 'Walks the audit hash chain and reports the first broken link',
          tags: ['audit'],
          querystring: Type.Object({}, { additionalProperties: false }),
          response: { 200: VerifyResult, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody },
        },
      },
      async (request) => verifyAudit(ctx, requireActor(request)),
    );
  };
