import type { TestServer } from './server.ts';
import { ADMIN } from './server.ts';

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** A small REST client for tests: JSON in, JSON out, optional bearer token. */
export function apiClient(baseUrl: string, token?: string) {
  async function call<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
    const res = await fetch(baseUrl + path, {
      method,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON: keep the text */
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }
  return {
    get: <T = any>(path: string) => call<T>('GET', path),
    post: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) => call<T>('POST', path, body ?? {}, headers),
    put: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) => call<T>('PUT', path, body ?? {}, headers),
    patch: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) => call<T>('PATCH', path, body ?? {}, headers),
    delete: <T = any>(path: string) => call<T>('DELETE', path),
    call,
  };
}

export type Api = ReturnType<typeof apiClient>;

/** Runs first-time setup with the printed token and logs the admin in. */
export async function setupAdmin(server: TestServer): Promise<{ api: Api; token: string; userId: string }> {
  const anon = apiClient(server.url);
  const setup = await anon.post('/api/v1/setup', { setupToken: server.running.setupToken, ...ADMIN });
  if (setup.status !== 201) throw new Error(`setup failed: ${setup.status} ${JSON.stringify(setup.body)}`);
  const login = await anon.post('/api/v1/auth/login', { email: ADMIN.email, password: ADMIN.password });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${JSON.stringify(login.body)}`);
  return { api: apiClient(server.url, login.body.token), token: login.body.token, userId: setup.body.user.id };
}

/** Creates a client, a site and an enrollment token; returns their ids and the token. */
export async function createSiteWithToken(api: Api, opts: { expiresInHours?: number; maxUses?: number; name?: string } = {}) {
  const client = await api.post('/api/v1/clients', { name: opts.name ?? `Client ${Math.random().toString(36).slice(2, 8)}` });
  if (client.status !== 201) throw new Error(`client: ${client.status} ${JSON.stringify(client.body)}`);
  const site = await api.post(`/api/v1/clients/${client.body.id}/sites`, { name: 'Head Office' });
  if (site.status !== 201) throw new Error(`site: ${site.status} ${JSON.stringify(site.body)}`);
  const token = await api.post(`/api/v1/sites/${site.body.id}/enrollment-tokens`, {
    expiresInHours: opts.expiresInHours ?? 1,
    maxUses: opts.maxUses ?? 5,
  });
  if (token.status !== 201) throw new Error(`token: ${token.status} ${JSON.stringify(token.body)}`);
  return { clientId: client.body.id as string, siteId: site.body.id as string, tokenId: token.body.id as string, token: token.body.token as string };
}

/** Polls until `check` returns a truthy value (or throws after `timeoutMs`). */
export async function waitFor<T>(check: () => Promise<T | undefined | null | false>, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

export { ADMIN };
