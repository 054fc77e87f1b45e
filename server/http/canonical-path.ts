import type { FastifyInstance } from 'fastify';

/**
 * Paths are judged before any routing or authentication: a request whose path is not in canonical form (dot
 * segments, empty segments, backslashes, percent-encoded characters that have a plain spelling, or encoded
 * separators) is answered 404. A route is reachable under exactly one spelling, so no alternate path can slip past
 * a check (ScreenConnect CVE-2024-1709 reached its setup wizard through one).
 */
const NON_CANONICAL = /\/\.\.?(\/|$)|\/\/|\\|%(2[ef]|5c|[0-7][0-9a-f])/i;

export function isCanonicalPath(rawUrl: string): boolean {
  // A request target never carries a fragment; the router would cut the path at '#', so refuse it outright.
  if (rawUrl.includes('#')) return false;
  const pathPart = rawUrl.split('?', 1)[0];
  return pathPart.startsWith('/') && !NON_CANONICAL.test(pathPart);
}

export function installCanonicalPathGuard(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    if (!isCanonicalPath(request.raw.url ?? '/')) {
      return reply.status(404).send({ error: { code: 'not_found', message: 'not found' } });
    }
  });
}
