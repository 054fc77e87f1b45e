import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ASSIGNMENT_RIGHTS, PERMISSIONS } from '../access/permissions.ts';
import { ROLE_SCOPES } from '../access/roles.ts';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../auth/password.ts';
import type { AppContext } from '../context.ts';
import { requireActor } from '../http/authenticate.ts';
import { ErrorBody, Nullable, Timestamp, Uuid } from '../http/schemas.ts';
import * as me from './me-service.ts';

const literals = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)));

const Me = Type.Object({
  id: Uuid,
  email: Type.String(),
  name: Type.String(),
  kind: literals(['technician', 'client_user'] as const),
  clientId: Nullable(Uuid),
  role: Type.Object({ id: Type.String(), name: Type.String(), scope: literals(ROLE_SCOPES) }),
  permissions: Type.Array(literals(PERMISSIONS), { description: "The role's permissions, narrowed by the token's" }),
  allowRemoteControl: Type.Boolean(),
  mfa: Type.Object({ enabled: Type.Boolean(), required: Type.Boolean(), verified: Type.Boolean() }),
  token: Type.Object({ id: Uuid, kind: literals(['login', 'console', 'api'] as const) }),
});

const MyMachine = Type.Object({
  id: Uuid,
  hostname: Nullable(Type.String()),
  kind: Nullable(Type.String()),
  os: Nullable(Type.String()),
  online: Type.Boolean(),
  siteId: Uuid,
  siteName: Type.String(),
  clientId: Uuid,
  clientName: Type.String(),
  via: literals(['assignment', 'site_access'] as const),
  rights: Type.Array(literals(ASSIGNMENT_RIGHTS)),
  expiresAt: Nullable(Timestamp),
  canConnect: Type.Boolean({ description: 'Whether the caller may join a session on this machine now' }),
});

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody };

export const meRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/v1/me',
      { schema: { summary: 'The signed-in user: role, effective permissions, MFA state', tags: ['me'], response: { 200: Me, ...errors } } },
      async (request) => me.me(ctx, requireActor(request)),
    );
    app.get(
      '/api/v1/me/machines',
      {
        schema: {
          summary: 'My Assigned Machines: machines assigned to the caller (and, for client users, those of their site access)',
          tags: ['me'],
          response: { 200: Type.Object({ machines: Type.Array(MyMachine) }), ...errors },
        },
      },
      async (request) => ({ machines: await me.myMachines(ctx, requireActor(request)) }),
    );
    app.put(
      '/api/v1/me/password',
      {
        schema: {
          summary: "Change the caller's password; every other token of the account is revoked",
          tags: ['me'],
          body: Type.Object(
            {
              currentPassword: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH }),
              newPassword: Type.String({ minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH }),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ revokedTokens: Type.Integer() }), ...errors, 409: ErrorBody, 429: ErrorBody },
        },
      },
      async (request) => me.changePassword(ctx, requireActor(request), request.body.currentPassword, request.body.newPassword),
    );
  };
