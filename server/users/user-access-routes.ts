import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../context.ts';
import { requireActor } from '../http/authenticate.ts';
import { ErrorBody, Nullable, Timestamp, Uuid } from '../http/schemas.ts';
import * as access from './user-access-service.ts';

const ClientAccess = Type.Object({ clientId: Uuid, clientName: Type.String(), grantedBy: Nullable(Uuid), grantedAt: Timestamp });
const SiteAccess = Type.Object({
  siteId: Uuid,
  siteName: Type.String(),
  clientId: Uuid,
  clientName: Type.String(),
  resourceAccess: Type.String(),
  machines: Type.Array(Type.Object({ id: Uuid, hostname: Nullable(Type.String()) })),
  grantedBy: Nullable(Uuid),
  grantedAt: Timestamp,
});
const Access = Type.Object({
  userId: Uuid,
  kind: Type.String(),
  clientAccess: Type.Array(ClientAccess),
  siteAccess: Type.Array(SiteAccess),
  assignments: Type.Object({ total: Type.Integer(), active: Type.Integer(), expired: Type.Integer() }),
});
const SiteParams = Type.Object({ id: Uuid, siteId: Uuid });
const ClientParams = Type.Object({ id: Uuid, clientId: Uuid });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };

export const userAccessRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/v1/users/:id/access',
      {
        schema: {
          summary: "A user's client access, site access (with listed machines) and assignment counts",
          tags: ['users'],
          params: Type.Object({ id: Uuid }),
          response: { 200: Access, ...errors },
        },
      },
      async (request) => access.getAccess(ctx, requireActor(request), request.params.id),
    );
    app.put(
      '/api/v1/users/:id/site-access/:siteId',
      {
        schema: {
          summary: "Give or replace a user's access to a site: all desktops and servers, or limited to listed machines",
          tags: ['users'],
          params: SiteParams,
          body: Type.Object(
            {
              resourceAccess: Type.Unsafe<'all' | 'limited'>({ type: 'string', enum: ['all', 'limited'] }),
              machineIds: Type.Optional(Type.Array(Uuid, { maxItems: 10_000 })),
            },
            { additionalProperties: false },
          ),
          response: { 200: SiteAccess, ...errors },
        },
      },
      async (request) => access.putSiteAccess(ctx, requireActor(request), request.params.id, request.params.siteId, request.body),
    );
    app.delete(
      '/api/v1/users/:id/site-access/:siteId',
      { schema: { summary: "Remove a user's access to a site", tags: ['users'], params: SiteParams, response: { 204: Type.Null(), ...errors } } },
      async (request, reply) => {
        await access.deleteSiteAccess(ctx, requireActor(request), request.params.id, request.params.siteId);
        return reply.status(204).send(null);
      },
    );
    app.put(
      '/api/v1/users/:id/client-access/:clientId',
      {
        schema: {
          summary: 'Give a technician access to every site of a client, present and future',
          tags: ['users'],
          params: ClientParams,
          response: { 200: ClientAccess, ...errors },
        },
      },
      async (request) => access.putClientAccess(ctx, requireActor(request), request.params.id, request.params.clientId),
    );
    app.delete(
      '/api/v1/users/:id/client-access/:clientId',
      { schema: { summary: "Remove a technician's client access", tags: ['users'], params: ClientParams, response: { 204: Type.Null(), ...errors } } },
      async (request, reply) => {
        await access.deleteClientAccess(ctx, requireActor(request), request.params.id, request.params.clientId);
        return reply.status(204).send(null);
      },
    );
  };
