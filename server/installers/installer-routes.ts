import type { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../context.ts';
import { requireActor } from '../http/authenticate.ts';
import { ErrorBody, Uuid } from '../http/schemas.ts';
import { INSTALLER_OS } from './installer-catalog.ts';
import * as installers from './installer-service.ts';

export const installerRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/v1/sites/:id/installers/:os',
      {
        // Every call mints a token: no implicit HEAD route that would mint one for a response nobody receives.
        exposeHeadRoute: false,
        schema: {
          summary: 'Download the agent installer for a site, with the server URL and a fresh enrollment token inside',
          description:
            'linux: tar.gz with install.sh; linux-deb: tar with the .deb and install.sh; macos-x64, macos-arm64: tar.gz with install.sh; ' +
            'windows: zip with the MSI and install.cmd. Each download mints a new enrollment token (audited as installer.download).',
          tags: ['enrollment'],
          params: Type.Object({ id: Uuid, os: Type.Union(INSTALLER_OS.map((os) => Type.Literal(os))) }),
          querystring: Type.Object(
            {
              expiresInHours: Type.Integer({ minimum: 1, maximum: 720, default: 24 }),
              maxUses: Type.Integer({ minimum: 1, maximum: 10_000, default: 1 }),
            },
            { additionalProperties: false },
          ),
          response: {
            // A file streamed as is, never serialized.
            200: Type.Unsafe<Readable>({ type: 'string', format: 'binary', description: 'The installer (Content-Disposition: attachment)' }),
            400: ErrorBody,
            401: ErrorBody,
            403: ErrorBody,
            404: ErrorBody,
            503: ErrorBody,
          },
        },
      },
      async (request, reply) => {
        const { id, os } = request.params;
        const download = await installers.downloadInstaller(ctx, requireActor(request), id, os, request.query, { protocol: request.protocol, host: request.host });
        return reply
          .type(download.contentType)
          .headers({
            'content-length': String(download.size),
            'content-disposition': `attachment; filename="${download.fileName}"`,
            // It holds a live enrollment token: no cache may keep a copy.
            'cache-control': 'no-store',
            'x-content-type-options': 'nosniff',
          })
          .send(download.stream);
      },
    );
  };
