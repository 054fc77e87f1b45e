import type { CliCredentials } from './cli-credentials.ts';

/** A refusal from the server, with its error code and message (what the CLI prints). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** JSON calls to the REST API with the CLI's bearer token. */
export async function api<T>(credentials: CliCredentials | { serverUrl: string; token: null }, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(new URL(path, credentials.serverUrl), {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(credentials.token ? { authorization: `Bearer ${credentials.token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const parsed = text ? (JSON.parse(text) as { error?: { code: string; message: string } }) : {};
  if (!res.ok) throw new ApiError(res.status, parsed.error?.code ?? 'error', parsed.error?.message ?? `HTTP ${res.status}`);
  return parsed as T;
}
