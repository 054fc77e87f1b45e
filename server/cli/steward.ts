import { parseArgs } from 'node:util';
import { STEWARD_VERSION } from '../../protocol/version.ts';
import { api, ApiError } from './cli-api.ts';
import { loadCredentials, saveCredentials } from './cli-credentials.ts';
import { promptSecret } from './prompt.ts';
import { attachTerminal } from './terminal-attach.ts';

/*
 * The technicians' command line: `npm run steward -- <command>`. Secrets never go in argv: the password and the
 * MFA code are prompted (or read from stdin), the token is kept in a 0600 file or taken from $STEWARD_TOKEN.
 */
const USAGE = `steward ${STEWARD_VERSION} — technician command line

Usage:
  steward login --server <url> --email <email>   sign in (password and MFA code are prompted)
  steward machines                              the machines you can see
  steward connect <machine>                     open a terminal on a machine (hostname or id), like ssh
  steward join <session-id> [--observe]         attach to a live session (as an observer with --observe)
  steward sessions                              live sessions you can see

Environment: STEWARD_URL and STEWARD_TOKEN (an API token) instead of 'steward login'.
'connect' and 'join' exit with the remote shell's exit code, or 255 when the session could not run.
`;

interface Machine {
  id: string;
  hostname: string | null;
  online: boolean;
  kind: string | null;
  osName: string | null;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { server: { type: 'string' }, email: { type: 'string' }, observe: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
  });
  const [command, target] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  switch (command) {
    case 'login':
      return login(values.server, values.email);
    case 'machines': {
      const { machines } = await api<{ machines: Machine[] }>(loadCredentials(), 'GET', '/api/v1/machines');
      for (const m of machines) process.stdout.write(`${m.id}  ${(m.hostname ?? '?').padEnd(24)} ${(m.online ? 'online' : 'offline').padEnd(8)} ${m.kind ?? ''} ${m.osName ?? ''}\n`);
      return 0;
    }
    case 'sessions': {
      const { sessions } = await api<{ sessions: { id: string; hostname: string | null; userName: string | null; status: string; startedAt: string | null }[] }>(
        loadCredentials(),
        'GET',
        '/api/v1/sessions?live=true',
      );
      for (const s of sessions) process.stdout.write(`${s.id}  ${(s.hostname ?? '?').padEnd(24)} ${(s.userName ?? '?').padEnd(20)} ${s.status} since ${s.startedAt ?? '-'}\n`);
      return 0;
    }
    case 'connect':
      if (!target) throw new Error('connect needs a machine (hostname or id)');
      return connect(target);
    case 'join':
      if (!target) throw new Error('join needs a session id');
      return attach(`/api/v1/sessions/${encodeURIComponent(target)}/stream`, values.observe ?? false);
    default:
      throw new Error(`unknown command '${command}'\n\n${USAGE}`);
  }
}

async function login(server: string | undefined, email: string | undefined): Promise<number> {
  if (!server || !email) throw new Error('login needs --server and --email');
  const password = await promptSecret(`Password for ${email}: `);
  const anonymous = { serverUrl: server, token: null };
  let result: { token: string };
  try {
    result = await api(anonymous, 'POST', '/api/v1/auth/login', { email, password, session: 'token' });
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== 'mfa_required') throw error;
    const totpCode = await promptSecret('Authenticator code: ');
    result = await api(anonymous, 'POST', '/api/v1/auth/login', { email, password, totpCode, session: 'token' });
  }
  const file = saveCredentials({ serverUrl: server, token: result.token });
  process.stderr.write(`signed in; token saved in ${file}\n`);
  return 0;
}

/** Finds the machine by id or hostname (case-insensitive); an ambiguous name lists the candidates. */
async function resolveMachine(target: string): Promise<Machine> {
  const { machines } = await api<{ machines: Machine[] }>(loadCredentials(), 'GET', '/api/v1/machines');
  const byId = machines.find((m) => m.id === target);
  if (byId) return byId;
  const named = machines.filter((m) => m.hostname?.toLowerCase() === target.toLowerCase());
  if (named.length === 1) return named[0];
  if (!named.length) throw new Error(`no machine you can see is called '${target}'`);
  throw new Error(`'${target}' is ambiguous: ${named.map((m) => m.id).join(', ')}; use the id`);
}

async function connect(target: string): Promise<number> {
  const machine = await resolveMachine(target);
  const credentials = loadCredentials();
  const size = { cols: process.stdout.columns || 80, rows: process.stdout.rows || 24 };
  let session = await api<{ id: string; status: string; streamPath: string; decisionReason: string | null }>(credentials, 'POST', `/api/v1/machines/${machine.id}/sessions`, {
    kind: 'terminal',
    ...size,
  });
  if (session.status === 'awaiting_approval') {
    process.stderr.write(`[steward] this server's site requires approval: request ${session.id} is waiting for an approver...\n`);
    while (session.status === 'awaiting_approval') {
      await new Promise((resolve) => setTimeout(resolve, 2000));
      session = await api(credentials, 'GET', `/api/v1/sessions/${session.id}`);
    }
    if (session.status !== 'approved') throw new Error(`the request was ${session.status}${session.decisionReason ? `: ${session.decisionReason}` : ''}`);
    process.stderr.write('[steward] approved\n');
    session = await api(credentials, 'POST', `/api/v1/sessions/${session.id}/start`, size);
  }
  return attach(session.streamPath, false);
}

async function attach(streamPath: string, observe: boolean): Promise<number> {
  const outcome = await attachTerminal(loadCredentials(), streamPath, { observe, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });
  if (outcome.exitCode === null) process.stderr.write(`\r\n[steward] ${outcome.reason}\r\n`);
  return outcome.exitCode ?? 255;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`steward: ${error.message}\n`);
    process.exit(error instanceof ApiError ? 1 : 2);
  },
);
