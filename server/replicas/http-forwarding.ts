import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, Unavailable } from '../errors.ts';
import { headerValue } from '../http/authenticate.ts';

/** A live session relayed by another replica: the request is carried there (see forwardToReplica). */
export class RelayedElsewhere extends DomainError {
  constructor(readonly relayUrl: string) {
    super(409, 'relayed_elsewhere', 'this session is relayed by another server replica');
  }
}

const REQUEST_HEADERS = ['authorization', 'cookie', 'origin', 'x-csrf-token', 'content-type', 'content-length', 'x-content-sha256', 'user-agent'];
const RESPONSE_HEADERS = ['content-type', 'content-length', 'content-disposition', 'x-file-size'];

/**
 * Carries a REST request to the replica relaying its session (a file transfer must reach the agent's link): the
 * caller's own credentials go along, so that replica authenticates, authorizes and audits it as its own; the body
 * streams through both ways, never buffered here.
 */
export async function forwardToReplica(request: FastifyRequest, reply: FastifyReply, relayUrl: string): Promise<FastifyReply> {
  const headers: Record<string, string> = { 'x-forwarded-for': request.ip };
  for (const name of REQUEST_HEADERS) {
    const value = headerValue(request.headers[name]);
    if (value) headers[name] = value;
  }
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD' && request.body !== undefined;
  let response: Response;
  try {
    response = await fetch(new URL(request.url, relayUrl), {
      method: request.method,
      headers,
      ...(hasBody ? { body: request.body as AsyncIterable<Uint8Array> as unknown as BodyInit, duplex: 'half' } : {}),
    } as RequestInit);
  } catch (error) {
    throw new Unavailable(`the replica relaying this session (${relayUrl}) cannot be reached: ${(error as Error).message}`, 'relay_unreachable');
  }
  reply.status(response.status);
  for (const name of RESPONSE_HEADERS) {
    const value = response.headers.get(name);
    if (value) reply.header(name, value);
  }
  return reply.send(response.body ? Readable.fromWeb(response.body as import('node:stream/web').ReadableStream) : null);
}
