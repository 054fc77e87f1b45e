import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { InventorySchema } from '../../protocol/inventory.ts';
import type { AppContext } from '../context.ts';
import { requireActor } from '../http/authenticate.ts';
import { ErrorBody, IdParams, Nullable, Timestamp, Uuid } from '../http/schemas.ts';
import * as machines from './machine-service.ts';

const MachineSummary = Type.Object({
  id: Uuid,
  siteId: Uuid,
  clientId: Uuid,
  hostname: Nullable(Type.String()),
  kind: Nullable(Type.String()),
  os: Nullable(Type.String()),
  domainRole: Nullable(Type.String()),
  agentVersion: Nullable(Type.String()),
  online: Type.Boolean(),
  connectedAt: Nullable(Timestamp),
  lastSeenAt: Nullable(Timestamp),
  enrolledAt: Timestamp,
  inventoryAt: Nullable(Timestamp),
  osName: Nullable(Type.String()),
  osRelease: Nullable(Type.String()),
  ipv4: Nullable(Type.Array(Type.String())),
});
const MachineDetail = Type.Composite([
  MachineSummary,
  Type.Object({ lastAddress: Nullable(Type.String()), inventory: Nullable(InventorySchema) }),
]);
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

export const machineRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/v1/machines',
      {
        schema: {
          summary: 'List the machines the caller may see, with presence and an inventory summary',
          tags: ['machines'],
          querystring: Type.Object(
            { siteId: Type.Optional(Uuid), clientId: Type.Optional(Uuid), online: Type.Optional(Type.Boolean()) },
            { additionalProperties: false },
          ),
          response: { 200: Type.Object({ machines: Type.Array(MachineSummary) }), ...errors },
        },
      },
      async (request) => ({ machines: await machines.listMachines(ctx, requireActor(request), request.query) }),
    );
    app.get(
      '/api/v1/machines/:id',
      { schema: { summary: 'A machine with its full current inventory', tags: ['machines'], params: IdParams, response: { 200: MachineDetail, ...errors } } },
      async (request) => machines.getMachine(ctx, requireActor(request), request.params.id),
    );
    app.get(
      '/api/v1/machines/:id/inventory/changes',
      {
        schema: {
          summary: "History of a machine's inventory changes, newest first",
          tags: ['machines'],
          params: IdParams,
          querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }) }, { additionalProperties: false }),
          response: {
            200: Type.Object({ changes: Type.Array(Type.Object({ id: Type.Integer(), at: Timestamp, hash: Type.String(), changes: Type.Unknown() })) }),
            ...errors,
          },
        },
      },
      async (request) => ({ changes: await machines.listInventoryChanges(ctx, requireActor(request), request.params.id, request.query.limit) }),
    );
    app.post(
      '/api/v1/machines/:id/inventory/refresh',
      {
        schema: {
          summary: 'Ask the connected agent for a fresh inventory now',
          tags: ['machines'],
          params: IdParams,
          response: { 200: MachineDetail, ...errors, 502: ErrorBody, 503: ErrorBody },
        },
      },
      async (request) => machines.refreshInventory(ctx, requireActor(request), request.params.id),
    );
  };
