import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../context.ts';
import { requireActor } from '../http/authenticate.ts';
import { ErrorBody, IdParams } from '../http/schemas.ts';
import { RecoveryCode, TotpCode } from './auth-routes.ts';
import * as mfa from './mfa-service.ts';
import { PASSWORD_MAX_LENGTH } from './password.ts';

const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };
const RecoveryCodes = Type.Object({ recoveryCodes: Type.Array(Type.String(), { description: 'shown once; each works once' }) });

export const mfaRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/v1/me/mfa',
      {
        schema: {
          summary: 'MFA status of the caller',
          tags: ['mfa'],
          response: {
            200: Type.Object({ enabled: Type.Boolean(), required: Type.Boolean(), verified: Type.Boolean(), recoveryCodesLeft: Type.Integer() }),
            ...errors,
          },
        },
      },
      async (request) => mfa.mfaStatus(ctx, requireActor(request)),
    );
    app.post(
      '/api/v1/me/mfa/totp',
      {
        schema: {
          summary: 'Start TOTP enrollment: returns the secret, its otpauth:// URI and a QR code (SVG)',
          tags: ['mfa'],
          response: { 200: Type.Object({ secret: Type.String(), otpauthUri: Type.String(), qrSvg: Type.String() }), ...errors },
        },
      },
      async (request) => mfa.startEnrollment(ctx, requireActor(request)),
    );
    app.post(
      '/api/v1/me/mfa/totp/confirm',
      {
        schema: {
          summary: 'Confirm enrollment with a code from the app; returns one-time recovery codes',
          tags: ['mfa'],
          body: Type.Object({ code: TotpCode }, { additionalProperties: false }),
          response: { 200: RecoveryCodes, ...errors },
        },
      },
      async (request) => mfa.confirmEnrollment(ctx, requireActor(request), request.body.code),
    );
    app.post(
      '/api/v1/me/mfa/recovery-codes',
      {
        schema: {
          summary: 'Replace the recovery codes (needs a current code)',
          tags: ['mfa'],
          body: Type.Object({ totpCode: TotpCode }, { additionalProperties: false }),
          response: { 200: RecoveryCodes, ...errors },
        },
      },
      async (request) => mfa.regenerateRecoveryCodes(ctx, requireActor(request), request.body.totpCode),
    );
    app.post(
      '/api/v1/me/mfa/disable',
      {
        schema: {
          summary: 'Turn MFA off (password and a code; refused while a policy requires MFA)',
          tags: ['mfa'],
          body: Type.Object(
            { password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH }), totpCode: Type.Optional(TotpCode), recoveryCode: Type.Optional(RecoveryCode) },
            { additionalProperties: false },
          ),
          response: { 204: Type.Null(), ...errors },
        },
      },
      async (request, reply) => {
        await mfa.disableMfa(ctx, requireActor(request), request.body);
        return reply.status(204).send(null);
      },
    );
    app.post(
      '/api/v1/users/:id/mfa/reset',
      {
        schema: {
          summary: "Reset a user's MFA (lost device): clears it and ends all their sessions",
          tags: ['mfa', 'users'],
          params: IdParams,
          response: { 204: Type.Null(), ...errors },
        },
      },
      async (request, reply) => {
        await mfa.resetMfa(ctx, requireActor(request), request.params.id);
        return reply.status(204).send(null);
      },
    );
  };
