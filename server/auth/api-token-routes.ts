import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { PERMISSIONS } from '../access/permissions.ts';
import type { AppContext } from '../context.ts';
import { requireActor } from '../http/authenticate.ts';
import { ErrorBody, IdParams, Name, Nullable, Timestamp, Uuid } from '../http/schemas.ts';
import * as tokens from './api-token-service.ts';

const PermissionName = Type.Union(PERMISSIONS.map((p) => Type.Literal(p)));
const ApiToken = Type.Object({
  id: Uuid,
  name: Nullable(Type.String()),
  permissions: Nullable(Type.Array(Type.String())),
  siteIds: Nullable(Type.Array(Type.String())),
  createdAt: Timestamp,
  expiresAt: Timestamp,
  revokedAt: Nullable(Timestamp),
  lastUsedAt: Nullable(Timestamp),
});
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

export const apiTokenRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/api/v1/me/tokens',
      {
        schema: {
          summary: 'Create a named, expiring API token scoped to at most what you hold (the token is shown once)',
          tags: ['api tokens'],
          body: Type.Object(
            {
              name: Name,
              expiresInDays: Type.Integer({ minimum: 1, maximum: 365, default: 90 }),
              permissions: Type.Optional(Type.Array(PermissionName, { minItems: 1, maxItems: PERMISSIONS.length })),
              siteIds: Type.Optional(Type.Array(Uuid, { minItems: 1, maxItems: 1000 })),
            },
            { additionalProperties: false },
          ),
          response: {
            201: Type.Object({ id: Uuid, token: Type.String(), name: Type.String(), permissions: Type.Array(Type.String()), siteIds: Nullable(Type.Array(Uuid)), expiresAt: Timestamp }),
            ...errors,
          },
        },
      },
      async (request, reply) => reply.status(201).send(await tokens.createApiToken(ctx, requireActor(request), request.body)),
    );
    app.get(
      '/api/v1/me/tokens',
      { schema: { summary: 'Your API tokens (never the secrets)', tags: ['api tokens'], response: { 200: Type.Object({ tokens: Type.Array(ApiToken) }), ...errors } } },
      async (request) => ({ tokens: await tokens.listApiTokens(ctx, requireActor(request)) }),
    );
    app.delete(
      '/api/v1/me/tokens/:id',
      { schema: { summary: 'Revoke one of your API tokens', tags: ['api tokens'], params: IdParams, response: { 204: Type.Null(), ...errors } } },
      async (request, reply) => {
        await tokens.revokeApiToken(ctx, requireActor(request), request.params.id);
        return reply.status(204).send(null);
      },
    );
  };
