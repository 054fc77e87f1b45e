import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../context.ts';
import { requireActor } from '../http/authenticate.ts';
import { Email, ErrorBody, Nullable } from '../http/schemas.ts';
import { login, logout } from './auth-service.ts';
import { PASSWORD_MAX_LENGTH } from './password.ts';
import { SESSION_COOKIE } from './session-cookie.ts';

export const TotpCode = Type.String({ pattern: '^[0-9]{6}$', description: 'six-digit code from the authenticator app' });
export const RecoveryCode = Type.String({ minLength: 10, maxLength: 20, description: 'one of the one-time recovery codes' });

const LoginResponse = Type.Object({
  token: Nullable(Type.String({ description: 'the bearer token (null for a cookie session: it is in the HttpOnly cookie)' })),
  kind: Type.Union([Type.Literal('login'), Type.Literal('console')]),
  expiresAt: Type.String(),
  csrfToken: Nullable(Type.String({ description: 'send as X-CSRF-Token on state-changing requests of a cookie session' })),
  user: Type.Object({ id: Type.String(), email: Type.String(), name: Type.String(), role: Type.String(), kind: Type.String() }),
  mfa: Type.Object({ enabled: Type.Boolean(), required: Type.Boolean(), verified: Type.Boolean() }),
});

export const authRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/api/v1/auth/login',
      {
        schema: {
          summary: 'Log in with email, password and (when enabled) an MFA code; returns a bearer token or sets the console cookie',
          tags: ['auth'],
          security: [],
          body: Type.Object(
            {
              email: Email,
              password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH }),
              totpCode: Type.Optional(TotpCode),
              recoveryCode: Type.Optional(RecoveryCode),
              session: Type.Union([Type.Literal('token'), Type.Literal('cookie')], { default: 'token' }),
            },
            { additionalProperties: false },
          ),
          response: { 200: LoginResponse, 400: ErrorBody, 401: ErrorBody, 429: ErrorBody },
        },
      },
      async (request, reply) => {
        const result = await login(ctx, request.body, request.ip);
        if (result.kind === 'console') {
          reply.setCookie(SESSION_COOKIE, result.token, {
            httpOnly: true,
            sameSite: 'strict',
            secure: Boolean(ctx.config.tls),
            path: '/',
            expires: new Date(result.expiresAt),
          });
          return { ...result, token: null };
        }
        return result;
      },
    );

    app.post(
      '/api/v1/auth/logout',
      { schema: { summary: 'Revoke the token (or cookie session) used for this request', tags: ['auth'], response: { 204: Type.Null(), 401: ErrorBody } } },
      async (request, reply) => {
        await logout(ctx, requireActor(request));
        if (request.cookies?.[SESSION_COOKIE]) reply.clearCookie(SESSION_COOKIE, { path: '/' });
        return reply.status(204).send(null);
      },
    );
  };
