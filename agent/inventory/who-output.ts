import type { LoggedInUser } from './extras.ts';

/**
 * Parses the output of POSIX `who` (Linux coreutils and macOS/BSD print the same columns: name, line, time,
 * optional "(comment)" holding the remote host or X display).
 *
 * Two time formats occur: "2024-03-01 10:00" (coreutils in most locales) and "Mar  1 10:00" (C locale, macOS).
 * The second has no year, so the year is taken from `now` and moved back one when that would put the login in the
 * future (a login from Dec 31 seen on Jan 1). `who` prints local time; `since` is reported as ISO 8601 UTC.
 */
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const LINE =
  /^(\S+)\s+(\S+)\s+(\d{4}-\d{2}-\d{2} \d{1,2}:\d{2}|[A-Z][a-z]{2}\s+\d{1,2}\s+\d{1,2}:\d{2})(?:\s+\((.*)\))?\s*$/;

export function parseWhoOutput(text: string, now: Date = new Date()): LoggedInUser[] {
  const users: LoggedInUser[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (!line) continue;
    const match = LINE.exec(line);
    if (!match) throw new Error(`unrecognised who line: ${JSON.stringify(line)}`);
    const [, name, terminal, time, comment] = match;
    users.push({
      name,
      terminal,
      host: comment?.trim() || null,
      since: parseWhoTime(time, now),
    });
  }
  return users;
}

function parseWhoTime(text: string, now: Date): string | null {
  const iso = /^(\d{4})-(\d{2})-(\d{2}) (\d{1,2}):(\d{2})$/.exec(text);
  if (iso) {
    const [, y, mo, d, h, mi] = iso.map(Number);
    return localDate(y, mo - 1, d, h, mi);
  }
  const short = /^([A-Z][a-z]{2})\s+(\d{1,2})\s+(\d{1,2}):(\d{2})$/.exec(text);
  if (!short) return null;
  const month = MONTHS.indexOf(short[1]);
  if (month < 0) return null;
  const [d, h, mi] = [Number(short[2]), Number(short[3]), Number(short[4])];
  let year = now.getFullYear();
  const oneDay = 24 * 3600 * 1000;
  if (new Date(year, month, d, h, mi).getTime() > now.getTime() + oneDay) year -= 1;
  return localDate(year, month, d, h, mi);
}

function localDate(year: number, month: number, day: number, hour: number, minute: number): string | null {
  const date = new Date(year, month, day, hour, minute);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** True when a `who` entry is a graphical (X11/Wayland) login: its line or host is a display such as ":0". */
export function isGraphicalLogin(user: LoggedInUser): boolean {
  const display = /^:\d+(\.\d+)?$/;
  return display.test(user.terminal ?? '') || display.test(user.host ?? '');
}
