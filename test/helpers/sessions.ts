import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import { expect } from 'vitest';
import { authenticateToken } from '../../server/auth/auth-service.ts';
import { auditEvents, sessionParticipants, sessions } from '../../server/db/schema.ts';
import { enrollAgent, startAgent, TEST_SHELL, type AgentProcess } from './agent-process.ts';
import { createSiteWithToken, setupAdmin, waitFor, type Api } from './api.ts';
import type { TestConsole } from './console.ts';
import type { Backend } from './db.ts';
import { startTestServer, type TestServer } from './server.ts';
import { TEST_PASSWORD } from './users.ts';

/**
 * Fixtures for remote-session tests: one real server, one enrolled real agent process and its machine, shared by a
 * whole test file (enrolling and starting an agent costs seconds; a session costs milliseconds).
 */
export interface SessionWorld {
  server: TestServer;
  admin: Api;
  adminToken: string;
  adminUserId: string;
  /** The id of the admin's bearer token (a session row's owner_token_id). */
  adminTokenId: string;
  agent: AgentProcess;
  machineId: string;
  siteId: string;
  clientId: string;
  /** Stops the agent and starts it again on the same state directory; resolves once it is connected again. */
  restartAgent(): Promise<void>;
  close(): Promise<void>;
}

export async function startSessionWorld(backend: Backend, env: Record<string, string> = {}, agentEnv: Record<string, string> = {}): Promise<SessionWorld> {
  const server = await startTestServer({ backend, env });
  const { api: admin, token: adminToken, userId: adminUserId } = await setupAdmin(server);
  const site = await createSiteWithToken(admin);
  const enrolled = await enrollAgent(server.url, site.token);
  const adminActor = await authenticateToken(server.running.ctx, adminToken, '127.0.0.1');
  const world: SessionWorld = {
    server,
    admin,
    adminToken,
    adminUserId,
    adminTokenId: adminActor!.token.id,
    agent: startAgent(enrolled.stateDir, agentEnv),
    machineId: enrolled.machineId,
    siteId: site.siteId,
    clientId: site.clientId,
    async restartAgent() {
      await world.agent.stop();
      world.agent = startAgent(enrolled.stateDir, agentEnv);
      await world.agent.waitForLog((l) => l.msg === 'connected to server', 20_000);
    },
    async close() {
      await world.agent?.stop();
      await server.close();
    },
  };
  await world.agent.waitForLog((l) => l.msg === 'connected to server', 20_000);
  await waitFor(async () => (await admin.get(`/api/v1/machines/${world.machineId}`)).body.online, 20_000, 'agent online');
  return world;
}

/** Opens a terminal session through the API (201 expected); returns its id. */
export async function openSession(api: Api, machineId: string): Promise<string> {
  const opened = await api.post(`/api/v1/machines/${machineId}/sessions`, { kind: 'terminal', cols: 80, rows: 24 });
  expect(opened.status, JSON.stringify(opened.body)).toBe(201);
  return opened.body.id as string;
}

/** The pid of the shell behind a console, as the shell itself reports it (`$$`). */
export async function shellPid(term: TestConsole): Promise<number> {
  const marker = Math.random().toString(36).slice(2, 8);
  term.type(`echo ${marker}=$$\r`);
  const line = await term.waitForOutput(new RegExp(`${marker}=(\\d+)`));
  return Number(line.slice(marker.length + 1));
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/** Polls until the process is gone (ESRCH); resolves with how long that took, rejects after `timeoutMs`. */
export async function waitForProcessGone(pid: number, timeoutMs = 2000): Promise<number> {
  const start = Date.now();
  while (isAlive(pid)) {
    if (Date.now() - start > timeoutMs) throw new Error(`process ${pid} still alive after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - start;
}

/**
 * The terminal shells running as direct children of a process (the agent spawns each terminal's shell itself): the
 * test shell with a controlling terminal, unlike the `sh -c` the agent runs for inventory commands.
 */
export function shellChildren(parentPid: number): number[] {
  const shell = path.basename(TEST_SHELL);
  let out = '';
  try {
    out = execFileSync('ps', ['--ppid', String(parentPid), '-o', 'pid=,comm=,tty='], { encoding: 'utf8' });
  } catch (error) {
    // ps exits 1 when no process matched: no children at all.
    if ((error as { status?: number }).status !== 1) throw error;
  }
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([pid, comm, tty]) => pid && comm === shell && tty !== '?')
    .map(([pid]) => Number(pid));
}

/** Records when a console's socket closed, with the code and reason (taken as the close event fires). */
export function closeTimeOf(term: TestConsole): Promise<{ at: number; code: number; reason: string }> {
  return term.closed.then((c) => ({ ...c, at: Date.now() }));
}

/** Audit rows written so far (after flushing the queue), filtered by action and optionally target/actor. */
export async function auditRows(server: TestServer, filter: { action: string; targetId?: string; actorId?: string }) {
  await server.running.ctx.audit.flush();
  const conditions = [eq(auditEvents.action, filter.action)];
  if (filter.targetId) conditions.push(eq(auditEvents.targetId, filter.targetId));
  if (filter.actorId) conditions.push(eq(auditEvents.actorId, filter.actorId));
  return server.running.ctx.db.select().from(auditEvents).where(and(...conditions));
}

export async function sessionRow(server: TestServer, id: string) {
  const [row] = await server.running.ctx.db.select().from(sessions).where(eq(sessions.id, id));
  return row ?? null;
}

export async function participantRows(server: TestServer, sessionId: string) {
  return server.running.ctx.db.select().from(sessionParticipants).where(eq(sessionParticipants.sessionId, sessionId));
}

/** Signs in for a console cookie session; returns the `Cookie` header value. */
export async function cookieLogin(server: TestServer, email: string, password = TEST_PASSWORD): Promise<string> {
  const res = await fetch(`${server.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password, session: 'cookie' }),
  });
  expect(res.status).toBe(200);
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('steward_session='));
  if (!cookie) throw new Error('login set no steward_session cookie');
  return cookie.split(';', 1)[0];
}

/** The server's own origin, as a browser on its console pages would send it. */
export const originOf = (server: TestServer) => new URL(server.url).origin;

