import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../context.ts';
import { requireActor } from '../http/authenticate.ts';
import { Email, ErrorBody } from '../http/schemas.ts';
import { login, logout } from './auth-service.ts';
import { PASSWORD_MAX_LENGTH } from './password.ts';

export const authRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/api/v1/auth/login',
      {
        schema: {
          summary: 'Log in with email and password; returns a bearer token',
          tags: ['auth'],
          body: Type.Object(
            { email: Email, password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH }) },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              token: Type.String(),
              expiresAt: Type.String(),
              user: Type.Object({ id: Type.String(), email: Type.String(), name: Type.String(), role: Type.String() }),
            }),
            401: ErrorBody,
            429: ErrorBody,
          },
        },
      },
      async (request) => login(ctx, request.body.email, request.body.password, request.ip),
    );

    app.post(
      '/api/v1/auth/logout',
      { schema: { summary: 'Revoke the token used for this request', tags: ['auth'], response: { 204: Type.Null() } } },
      async (request, reply) => {
        await logout(ctx, requireActor(request));
        return reply.status(204).send(null);
      },
    );
  };
