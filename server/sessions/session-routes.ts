import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../context.ts';
import { requireActor } from '../http/authenticate.ts';
import { ErrorBody, IdParams, Nullable, Timestamp, Uuid } from '../http/schemas.ts';
import * as service from './session-service.ts';

const Status = Type.Union(['starting', 'active', 'ended', 'failed'].map((s) => Type.Literal(s)));
const Session = Type.Object({
  id: Uuid,
  machineId: Uuid,
  hostname: Nullable(Type.String()),
  siteId: Uuid,
  clientId: Uuid,
  userId: Nullable(Uuid),
  userName: Nullable(Type.String()),
  kind: Type.String(),
  status: Type.String(),
  runAs: Type.String(),
  files: Type.Boolean(),
  cols: Type.Integer(),
  rows: Type.Integer(),
  requestedAt: Timestamp,
  startedAt: Nullable(Timestamp),
  endedAt: Nullable(Timestamp),
  endReason: Nullable(Type.String()),
  exitCode: Nullable(Type.Integer()),
  endsAt: Nullable(Timestamp),
  streamPath: Type.String({ description: 'WebSocket path to attach a console (bearer token or console cookie)' }),
});
const Participant = Type.Object({
  id: Uuid,
  userId: Nullable(Uuid),
  name: Nullable(Type.String()),
  role: Type.String(),
  joinedAt: Timestamp,
  leftAt: Nullable(Timestamp),
  leftReason: Nullable(Type.String()),
  droppedInputs: Type.Integer(),
});
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };

export const sessionRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/api/v1/machines/:id/sessions',
      {
        schema: {
          summary: 'Open a terminal session on a machine (answers once the agent has attached it)',
          tags: ['sessions'],
          params: IdParams,
          body: Type.Object(
            {
              kind: Type.Literal('terminal'),
              cols: Type.Integer({ minimum: 1, maximum: 1000, default: 80 }),
              rows: Type.Integer({ minimum: 1, maximum: 1000, default: 24 }),
            },
            { additionalProperties: false },
          ),
          response: { 201: Session, ...errors, 502: ErrorBody, 503: ErrorBody },
        },
      },
      async (request, reply) => reply.status(201).send(await service.requestSession(ctx, requireActor(request), request.params.id, request.body)),
    );
    app.get(
      '/api/v1/sessions',
      {
        schema: {
          summary: 'Sessions on the machines the caller may observe, newest first',
          tags: ['sessions'],
          querystring: Type.Object(
            {
              machineId: Type.Optional(Uuid),
              status: Type.Optional(Status),
              live: Type.Optional(Type.Boolean()),
              limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ sessions: Type.Array(Session) }), ...errors },
        },
      },
      async (request) => ({ sessions: await service.listSessions(ctx, requireActor(request), request.query) }),
    );
    app.get(
      '/api/v1/sessions/:id',
      {
        schema: {
          summary: 'A session with everyone who attached to it',
          tags: ['sessions'],
          params: IdParams,
          response: { 200: Type.Composite([Session, Type.Object({ participants: Type.Array(Participant) })]), ...errors },
        },
      },
      async (request) => service.getSession(ctx, requireActor(request), request.params.id),
    );
    app.delete(
      '/api/v1/sessions/:id',
      {
        schema: {
          summary: "End a live session (its owner, or a supervisor with sessions.approve: 'kill session')",
          tags: ['sessions'],
          params: IdParams,
          response: { 202: Type.Object({ id: Uuid, ending: Type.Boolean() }), ...errors },
        },
      },
      async (request, reply) => reply.status(202).send(await service.endSession(ctx, requireActor(request), request.params.id)),
    );
  };
