import type { FastifyError, FastifyInstance } from 'fastify';
import type { ErrorObject } from 'ajv';
import { DomainError } from '../errors.ts';
import { describeValidationError } from './validation.ts';

/** The one mapping from errors to HTTP answers: `{error: {code, message}}`, never a stack or SQL. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | DomainError | Error, request, reply) => {
    if (error instanceof DomainError) {
      return reply.status(error.status).headers(error.headers).send({ error: { code: error.code, message: error.message } });
    }
    const fastifyError = error as FastifyError;
    if (fastifyError.validation) {
      const message = describeValidationError(fastifyError.validationContext ?? 'request', fastifyError.validation[0] as ErrorObject);
      return reply.status(400).send({ error: { code: 'invalid', message } });
    }
    const status = fastifyError.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      return reply.status(status).send({ error: { code: codeFor(status), message: fastifyError.message } });
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.status(500).send({ error: { code: 'internal', message: 'internal server error' } });
  });
  app.setNotFoundHandler((_request, reply) => reply.status(404).send({ error: { code: 'not_found', message: 'not found' } }));
}

function codeFor(status: number): string {
  if (status === 413) return 'too_large';
  if (status === 415) return 'unsupported_media_type';
  if (status === 404) return 'not_found';
  return 'invalid';
}
