import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../context.ts';
import { requireActor } from '../http/authenticate.ts';
import { ErrorBody, IdParams, Nullable, Timestamp, Uuid } from '../http/schemas.ts';
import * as service from './recording-service.ts';

const Recording = Type.Object({
  id: Uuid,
  machineId: Uuid,
  hostname: Nullable(Type.String()),
  siteId: Uuid,
  clientId: Uuid,
  userId: Nullable(Uuid),
  userName: Nullable(Type.String()),
  startedAt: Timestamp,
  endedAt: Nullable(Timestamp),
  cols: Type.Integer(),
  rows: Type.Integer(),
  inputRecorded: Type.Boolean(),
  bytes: Type.Integer({ description: 'size of the asciicast' }),
  storedBytes: Type.Integer({ description: 'size stored (gzip)' }),
  participants: Type.Array(Type.Object({ userId: Type.String(), name: Type.String(), role: Type.String(), joinedAt: Type.String() })),
});
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

/** Session recordings (asciicast v2): index, and playback that is itself audited. */
export const recordingRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/v1/recordings',
      {
        schema: {
          summary: 'Session recordings the caller may replay, newest first',
          tags: ['recordings'],
          querystring: Type.Object(
            { machineId: Type.Optional(Uuid), userId: Type.Optional(Uuid), limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }) },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ recordings: Type.Array(Recording) }), ...errors },
        },
      },
      async (request) => ({ recordings: await service.listRecordings(ctx, requireActor(request), request.query) }),
    );
    app.get(
      '/api/v1/recordings/:id',
      {
        schema: {
          summary: 'Download a recording as asciicast v2 (`format=cast`, default) or the stored .cast.gz (`format=gzip`); audited',
          tags: ['recordings'],
          params: IdParams,
          querystring: Type.Object(
            {
              format: Type.Union([Type.Literal('cast'), Type.Literal('gzip')], { default: 'cast' }),
              reason: Type.Optional(Type.String({ maxLength: 500, description: 'why the recording is played, for the audit log' })),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Any({ description: 'the asciicast (a stream)' }), ...errors },
        },
      },
      async (request, reply) => {
        const { stream, fileName } = await service.openRecording(ctx, requireActor(request), request.params.id, request.query);
        return reply
          .header('content-type', request.query.format === 'gzip' ? 'application/gzip' : 'application/x-asciicast')
          .header('content-disposition', `attachment; filename="${fileName}"`)
          .send(stream);
      },
    );
    app.get(
      '/api/v1/recordings/:id/info',
      { schema: { summary: "A recording's index entry", tags: ['recordings'], params: IdParams, response: { 200: Recording, ...errors } } },
      async (request) => service.getRecording(ctx, requireActor(request), request.params.id),
    );
  };
