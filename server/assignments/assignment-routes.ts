import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ASSIGNMENT_RIGHTS } from '../access/permissions.ts';
import type { AppContext } from '../context.ts';
import { requireActor } from '../http/authenticate.ts';
import { ErrorBody, IdParams, Nullable, Timestamp, Uuid } from '../http/schemas.ts';
import * as assignments from './assignment-service.ts';

const Right = Type.Union(ASSIGNMENT_RIGHTS.map((r) => Type.Literal(r)));
const Rights = Type.Array(Right, { minItems: 1, uniqueItems: true, description: 'Session rights granted: terminal, view_only, files' });
const Note = Type.String({ maxLength: 500 });
const FutureDateTime = Type.String({ format: 'date-time', description: 'ISO-8601 date-time in the future' });

const Assignment = Type.Object({
  id: Uuid,
  machineId: Uuid,
  hostname: Nullable(Type.String()),
  siteId: Uuid,
  clientId: Uuid,
  userId: Uuid,
  userEmail: Type.String(),
  userName: Type.String(),
  rights: Type.Array(Right),
  note: Nullable(Type.String()),
  expiresAt: Nullable(Timestamp),
  expired: Type.Boolean(),
  assignedBy: Nullable(Uuid),
  assignedAt: Timestamp,
  updatedAt: Timestamp,
  lastUsedAt: Nullable(Timestamp),
});
const AssignmentList = Type.Object({ assignments: Type.Array(Assignment) });
const IncludeExpired = Type.Boolean({ default: false, description: 'Also list assignments whose expiry has passed' });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

export const assignmentRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/api/v1/machines/:id/assignments',
      {
        schema: {
          summary: 'Assign a machine to a user, with session rights and an optional note and expiry',
          tags: ['assignments'],
          params: IdParams,
          body: Type.Object(
            { userId: Uuid, rights: Rights, note: Type.Optional(Note), expiresAt: Type.Optional(FutureDateTime) },
            { additionalProperties: false },
          ),
          response: { 201: Assignment, ...errors, 409: ErrorBody },
        },
      },
      async (request, reply) =>
        reply.status(201).send(await assignments.createAssignment(ctx, requireActor(request), request.params.id, request.body)),
    );
    app.get(
      '/api/v1/machines/:id/assignments',
      {
        schema: {
          summary: "A machine's assignments",
          tags: ['assignments'],
          params: IdParams,
          querystring: Type.Object({ includeExpired: IncludeExpired }, { additionalProperties: false }),
          response: { 200: AssignmentList, ...errors },
        },
      },
      async (request) => ({
        assignments: await assignments.listMachineAssignments(ctx, requireActor(request), request.params.id, request.query.includeExpired),
      }),
    );
    app.get(
      '/api/v1/assignments',
      {
        schema: {
          summary: "Assignments: the caller's own, and those on machines the caller manages assignments for",
          tags: ['assignments'],
          querystring: Type.Object(
            {
              userId: Type.Optional(Uuid),
              machineId: Type.Optional(Uuid),
              siteId: Type.Optional(Uuid),
              clientId: Type.Optional(Uuid),
              includeExpired: IncludeExpired,
            },
            { additionalProperties: false },
          ),
          response: { 200: AssignmentList, ...errors },
        },
      },
      async (request) => ({ assignments: await assignments.listAssignments(ctx, requireActor(request), request.query) }),
    );
    app.patch(
      '/api/v1/assignments/:id',
      {
        schema: {
          summary: "Change an assignment's rights, note or expiry (null clears note or expiry)",
          tags: ['assignments'],
          params: IdParams,
          body: Type.Object(
            { rights: Type.Optional(Rights), note: Type.Optional(Nullable(Note)), expiresAt: Type.Optional(Nullable(FutureDateTime)) },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: { 200: Assignment, ...errors },
        },
      },
      async (request) => assignments.updateAssignment(ctx, requireActor(request), request.params.id, request.body),
    );
    app.delete(
      '/api/v1/assignments/:id',
      {
        schema: {
          summary: 'Unassign: remove the assignment (access ends on the next request)',
          tags: ['assignments'],
          params: IdParams,
          response: { 204: Type.Null(), ...errors },
        },
      },
      async (request, reply) => {
        await assignments.deleteAssignment(ctx, requireActor(request), request.params.id);
        return reply.status(204).send(null);
      },
    );
  };
