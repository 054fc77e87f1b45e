import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../context.ts';
import { demand } from '../access/demand.ts';
import { requireActor } from '../http/authenticate.ts';
import { ErrorBody, Nullable, Timestamp } from '../http/schemas.ts';
import { listAuditEvents } from './audit-store.ts';

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
});

export const auditRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/v1/audit',
      {
        schema: {
          summary: 'Audit events, newest first (page with `before`)',
          tags: ['audit'],
          querystring: Type.Object(
            {
              action: Type.Optional(Type.String({ maxLength: 100 })),
              targetId: Type.Optional(Type.String({ maxLength: 100 })),
              before: Type.Optional(Type.Integer({ minimum: 1 })),
              limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ events: Type.Array(AuditEvent) }), 400: ErrorBody, 401: ErrorBody, 403: ErrorBody },
        },
      },
      async (request) => {
        const actor = requireActor(request);
        await demand(ctx, actor, 'audit.view', { type: 'installation' });
        return { events: await listAuditEvents(ctx.db, request.query) };
      },
    );
  };
