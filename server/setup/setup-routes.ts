import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../auth/password.ts';
import type { AppContext } from '../context.ts';
import { ErrorBody, Email } from '../http/schemas.ts';
import { completeSetup } from './setup-service.ts';

export const setupRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/api/v1/setup',
      {
        schema: {
          summary: 'Create the first Super Admin (works once, with the setup token printed at first start)',
          security: [],
          tags: ['setup'],
          body: Type.Object(
            {
              setupToken: Type.String({ minLength: 1, maxLength: 200 }),
              email: Email,
              name: Type.String({ minLength: 1, maxLength: 200 }),
              password: Type.String({ minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH }),
            },
            { additionalProperties: false },
          ),
          response: {
            201: Type.Object({ user: Type.Object({ id: Type.String(), email: Type.String(), name: Type.String(), role: Type.String() }) }),
            403: ErrorBody,
            409: ErrorBody,
          },
        },
      },
      async (request, reply) => {
        const user = await completeSetup(ctx, request.body, request.ip);
        return reply.status(201).send({ user });
      },
    );
  };
