import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Actor } from '../access/actor.ts';
import { authenticateToken } from '../auth/auth-service.ts';
import { csrfMatches, CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE } from '../auth/session-cookie.ts';
import type { AppContext } from '../context.ts';
import { Forbidden, Unauthenticated } from '../errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor | null;
  }
}

/**
 * Resolves the caller on every request, before the body is parsed or validated (an anonymous caller learns nothing
 * about a route's schema): `Authorization: Bearer …` (login and API tokens) or the console's session cookie, which
 * additionally needs the CSRF header and a same-origin Origin on anything but GET/HEAD/OPTIONS. Routes then ask the
 * authorizer through their service.
 */
export function installAuthentication(app: FastifyInstance, ctx: AppContext): void {
  app.decorateRequest('actor', null);
  app.addHook('onRequest', async (request) => {
    request.actor = await authenticateRequest(ctx, request);
  });
  // Deny by default: every route needs a signed-in caller unless its schema declares `security: []` (public).
  app.addHook('preValidation', async (request) => {
    if (!request.actor && !request.is404 && !isPublicRoute(request)) throw new Unauthenticated();
  });
}

export function isPublicRoute(request: FastifyRequest): boolean {
  const security = (request.routeOptions.schema as { security?: unknown[] } | undefined)?.security;
  return Array.isArray(security) && security.length === 0;
}

export async function authenticateRequest(ctx: AppContext, request: FastifyRequest): Promise<Actor | null> {
  const header = request.headers.authorization;
  if (header) {
    const match = /^Bearer ([^\s]+)$/i.exec(header);
    if (!match) throw new Unauthenticated('Authorization header must be "Bearer <token>"');
    const actor = await authenticateToken(ctx, match[1], request.ip);
    if (!actor || actor.token.kind === 'console') throw new Unauthenticated('token is invalid, expired or revoked');
    return actor;
  }
  const cookie = request.cookies?.[SESSION_COOKIE];
  // A public route (login, setup) acts for nobody: a dead cookie the browser cannot drop (it is HttpOnly) must not
  // stop it from signing in again, and a live one needs no CSRF check there.
  if (!cookie || isPublicRoute(request)) return null;
  const actor = await authenticateToken(ctx, cookie, request.ip);
  if (!actor || actor.token.kind !== 'console') throw new Unauthenticated('session is invalid, expired or revoked; sign in again');
  if (!SAFE_METHODS.has(request.method)) {
    if (!sameOrigin(request, ctx.config.publicUrl)) throw new Forbidden('cross-origin request refused');
    if (!csrfMatches(cookie, headerValue(request.headers[CSRF_HEADER]))) throw new Forbidden(`missing or wrong ${CSRF_HEADER} header`);
  }
  return actor;
}

/** True when the browser sent no Origin (non-browser clients) or one naming this very host. */
export function sameOrigin(request: FastifyRequest, publicUrl: string): boolean {
  return originAllowed(headerValue(request.headers.origin), request.headers.host, publicUrl);
}

/** The one same-origin rule, for REST and console WebSockets (cross-site WebSocket hijacking) alike. */
export function originAllowed(origin: string | undefined, host: string | undefined, publicUrl: string): boolean {
  if (!origin) return true;
  try {
    const url = new URL(origin);
    // Behind a reverse proxy the Host header may be the backend's: the configured public URL counts as ours too.
    return url.host === host || url.origin === new URL(publicUrl).origin;
  } catch {
    return false;
  }
}

export const headerValue = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

export function requireActor(request: FastifyRequest): Actor {
  if (!request.actor) throw new Unauthenticated();
  return request.actor;
}
