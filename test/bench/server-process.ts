import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import { Child, sleep, startTsChild, until } from './proc.ts';

/** The Steward control server as a child process (`node --import tsx server/main.ts`), plus its REST setup. */
export interface ServerSpec {
  port: number;
  dataDir: string;
  databaseUrl: string | null;
  heartbeatSeconds: number;
  /** Directory for `node --cpu-prof` output, or null. */
  cpuProfDir: string | null;
  /** Listen backlog forced through listen-backlog.mjs (experiment), or null for the server's own. */
  backlog?: number | null;
  /** PGlite only: a file prefix for pglite-trace.mjs (time per SQL statement), or null. */
  dbTracePrefix?: string | null;
}

/** The statements that cost the most PGlite time in one server process (written by pglite-trace.mjs at exit). */
export function readDbTrace(file: string): string[] {
  if (!fs.existsSync(file)) return [];
  const stats = Object.entries(JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, { calls: number; ms: number }>);
  const total = stats.reduce((a, [, s]) => a + s.ms, 0);
  return [
    `PGlite time ${Math.round(total)} ms in ${stats.reduce((a, [, s]) => a + s.calls, 0)} calls; top statements:`,
    ...stats
      .sort((a, b) => b[1].ms - a[1].ms)
      .slice(0, 8)
      .map(([sql, s]) => `  ${Math.round(s.ms).toString().padStart(7)} ms ${String(s.calls).padStart(7)} calls ${(s.ms / s.calls).toFixed(2).padStart(7)} ms/call  ${sql}`),
  ];
}

export const baseUrl = (spec: ServerSpec) => `http://127.0.0.1:${spec.port}`;

export async function startSteward(spec: ServerSpec, limitMs: number): Promise<{ child: Child; readyMs: number; traceFile: string | null }> {
  const env: Record<string, string | undefined> = { ...process.env };
  delete env.DATABASE_URL;
  Object.assign(env, {
    HOST: '127.0.0.1',
    PORT: String(spec.port),
    STEWARD_DATA_DIR: spec.dataDir,
    STEWARD_HEARTBEAT_SECONDS: String(spec.heartbeatSeconds),
    STEWARD_LOG_LEVEL: 'warn',
    ...(spec.databaseUrl ? { DATABASE_URL: spec.databaseUrl } : {}),
    ...(spec.backlog ? { BENCH_LISTEN_BACKLOG: String(spec.backlog) } : {}),
  });
  let traceFile: string | null = null;
  if (spec.dbTracePrefix) env.BENCH_PGLITE_TRACE = traceFile = `${spec.dbTracePrefix}-${Date.now()}.json`;
  // The inspector (loopback, random port) is used only to force a GC before memory readings.
  const nodeArgs = ['--inspect=127.0.0.1:0', ...(spec.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${spec.cpuProfDir}`] : [])];
  if (spec.backlog) nodeArgs.push('--import', './test/bench/listen-backlog.mjs');
  if (traceFile) nodeArgs.push('--import', './test/bench/pglite-trace.mjs');
  const child = startTsChild('steward-server', 'server/main.ts', env, nodeArgs);
  const readyMs = await until('server start (GET /healthz = 200)', limitMs, async () => {
    if (child.exitCode !== undefined) throw new Error(`server exited with ${child.exitCode}:\n${child.tail.join('\n')}`);
    try {
      return (await fetch(`${baseUrl(spec)}/healthz`)).status === 200 && child.inspectorUrl !== null;
    } catch {
      return false;
    }
  });
  return { child, readyMs, traceFile };
}

async function call(url: string, method: string, body?: unknown, token?: string): Promise<any> {
  const res = await fetch(url, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${url}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

/** First-time setup with the token from <dataDir>/setup-token, login, one client/site and one enrollment token. */
export async function setupTenant(spec: ServerSpec, maxUses: number): Promise<{ apiToken: string; enrollmentToken: string }> {
  const url = baseUrl(spec);
  const setupToken = fs.readFileSync(path.join(spec.dataDir, 'setup-token'), 'utf8').trim();
  const admin = { email: 'bench@example.test', name: 'Bench Admin', password: 'bench password long enough' };
  await call(`${url}/api/v1/setup`, 'POST', { setupToken, ...admin });
  const { token } = await call(`${url}/api/v1/auth/login`, 'POST', { email: admin.email, password: admin.password });
  const client = await call(`${url}/api/v1/clients`, 'POST', { name: 'Bench Client' }, token);
  const site = await call(`${url}/api/v1/clients/${client.id}/sites`, 'POST', { name: 'Bench Site' }, token);
  const enrollment = await call(`${url}/api/v1/sites/${site.id}/enrollment-tokens`, 'POST', { expiresInHours: 24, maxUses }, token);
  return { apiToken: token, enrollmentToken: enrollment.token };
}

/** The server's view: how many machines it lists as online (GET /api/v1/machines?online=true). */
export async function restOnlineCount(spec: ServerSpec, apiToken: string): Promise<number> {
  const body = await call(`${baseUrl(spec)}/api/v1/machines?online=true`, 'GET', undefined, apiToken);
  return (body.machines as unknown[]).length;
}

/** A throwaway database `steward_bench_<random>` on the (loopback) PostgreSQL server of `adminUrl`. */
export async function createBenchDatabase(adminUrl: string): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const admin = new URL(adminUrl);
  if (!/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(admin.hostname)) throw new Error(`refusing non-loopback PostgreSQL host ${admin.hostname}`);
  const name = `steward_bench_${randomBytes(5).toString('hex')}`;
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`create database ${name}`);
  } finally {
    await sql.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    name,
    async drop() {
      if (dropped) return;
      dropped = true;
      const s = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await s.unsafe(`drop database if exists ${name} with (force)`).finally(() => s.end());
    },
  };
}

/** Direct count on PostgreSQL (not possible on PGlite: only the server may open its directory). */
export async function pgOnlineCount(databaseUrl: string): Promise<number> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ n: string }[]>`select count(*)::text as n from machines where online`;
    return Number(row.n);
  } finally {
    await sql.end();
  }
}

/** Waits until the process's RSS stops moving (±1 % over 1 s) or `maxMs` passes; returns the last RSS (KB). */
export async function settledRss(read: () => number, maxMs: number): Promise<number> {
  const deadline = Date.now() + maxMs;
  let last = read();
  while (Date.now() < deadline) {
    await sleep(1000);
    const now = read();
    if (Math.abs(now - last) <= last * 0.01) return now;
    last = now;
  }
  return last;
}
