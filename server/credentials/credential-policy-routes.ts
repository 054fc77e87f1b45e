import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { CharacterClass } from '../../protocol/credentials.ts';
import type { AppContext } from '../context.ts';
import { requireActor } from '../http/authenticate.ts';
import { ErrorBody, IdParams, Nullable, Timestamp } from '../http/schemas.ts';
import { applyToMySites, getCredentialPolicy, getCredentialSettings, putCredentialPolicy, putCredentialSettings } from './credential-policy-service.ts';

const Server = Type.Object(
  {
    enabled: Type.Boolean(),
    username: Type.String({ minLength: 1, maxLength: 20, default: 'NOC_HelpDesk', description: 'the NOC account name; not Administrator, besadmin, root or backupagent' }),
    nocAccessLevel: Type.Integer({ minimum: 0, maximum: 3, description: '0 = the NOC account is never created' }),
    serviceLevel: Type.String({ minLength: 1, maxLength: 40, description: 'only eligible service levels (credential settings) qualify' }),
  },
  { additionalProperties: false },
);
const Rotation = Type.Object(
  {
    mode: Type.Union([Type.Literal('characters'), Type.Literal('passphrase')], { default: 'characters' }),
    length: Type.Integer({ minimum: 12, maximum: 128, default: 20, description: 'raised to the endpoint policy minimum when that is longer' }),
    classes: Type.Array(CharacterClass, { minItems: 1, maxItems: 4, uniqueItems: true, default: ['lower', 'upper', 'digit', 'symbol'] }),
    passphraseWords: Type.Integer({ minimum: 4, maximum: 12, default: 6 }),
    maxAgeDays: Type.Integer({ minimum: 1, maximum: 365, default: 30 }),
    rotateAfterUseMinutes: Type.Integer({ minimum: 0, maximum: 24 * 60, default: 60, description: 'delay of the rotation after a reveal' }),
    historyDepth: Type.Integer({ minimum: 0, maximum: 24, default: 5, description: 'previous passwords kept in escrow' }),
    rotateOnAccessRevoked: Type.Boolean({ default: true, description: 'rotate a revealed password when its revealer loses access' }),
  },
  { additionalProperties: false },
);
const Policy = Type.Object(
  { server: Server, desktop: Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false }), rotation: Rotation },
  { additionalProperties: false },
);
const PolicyView = Type.Composite([
  Policy,
  Type.Object({
    setup: Type.Object({
      state: Type.Union([Type.Literal('idle'), Type.Literal('in_progress'), Type.Literal('complete')]),
      by: Nullable(Type.String()),
      startedAt: Nullable(Timestamp),
      completedAt: Nullable(Timestamp),
    }),
    updatedAt: Nullable(Timestamp),
  }),
]);
const Settings = Type.Object(
  {
    eligibleServiceLevels: Type.Array(Type.String({ minLength: 1, maxLength: 40 }), { maxItems: 20, uniqueItems: true }),
    desktopEnabledForFutureSites: Type.Boolean(),
  },
  { additionalProperties: false },
);
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };

export const credentialPolicyRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/v1/sites/:id/credential-policy',
      { schema: { summary: "A site's automatic credential policy (defaults when never set) and its setup state", tags: ['credentials'], params: IdParams, response: { 200: PolicyView, ...errors } } },
      async (request) => getCredentialPolicy(ctx, requireActor(request), request.params.id),
    );
    app.put(
      '/api/v1/sites/:id/credential-policy',
      {
        schema: {
          summary: "Set a site's credential policy (credentials.manage); enabling a part starts setup, which locks the settings until it is over",
          tags: ['credentials'],
          params: IdParams,
          body: Policy,
          response: { 200: PolicyView, ...errors },
        },
      },
      async (request) => putCredentialPolicy(ctx, requireActor(request), request.params.id, request.body),
    );
    app.post(
      '/api/v1/credential-policy/apply-to-my-sites',
      {
        schema: {
          summary: 'Apply a policy to every site the caller may manage credentials on (each site keeps its own NOC account name)',
          tags: ['credentials'],
          body: Type.Object({ server: Type.Omit(Server, ['username']), desktop: Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false }), rotation: Rotation }, { additionalProperties: false }),
          response: { 200: Type.Object({ applied: Type.Array(Type.String()), locked: Type.Array(Type.String()) }), ...errors },
        },
      },
      async (request) => applyToMySites(ctx, requireActor(request), request.body),
    );
    app.get(
      '/api/v1/credential-settings',
      { schema: { summary: 'Installation-wide credential settings', tags: ['credentials'], response: { 200: Type.Composite([Settings, Type.Object({ updatedBy: Nullable(Type.String()), updatedAt: Nullable(Timestamp) })]), ...errors } } },
      async (request) => getCredentialSettings(ctx, requireActor(request)),
    );
    app.put(
      '/api/v1/credential-settings',
      {
        schema: {
          summary: 'Set eligible service levels and "enable desktop credentials for future sites" (global roles only)',
          tags: ['credentials'],
          body: Settings,
          response: { 200: Type.Composite([Settings, Type.Object({ updatedBy: Nullable(Type.String()), updatedAt: Nullable(Timestamp) })]), ...errors },
        },
      },
      async (request) => putCredentialSettings(ctx, requireActor(request), request.body),
    );
  };
