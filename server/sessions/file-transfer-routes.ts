import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../context.ts';
import { requireActor } from '../http/authenticate.ts';
import { ErrorBody, IdParams } from '../http/schemas.ts';
import { forwardToReplica, RelayedElsewhere } from '../replicas/http-forwarding.ts';
import { downloadFile, UPLOAD_LIMIT_BYTES, uploadFile } from './file-transfer-service.ts';

const PathQuery = Type.Object({ path: Type.String({ minLength: 1, maxLength: 4096, description: 'absolute path on the machine' }) }, { additionalProperties: false });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 410: ErrorBody, 413: ErrorBody, 422: ErrorBody };

/** Runs the transfer here, or carries the request to the replica relaying the session. */
async function elsewhere(request: FastifyRequest, reply: FastifyReply, here: () => Promise<FastifyReply>): Promise<FastifyReply> {
  try {
    return await here();
  } catch (error) {
    if (error instanceof RelayedElsewhere) return forwardToReplica(request, reply, error.relayUrl);
    throw error;
  }
}

/** Upload to and download from the machine of a live session (the `files` right). */
export const fileTransferRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    // The body is streamed to the agent as it arrives, never buffered whole.
    app.addContentTypeParser('application/octet-stream', { bodyLimit: UPLOAD_LIMIT_BYTES }, (_request, payload, done) => done(null, payload));
    app.put(
      '/api/v1/sessions/:id/files',
      {
        bodyLimit: UPLOAD_LIMIT_BYTES,
        schema: {
          summary: 'Upload a file to the machine (application/octet-stream; Content-Length and X-Content-SHA256 required)',
          tags: ['sessions'],
          params: IdParams,
          querystring: PathQuery,
          response: { 201: Type.Object({ path: Type.String(), size: Type.Integer(), sha256: Type.String() }), ...errors },
        },
      },
      async (request, reply) =>
        elsewhere(request, reply, async () => {
          const stored = await uploadFile(ctx, requireActor(request), request.params.id, {
            path: request.query.path,
            contentType: request.headers['content-type'],
            contentLength: request.headers['content-length'],
            sha256: request.headers['x-content-sha256'],
            body: request.body as AsyncIterable<Buffer> | undefined,
          });
          return reply.status(201).send(stored);
        }),
    );
    app.get(
      '/api/v1/sessions/:id/files',
      {
        schema: {
          summary: 'Download a file from the machine (streamed; X-File-Size is the size when the agent opened it; the stream fails if the SHA-256 does not match)',
          tags: ['sessions'],
          params: IdParams,
          querystring: PathQuery,
          response: { 200: Type.Any({ description: 'the file' }), ...errors },
        },
      },
      async (request, reply) =>
        elsewhere(request, reply, async () => {
          const file = await downloadFile(ctx, requireActor(request), request.params.id, request.query.path);
          const name = file.path.split(/[\\/]/).pop() ?? 'download';
          return reply
            .header('content-type', 'application/octet-stream')
            .header('x-file-size', String(file.size))
            .header('content-disposition', `attachment; filename="${name.replace(/["\\\r\n]/g, '_')}"`)
            .send(file.stream);
        }),
    );
  };
