import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../context.ts';
import { requireActor } from '../http/authenticate.ts';
import { ErrorBody, IdParams, Nullable, Timestamp } from '../http/schemas.ts';
import { getSessionPolicy, putSessionPolicy } from './session-policy-service.ts';

const Policy = Type.Object(
  {
    desktopConsent: Type.Union([Type.Literal('none'), Type.Literal('notify'), Type.Literal('require')], {
      description: 'desktops: start unattended, notify the logged-in user, or require their consent',
    }),
    consentWhenNobody: Type.Union([Type.Literal('allow'), Type.Literal('deny')], {
      description: "with consent required and nobody logged on to give it: 'deny' keeps the desktop closed (default), 'allow' lets the session start",
      default: 'deny',
    }),
    serverApproval: Type.Boolean({ description: 'sessions on servers wait for a user with sessions.approve' }),
    approvalMaxMinutes: Type.Integer({ minimum: 5, maximum: 24 * 60, description: 'how long an approved session may last' }),
    runAs: Type.Union([Type.Literal('agent'), Type.Literal('remote_support')], { description: "whose account the shell runs as" }),
    recordInput: Type.Boolean({ description: 'record keystrokes as well as output' }),
  },
  { additionalProperties: false },
);
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

export const sessionPolicyRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/v1/sites/:id/session-policy',
      {
        schema: {
          summary: "A site's remote session policy (defaults when never set)",
          tags: ['sessions'],
          params: IdParams,
          response: { 200: Type.Composite([Policy, Type.Object({ updatedAt: Nullable(Timestamp) })]), ...errors },
        },
      },
      async (request) => getSessionPolicy(ctx, requireActor(request), request.params.id),
    );
    app.put(
      '/api/v1/sites/:id/session-policy',
      {
        schema: {
          summary: "Set a site's remote session policy (tenancy.manage over the site); audited with before and after",
          tags: ['sessions'],
          params: IdParams,
          body: Policy,
          response: { 200: Type.Composite([Policy, Type.Object({ updatedAt: Nullable(Timestamp) })]), ...errors },
        },
      },
      async (request) => putSessionPolicy(ctx, requireActor(request), request.params.id, request.body),
    );
  };
