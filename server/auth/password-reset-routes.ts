import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../context.ts';
import { Email, ErrorBody } from '../http/schemas.ts';
import { confirmPasswordReset, requestPasswordResetLater } from './password-reset-service.ts';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from './password.ts';

const ACCEPTED = { status: 'accepted' as const };

export const passwordResetRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    // Requests answered but still being acted on; the server waits for them before it closes the database.
    const pending = new Set<Promise<void>>();
    app.addHook('onClose', async () => {
      await Promise.all(pending);
    });

    app.post(
      '/api/v1/auth/password-reset',
      {
        schema: {
          summary: 'Forgot password: emails a single-use reset link if the address belongs to an account (the answer never says)',
          tags: ['auth'],
          security: [],
          body: Type.Object({ email: Email }, { additionalProperties: false }),
          response: { 202: Type.Object({ status: Type.Literal('accepted') }), 400: ErrorBody },
        },
      },
      async (request, reply) => {
        // Answer first, then look the email up: the response time cannot tell whether the account exists.
        reply.status(202).send(ACCEPTED);
        const job = requestPasswordResetLater(ctx, request.body.email, request.ip);
        pending.add(job);
        void job.finally(() => pending.delete(job));
        return reply;
      },
    );

    app.post(
      '/api/v1/auth/password-reset/confirm',
      {
        schema: {
          summary: 'Set a new password with the token from a reset or invitation link (does not sign in)',
          tags: ['auth'],
          security: [],
          body: Type.Object(
            {
              token: Type.String({ minLength: 16, maxLength: 200, pattern: '^[A-Za-z0-9_-]+$', description: 'the token after #token= in the emailed link' }),
              newPassword: Type.String({ minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH }),
            },
            { additionalProperties: false },
          ),
          response: { 204: Type.Null(), 400: ErrorBody },
        },
      },
      async (request, reply) => {
        await confirmPasswordReset(ctx, request.body, request.ip);
        return reply.status(204).send(null);
      },
    );
  };
