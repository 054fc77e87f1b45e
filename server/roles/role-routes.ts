import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ROLE_SCOPES, type RoleScope } from '../access/roles.ts';
import type { AppContext } from '../context.ts';
import { requireActor } from '../http/authenticate.ts';
import { ErrorBody, Name, Timestamp } from '../http/schemas.ts';
import * as roles from './role-service.ts';

const Scope = Type.Unsafe<RoleScope>({ type: 'string', enum: [...ROLE_SCOPES], description: 'global | granted | assigned' });
const RoleId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9_]+$' });
/** Unknown permission names are refused by the service with the list of known ones. */
const Permissions = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 64 });
const Description = Type.String({ maxLength: 1000 });

const Role = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.String(),
  permissions: Type.Array(Type.String()),
  scope: Type.String(),
  requireMfa: Type.Boolean(),
  builtIn: Type.Boolean(),
  userCount: Type.Integer(),
  /** Whether the caller could give this role to someone (holds all its permissions and at least its scope). */
  grantable: Type.Boolean(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
const Params = Type.Object({ id: RoleId });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };

export const roleRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/v1/roles',
      { schema: { summary: 'List built-in and custom roles', tags: ['roles'], response: { 200: Type.Object({ roles: Type.Array(Role) }), ...errors } } },
      async (request) => ({ roles: await roles.listRoles(ctx, requireActor(request)) }),
    );
    app.get(
      '/api/v1/roles/:id',
      { schema: { summary: 'Get a role', tags: ['roles'], params: Params, response: { 200: Role, ...errors } } },
      async (request) => roles.getRole(ctx, requireActor(request), request.params.id),
    );
    app.post(
      '/api/v1/roles',
      {
        schema: {
          summary: 'Create a custom role (its id is a slug of the name, fixed at creation)',
          tags: ['roles'],
          body: Type.Object(
            { name: Name, description: Type.Optional(Description), permissions: Permissions, scope: Scope, requireMfa: Type.Optional(Type.Boolean()) },
            { additionalProperties: false },
          ),
          response: { 201: Role, ...errors },
        },
      },
      async (request, reply) => reply.status(201).send(await roles.createRole(ctx, requireActor(request), request.body)),
    );
    app.patch(
      '/api/v1/roles/:id',
      {
        schema: {
          summary: 'Change a role (built-in roles: only requireMfa)',
          tags: ['roles'],
          params: Params,
          body: Type.Object(
            {
              name: Type.Optional(Name),
              description: Type.Optional(Description),
              permissions: Type.Optional(Permissions),
              scope: Type.Optional(Scope),
              requireMfa: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: { 200: Role, ...errors },
        },
      },
      async (request) => roles.updateRole(ctx, requireActor(request), request.params.id, request.body),
    );
    app.delete(
      '/api/v1/roles/:id',
      { schema: { summary: 'Delete a custom role nobody holds', tags: ['roles'], params: Params, response: { 204: Type.Null(), ...errors } } },
      async (request, reply) => {
        await roles.deleteRole(ctx, requireActor(request), request.params.id);
        return reply.status(204).send(null);
      },
    );
  };
