import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../context.ts';
import { requireActor } from '../http/authenticate.ts';
import { ErrorBody, IdParams, Nullable, Timestamp, Uuid } from '../http/schemas.ts';
import * as service from './session-service.ts';

const Status = Type.Union(['awaiting_approval', 'approved', 'denied', 'starting', 'active', 'ended', 'failed'].map((s) => Type.Literal(s)));
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
  decidedBy: Nullable(Uuid),
  decidedAt: Nullable(Timestamp),
  decisionReason: Nullable(Type.String()),
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
const Size = Type.Object(
  { cols: Type.Integer({ minimum: 1, maximum: 1000, default: 80 }), rows: Type.Integer({ minimum: 1, maximum: 1000, default: 24 }) },
  { additionalProperties: false },
);
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };

export const sessionRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/api/v1/machines/:id/sessions',
      {
        schema: {
          summary:
            'Open a terminal session on a machine: 201 once the agent has attached it, or 202 `awaiting_approval` where the site requires approval for servers',
          tags: ['sessions'],
          params: IdParams,
          body: Type.Object({ kind: Type.Literal('terminal'), ...Size.properties }, { additionalProperties: false }),
          response: { 201: Session, 202: Session, ...errors, 501: ErrorBody, 502: ErrorBody, 503: ErrorBody },
        },
      },
      async (request, reply) => {
        const session = await service.requestSession(ctx, requireActor(request), request.params.id, request.body);
        return reply.status(session.status === 'awaiting_approval' ? 202 : 201).send(session);
      },
    );
    app.post(
      '/api/v1/sessions/:id/start',
      {
        schema: {
          summary: 'Start an approved session (its requester only, before the approval runs out)',
          tags: ['sessions'],
          params: IdParams,
          body: Size,
          response: { 201: Session, ...errors, 502: ErrorBody, 503: ErrorBody },
        },
      },
      async (request, reply) => reply.status(201).send(await service.startApprovedSession(ctx, requireActor(request), request.params.id, request.body)),
    );
    app.get(
      '/api/v1/session-requests',
      {
        schema: {
          summary: 'Session requests awaiting a decision, on machines the caller may approve sessions on',
          tags: ['sessions'],
          querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }) }, { additionalProperties: false }),
          response: { 200: Type.Object({ requests: Type.Array(Session) }), ...errors },
        },
      },
      async (request) => ({ requests: await service.listSessionRequests(ctx, requireActor(request), request.query.limit) }),
    );
    app.post(
      '/api/v1/session-requests/:id/approve',
      {
        schema: {
          summary: 'Approve a session request (sessions.approve over the machine; not your own); sets its maximum duration',
          tags: ['sessions'],
          params: IdParams,
          body: Type.Object(
            { reason: Type.Optional(Type.String({ maxLength: 500 })), maxMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 24 * 60 })) },
            { additionalProperties: false },
          ),
          response: { 200: Session, ...errors },
        },
      },
      async (request) => service.decideSessionRequest(ctx, requireActor(request), request.params.id, { approve: true, ...request.body }),
    );
    app.post(
      '/api/v1/session-requests/:id/deny',
      {
        schema: {
          summary: 'Deny a session request (sessions.approve over the machine; not your own)',
          tags: ['sessions'],
          params: IdParams,
          body: Type.Object({ reason: Type.String({ minLength: 1, maxLength: 500 }) }, { additionalProperties: false }),
          response: { 200: Session, ...errors },
        },
      },
      async (request) => service.decideSessionRequest(ctx, requireActor(request), request.params.id, { approve: false, reason: request.body.reason }),
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
