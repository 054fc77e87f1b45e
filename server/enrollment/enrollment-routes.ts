import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../context.ts';
import { requireActor } from '../http/authenticate.ts';
import { ErrorBody, IdParams, Timestamp, Uuid } from '../http/schemas.ts';
import * as enrollment from './enrollment-service.ts';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };
const TokenInfo = Type.Object({
  id: Uuid,
  siteId: Uuid,
  expiresAt: Timestamp,
  maxUses: Type.Integer(),
  uses: Type.Integer(),
  revokedAt: Type.Union([Timestamp, Type.Null()]),
  createdAt: Timestamp,
  createdBy: Type.Union([Uuid, Type.Null()]),
});

export const enrollmentRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/api/v1/sites/:id/enrollment-tokens',
      {
        schema: {
          summary: 'Create an enrollment token for a site (the token is shown once; only its hash is kept)',
          tags: ['enrollment'],
          params: IdParams,
          body: Type.Object(
            {
              expiresInHours: Type.Integer({ minimum: 1, maximum: 24 * 365, default: 24 }),
              maxUses: Type.Integer({ minimum: 1, maximum: 100_000, default: 1 }),
            },
            { additionalProperties: false },
          ),
          response: {
            201: Type.Object({ id: Uuid, siteId: Uuid, token: Type.String(), expiresAt: Timestamp, maxUses: Type.Integer(), uses: Type.Integer(), createdAt: Timestamp }),
            ...errors,
          },
        },
      },
      async (request, reply) =>
        reply.status(201).send(await enrollment.createEnrollmentToken(ctx, requireActor(request), request.params.id, request.body)),
    );
    app.get(
      '/api/v1/sites/:id/enrollment-tokens',
      {
        schema: {
          summary: 'List the enrollment tokens of a site (never the secrets)',
          tags: ['enrollment'],
          params: IdParams,
          response: { 200: Type.Object({ tokens: Type.Array(TokenInfo) }), ...errors },
        },
      },
      async (request) => ({ tokens: await enrollment.listEnrollmentTokens(ctx, requireActor(request), request.params.id) }),
    );
    app.delete(
      '/api/v1/enrollment-tokens/:id',
      { schema: { summary: 'Revoke an enrollment token', tags: ['enrollment'], params: IdParams, response: { 204: Type.Null(), ...errors } } },
      async (request, reply) => {
        await enrollment.revokeEnrollmentToken(ctx, requireActor(request), request.params.id);
        return reply.status(204).send(null);
      },
    );
  };
