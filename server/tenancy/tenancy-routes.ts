import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../context.ts';
import { requireActor } from '../http/authenticate.ts';
import { ErrorBody, IdParams, Name, Timestamp, Uuid } from '../http/schemas.ts';
import * as tenancy from './tenancy-service.ts';

const Client = Type.Object({ id: Uuid, name: Type.String(), requireMfa: Type.Boolean(), createdAt: Timestamp });
const Site = Type.Object({ id: Uuid, clientId: Uuid, name: Type.String(), createdAt: Timestamp });
const NameBody = Type.Object({ name: Name }, { additionalProperties: false });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };

export const tenancyRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/api/v1/clients',
      { schema: { summary: 'Create a client', tags: ['tenancy'], body: NameBody, response: { 201: Client, ...errors } } },
      async (request, reply) => reply.status(201).send(await tenancy.createClient(ctx, requireActor(request), request.body.name)),
    );
    app.get(
      '/api/v1/clients',
      { schema: { summary: 'List clients', tags: ['tenancy'], response: { 200: Type.Object({ clients: Type.Array(Client) }), ...errors } } },
      async (request) => ({ clients: await tenancy.listClients(ctx, requireActor(request)) }),
    );
    app.get(
      '/api/v1/clients/:id',
      { schema: { summary: 'Get a client', tags: ['tenancy'], params: IdParams, response: { 200: Client, ...errors } } },
      async (request) => tenancy.getClient(ctx, requireActor(request), request.params.id),
    );
    app.patch(
      '/api/v1/clients/:id',
      {
        schema: {
          summary: "Rename a client or set its MFA policy (every client user of it must use MFA)",
          tags: ['tenancy'],
          params: IdParams,
          body: Type.Object({ name: Type.Optional(Name), requireMfa: Type.Optional(Type.Boolean()) }, { additionalProperties: false, minProperties: 1 }),
          response: { 200: Client, ...errors },
        },
      },
      async (request) => tenancy.updateClient(ctx, requireActor(request), request.params.id, request.body),
    );
    app.post(
      '/api/v1/clients/:id/sites',
      { schema: { summary: 'Create a site of a client', tags: ['tenancy'], params: IdParams, body: NameBody, response: { 201: Site, ...errors } } },
      async (request, reply) =>
        reply.status(201).send(await tenancy.createSite(ctx, requireActor(request), request.params.id, request.body.name)),
    );
    app.get(
      '/api/v1/clients/:id/sites',
      { schema: { summary: 'List the sites of a client', tags: ['tenancy'], params: IdParams, response: { 200: Type.Object({ sites: Type.Array(Site) }), ...errors } } },
      async (request) => ({ sites: await tenancy.listSites(ctx, requireActor(request), request.params.id) }),
    );
  };
