/**
 * systemd-logind's view of who is logged on, from `loginctl list-sessions --no-legend` (first column: the session
 * id) and `loginctl show-session ID -p …` (KEY=value lines, documented in loginctl(1) and org.freedesktop.login1(5)).
 */

export interface LogindSession {
  name: string;
  tty: string;
  display: string;
  /** `tty`, `x11`, `wayland`, `mir` or `unspecified`. */
  type: string;
  /** `online`, `active` or `closing`. */
  state: string;
  /** `user`, `greeter`, `lock-screen` or `background`. */
  class: string;
}

const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function parseLoginctlSessionIds(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((id) => SESSION_ID.test(id));
}

export function parseLoginctlSession(stdout: string): LogindSession | null {
  const values = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) values.set(line.slice(0, eq), line.slice(eq + 1).trim());
  }
  const name = values.get('Name');
  if (!name) return null;
  return {
    name,
    tty: values.get('TTY') ?? '',
    display: values.get('Display') ?? '',
    type: values.get('Type') ?? 'unspecified',
    state: values.get('State') ?? '',
    class: values.get('Class') ?? '',
  };
}
