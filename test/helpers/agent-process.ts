import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const AGENT_MAIN = path.join(REPO_ROOT, 'agent/main.ts');

/** How to start the agent: the source entry point under tsx by default, or a packaged executable. */
export interface AgentCommand {
  file: string;
  args: string[];
  cwd?: string;
}
export const SOURCE_AGENT: AgentCommand = { file: process.execPath, args: ['--import', 'tsx', AGENT_MAIN] };

/** A real agent process (the same entry point as `npm run agent`), run with tsx. */
export interface AgentProcess {
  child: ChildProcess;
  stateDir: string;
  /** stderr JSON log lines, parsed. */
  logs: Record<string, unknown>[];
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<number | null>;
}

export function newStateDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'steward-agent-'));
}

/**
 * Remote terminals in tests run /bin/sh: the host account's login shell reads its interactive profile, and a profile
 * that takes a lock (pyenv's rehash) stalls every later shell for a minute once a test kills one mid-start.
 */
export const TEST_SHELL = '/bin/sh';

/**
 * Test agents read logins from an empty record (/dev/null), never the host's: a consent test must not put a dialog
 * on a developer's own screen. Tests that want logged-on users write their own utmp file.
 */
function agentEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    STEWARD_AGENT_INVENTORY_SECONDS: '2',
    STEWARD_AGENT_LOG_LEVEL: 'debug',
    STEWARD_AGENT_SHELL: TEST_SHELL,
    STEWARD_AGENT_UTMP: '/dev/null',
    ...extra,
  };
}

/** Runs `agent enroll` to completion; resolves with exit code and output. */
export function runAgentCommand(args: string[], env: Record<string, string> = {}, agent = SOURCE_AGENT): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(agent.file, [...agent.args, ...args], { cwd: agent.cwd ?? REPO_ROOT, env: agentEnv(env) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export async function enrollAgent(serverUrl: string, token: string, stateDir = newStateDir(), extraArgs: string[] = [], agent = SOURCE_AGENT) {
  const result = await runAgentCommand(['enroll', '--server', serverUrl, '--token', token, '--state-dir', stateDir, ...extraArgs], {}, agent);
  if (result.code !== 0) throw new Error(`enroll failed (${result.code}): ${result.stderr}`);
  const machineId = JSON.parse(fs.readFileSync(path.join(stateDir, 'agent.json'), 'utf8')).machineId as string;
  return { stateDir, machineId, ...result };
}

export function startAgent(stateDir: string, env: Record<string, string> = {}, extraArgs: string[] = [], agent = SOURCE_AGENT): AgentProcess {
  const child = spawn(agent.file, [...agent.args, 'run', '--state-dir', stateDir, ...extraArgs], {
    cwd: agent.cwd ?? REPO_ROOT,
    env: agentEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const waiters: { match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  let buffer = '';
  child.stderr!.on('data', (d: Buffer) => {
    buffer += d.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const text of lines) {
      if (!text.trim().startsWith('{')) continue;
      const line = JSON.parse(text) as Record<string, unknown>;
      logs.push(line);
      for (const w of [...waiters]) if (w.match(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    stateDir,
    logs,
    waitForLog(match, timeoutMs = 30_000) {
      const found = logs.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`agent log line not seen within ${timeoutMs} ms; last lines: ${JSON.stringify(logs.slice(-5))}`)), timeoutMs);
        waiters.push({ match, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      });
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
