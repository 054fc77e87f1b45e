import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Where `steward login` keeps the server URL and token: a 0600 file in the user's config directory. */
export interface CliCredentials {
  serverUrl: string;
  token: string;
}

export function credentialsFile(env: NodeJS.ProcessEnv = process.env): string {
  // APPDATA is set on Windows only; elsewhere the XDG location.
  const base = env.XDG_CONFIG_HOME || env.APPDATA || path.join(os.homedir(), '.config');
  return path.join(base, 'steward', 'credentials.json');
}

/** $STEWARD_URL + $STEWARD_TOKEN win (scripts, API tokens); else the file `steward login` wrote. Never argv. */
export function loadCredentials(env: NodeJS.ProcessEnv = process.env): CliCredentials {
  if (env.STEWARD_TOKEN) {
    if (!env.STEWARD_URL) throw new Error('STEWARD_TOKEN is set but STEWARD_URL is not');
    return { serverUrl: env.STEWARD_URL, token: env.STEWARD_TOKEN };
  }
  const file = credentialsFile(env);
  if (!fs.existsSync(file)) throw new Error(`not signed in: run 'steward login --server <url> --email <email>' (or set STEWARD_URL and STEWARD_TOKEN)`);
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as CliCredentials;
  if (!parsed.serverUrl || !parsed.token) throw new Error(`${file} is incomplete; sign in again`);
  return parsed;
}

export function saveCredentials(credentials: CliCredentials, env: NodeJS.ProcessEnv = process.env): string {
  const file = credentialsFile(env);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, JSON.stringify(credentials, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(temp, file);
  return file;
}
