import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { UserKind } from '../access/actor.ts';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../auth/password.ts';
import type { AppContext } from '../context.ts';
import { requireActor } from '../http/authenticate.ts';
import { Email, ErrorBody, IdParams, Name, Nullable, Timestamp, Uuid } from '../http/schemas.ts';
import { importUsers, MAX_IMPORT_BYTES } from './user-import.ts';
import * as users from './user-service.ts';

const Kind = Type.Unsafe<UserKind>({ type: 'string', enum: ['technician', 'client_user'] });
const RoleRef = Type.String({ minLength: 1, maxLength: 200 });

/** A user as the API shows it: whether a password and MFA are set, never the hash or the secret. */
const User = Type.Object({
  id: Uuid,
  email: Type.String(),
  name: Type.String(),
  kind: Type.String(),
  clientId: Nullable(Uuid),
  role: Type.String(),
  allowRemoteControl: Type.Boolean(),
  disabled: Type.Boolean(),
  disabledAt: Nullable(Timestamp),
  mfaEnabled: Type.Boolean(),
  /** False while an invited user has not set a password yet. */
  passwordSet: Type.Boolean(),
  lastLoginAt: Nullable(Timestamp),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

const ImportRow = Type.Object({
  line: Type.Integer(),
  email: Type.String(),
  status: Type.String(),
  errors: Type.Array(Type.String()),
  userId: Type.Optional(Uuid),
});
const ImportResult = Type.Object({ created: Type.Integer(), dryRun: Type.Boolean(), rows: Type.Array(ImportRow) });
/** A refused import carries the per-row results beside the usual error; other 400s are the usual error alone. */
const ImportRefused = Type.Object({
  error: ErrorBody.properties.error,
  created: Type.Optional(Type.Integer()),
  dryRun: Type.Optional(Type.Boolean()),
  rows: Type.Optional(Type.Array(ImportRow)),
});

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };

export const userRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    // The CSV import's body; registered in this plugin only, so no other route accepts text/csv.
    app.addContentTypeParser('text/csv', { parseAs: 'string', bodyLimit: MAX_IMPORT_BYTES }, (_request, body, done) => done(null, body));

    app.post(
      '/api/v1/users',
      {
        schema: {
          summary: 'Create a technician or client user (without a password, an invitation is emailed)',
          tags: ['users'],
          body: Type.Object(
            {
              email: Email,
              name: Name,
              kind: Kind,
              clientId: Type.Optional(Nullable(Uuid)),
              role: RoleRef,
              allowRemoteControl: Type.Optional(Type.Boolean()),
              password: Type.Optional(Type.String({ minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH })),
            },
            { additionalProperties: false },
          ),
          response: { 201: User, ...errors },
        },
      },
      async (request, reply) => reply.status(201).send(await users.createUser(ctx, requireActor(request), request.body)),
    );
    app.get(
      '/api/v1/users',
      {
        schema: {
          summary: 'List the users the caller may manage',
          tags: ['users'],
          querystring: Type.Object(
            { kind: Type.Optional(Kind), clientId: Type.Optional(Uuid), role: Type.Optional(RoleRef), disabled: Type.Optional(Type.Boolean()) },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ users: Type.Array(User) }), ...errors },
        },
      },
      async (request) => ({ users: await users.listUsers(ctx, requireActor(request), request.query) }),
    );
    app.post(
      '/api/v1/users/import',
      {
        bodyLimit: MAX_IMPORT_BYTES,
        schema: {
          summary: 'Import users from CSV (Content-Type: text/csv): all rows or none',
          description: 'Header row: email,name,kind,client,role,allow_remote_control. `client` is a client name, `role` a role id.',
          tags: ['users'],
          querystring: Type.Object({ dryRun: Type.Boolean({ default: false }) }, { additionalProperties: false }),
          response: { 200: ImportResult, 201: ImportResult, 400: ImportRefused, 401: ErrorBody, 403: ErrorBody, 409: ErrorBody },
        },
      },
      async (request, reply) => {
        const result = await importUsers(ctx, requireActor(request), request.body, { dryRun: request.query.dryRun });
        return reply.status(result.status).send(result.body);
      },
    );
    app.get(
      '/api/v1/users/:id',
      { schema: { summary: 'Get a user', tags: ['users'], params: IdParams, response: { 200: User, ...errors } } },
      async (request) => users.getUser(ctx, requireActor(request), request.params.id),
    );
    app.patch(
      '/api/v1/users/:id',
      {
        schema: {
          summary: 'Change a user; `disabled: true` ends all their sessions and tokens at once',
          tags: ['users'],
          params: IdParams,
          body: Type.Object(
            {
              name: Type.Optional(Name),
              email: Type.Optional(Email),
              role: Type.Optional(RoleRef),
              allowRemoteControl: Type.Optional(Type.Boolean()),
              disabled: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: { 200: User, ...errors },
        },
      },
      async (request) => users.updateUser(ctx, requireActor(request), request.params.id, request.body),
    );
    app.delete(
      '/api/v1/users/:id',
      { schema: { summary: 'Delete a user', tags: ['users'], params: IdParams, response: { 204: Type.Null(), ...errors } } },
      async (request, reply) => {
        await users.deleteUser(ctx, requireActor(request), request.params.id);
        return reply.status(204).send(null);
      },
    );
    app.post(
      '/api/v1/users/:id/password-link',
      {
        schema: {
          summary: 'Email the user a link to set a password (an invitation if they never had one, else a reset)',
          tags: ['users'],
          params: IdParams,
          response: { 202: Type.Object({ purpose: Type.String() }), ...errors },
        },
      },
      async (request, reply) => reply.status(202).send(await users.sendPasswordLink(ctx, requireActor(request), request.params.id)),
    );
  };
