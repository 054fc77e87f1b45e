import { baseUrl, type ServerSpec } from './server-process.ts';

/** The REST calls of the rotation benchmark (bearer token of the bench's admin; loopback only). */
export class Api {
  constructor(
    private readonly spec: ServerSpec,
    private readonly token: string,
  ) {}

  async call<T = any>(method: string, path: string, body?: unknown, timeoutMs = 120_000): Promise<T> {
    const res = await fetch(`${baseUrl(this.spec)}${path}`, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), authorization: `Bearer ${this.token}` },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return (text ? JSON.parse(text) : null) as T;
  }

  machines(): Promise<{ id: string; siteId: string; kind: string | null; os: string | null; online: boolean }[]> {
    return this.call<{ machines: { id: string; siteId: string; kind: string | null; os: string | null; online: boolean }[] }>('GET', '/api/v1/machines').then((b) => b.machines);
  }

  /** Desktop credentials on, characters mode, 20 long, all classes: what the setup asks for. */
  enableDesktopCredentials(siteId: string): Promise<unknown> {
    return this.call('PUT', `/api/v1/sites/${siteId}/credential-policy`, {
      server: { enabled: false, username: 'NOC_HelpDesk', nocAccessLevel: 0, serviceLevel: 'standard' },
      desktop: { enabled: true },
      rotation: { mode: 'characters', length: 20, classes: ['lower', 'upper', 'digit', 'symbol'], passphraseWords: 6, maxAgeDays: 30, rotateAfterUseMinutes: 60, historyDepth: 5, rotateOnAccessRevoked: true },
    }, 600_000);
  }

  setupState(siteId: string): Promise<string> {
    return this.call<{ setup: { state: string } }>('GET', `/api/v1/sites/${siteId}/credential-policy`).then((p) => p.setup.state);
  }

  credentialStatus(siteId: string): Promise<{ desktop: { status: string | null }; machines: { status: string; lastRotatedAt: string | null }[] }> {
    return this.call('GET', `/api/v1/sites/${siteId}/credential-status`, undefined, 600_000);
  }

  /** POST …/credentials/remote_support/rotate for every machine, `concurrency` in flight; returns per-call ms. */
  /** One request for the whole site (POST /api/v1/sites/:id/credentials/rotate): the bulk path. */
  rotateSite(siteId: string): Promise<{ queued: number }> {
    return this.call('POST', `/api/v1/sites/${siteId}/credentials/rotate`, { purpose: 'remote_support', reason: 'rotation benchmark' }, 600_000);
  }

  async rotateAll(machineIds: string[], concurrency: number, deadline: number): Promise<{ latencies: number[]; failures: number; firstFailures: string[] }> {
    const latencies: number[] = [];
    const firstFailures: string[] = [];
    let failures = 0;
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(concurrency, machineIds.length) }, async () => {
        while (next < machineIds.length && Date.now() < deadline) {
          const id = machineIds[next++];
          const t0 = performance.now();
          try {
            await this.call('POST', `/api/v1/machines/${id}/credentials/remote_support/rotate`, undefined, 60_000);
            latencies.push(performance.now() - t0);
          } catch (error) {
            if (failures++ < 5) firstFailures.push((error as Error).message.slice(0, 200));
          }
        }
      }),
    );
    return { latencies: latencies.sort((a, b) => a - b), failures, firstFailures };
  }
}

/** The q-quantile of sorted values (nearest rank). */
export const quantile = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] : NaN);

export const spread = (values: number[], digits = 0) => {
  const sorted = [...values].sort((a, b) => a - b);
  const f = (v: number) => (Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a');
  return `${f(quantile(sorted, 0.5))} / ${f(quantile(sorted, 0.99))} / ${f(sorted.at(-1) ?? NaN)} ms`;
};
