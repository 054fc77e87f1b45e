import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../context.ts';
import { requireActor } from '../http/authenticate.ts';
import { ErrorBody, IdParams, Nullable, Timestamp, Uuid } from '../http/schemas.ts';
import { credentialHistory, machineCredentials, revealCredential, rotateCredential, rotateSite, siteCredentialStatus } from './credential-service.ts';

const AccountParams = Type.Object({ id: Uuid, account: Type.Union([Type.Literal('remote_support'), Type.Literal('noc')], { description: 'remote_support (desktops) or noc (servers)' }) });
const Account = Type.Object({
  purpose: Type.String(),
  username: Type.String(),
  scope: Type.String(),
  domain: Nullable(Type.String()),
  status: Type.String(),
  reasons: Type.Array(Type.String()),
  coveredBy: Nullable(Type.String()),
  lastRotatedAt: Nullable(Timestamp),
  rotation: Nullable(Type.Object({ jobId: Type.String(), reason: Type.String(), state: Type.String(), dueAt: Timestamp, lastError: Nullable(Type.String()) })),
});
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };

export const credentialRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/v1/sites/:id/credential-status',
      {
        schema: {
          summary: "A site's account status per purpose (in_progress, partially_created, created, failed, not_qualified) with per-machine details",
          tags: ['credentials'],
          params: IdParams,
          response: {
            200: Type.Object({
              siteId: Type.String(),
              setup: Type.Object({ state: Type.String(), by: Nullable(Type.String()), startedAt: Nullable(Timestamp), completedAt: Nullable(Timestamp) }),
              server: Type.Object({ enabled: Type.Boolean(), status: Nullable(Type.String()) }),
              desktop: Type.Object({ enabled: Type.Boolean(), status: Nullable(Type.String()) }),
              machines: Type.Array(Type.Composite([Type.Object({ machineId: Type.String(), hostname: Nullable(Type.String()), kind: Nullable(Type.String()), os: Nullable(Type.String()) }), Account])),
            }),
            ...errors,
          },
        },
      },
      async (request) => siteCredentialStatus(ctx, requireActor(request), request.params.id),
    );
    app.get(
      '/api/v1/machines/:id/credentials',
      { schema: { summary: "A machine's managed accounts: status, reasons, last rotation (never a password)", tags: ['credentials'], params: IdParams, response: { 200: Type.Array(Account), ...errors } } },
      async (request) => machineCredentials(ctx, requireActor(request), request.params.id),
    );
    app.post(
      '/api/v1/machines/:id/credentials/:account/reveal',
      {
        schema: {
          summary: 'Reveal the escrowed password (credentials.reveal, second factor within 15 minutes); audited, and a rotation follows after the site\'s delay',
          tags: ['credentials'],
          params: AccountParams,
          body: Type.Object(
            {
              reason: Type.String({ minLength: 3, maxLength: 500, description: 'why, for the audit log' }),
              versionId: Type.Optional(Type.String({ format: 'uuid', description: 'a previous password from the history (default: the current one)' })),
              totpCode: Type.Optional(Type.String({ minLength: 6, maxLength: 8 })),
              recoveryCode: Type.Optional(Type.String({ minLength: 8, maxLength: 32 })),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              username: Type.String(),
              domain: Nullable(Type.String()),
              scope: Type.String(),
              password: Type.String(),
              versionId: Type.String(),
              state: Type.String(),
              setAt: Nullable(Timestamp),
              unconfirmed: Type.Array(Type.Object({ createdAt: Timestamp, password: Type.String() })),
              rotation: Type.Object({ jobId: Type.String(), dueAt: Timestamp }),
            }),
            ...errors,
          },
        },
      },
      async (request, reply) => {
        reply.header('cache-control', 'no-store');
        return revealCredential(ctx, requireActor(request), request.params.id, request.params.account, request.body);
      },
    );
    app.post(
      '/api/v1/sites/:id/credentials/rotate',
      {
        schema: {
          summary: "Rotate every managed account of a site now (credentials.manage): one request, one audit record",
          tags: ['credentials'],
          params: IdParams,
          body: Type.Object(
            {
              purpose: Type.Optional(Type.Union([Type.Literal('remote_support'), Type.Literal('noc')])),
              reason: Type.String({ minLength: 3, maxLength: 500, description: 'why, for the audit log' }),
            },
            { additionalProperties: false },
          ),
          response: { 202: Type.Object({ siteId: Type.String(), queued: Type.Integer(), dueAt: Timestamp }), ...errors },
        },
      },
      async (request, reply) => {
        reply.code(202);
        return rotateSite(ctx, requireActor(request), request.params.id, request.body);
      },
    );
    app.get(
      '/api/v1/machines/:id/credentials/:account/history',
      {
        schema: {
          summary: 'The escrowed versions of the password, newest first (current, pending, kept history) — never a password',
          tags: ['credentials'],
          params: AccountParams,
          response: {
            200: Type.Array(Type.Object({ id: Type.String(), state: Type.String(), createdAt: Timestamp, appliedAt: Nullable(Timestamp), retiredAt: Nullable(Timestamp) })),
            ...errors,
          },
        },
      },
      async (request) => credentialHistory(ctx, requireActor(request), request.params.id, request.params.account),
    );
    app.post(
      '/api/v1/machines/:id/credentials/:account/rotate',
      {
        schema: {
          summary: 'Rotate the password now (credentials.manage)',
          tags: ['credentials'],
          params: AccountParams,
          response: { 202: Type.Object({ jobId: Type.String(), dueAt: Timestamp }), ...errors },
        },
      },
      async (request, reply) => {
        reply.code(202);
        return rotateCredential(ctx, requireActor(request), request.params.id, request.params.account);
      },
    );
  };
