import type { LoggedInUser } from './extras.ts';

/**
 * Parses `quser` (query user) output:
 *
 *    USERNAME              SESSIONNAME        ID  STATE   IDLE TIME  LOGON TIME
 *   >jsmith                console             1  Active      none   10/17/2023 8:41 AM
 *    adoe                                      3  Disc         1:05  10/17/2023 9:02 AM
 *
 * Fixed-width columns, a ">" marking the caller's own session, an empty SESSIONNAME for disconnected sessions,
 * and user names that may contain spaces ("Remote Support"). So the user name is cut by the header's column
 * position, not split on spaces. Headers are localized, so the position comes from the header's second word rather
 * than from the literal "SESSIONNAME".
 */
export function parseQuserOutput(text: string): LoggedInUser[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim());
  if (lines.length === 0) return [];
  const header = lines[0];
  const sessionCol = /^\s*\S+\s+/.exec(header)?.[0].length;
  if (!sessionCol) throw new Error(`unrecognised quser header: ${JSON.stringify(header)}`);

  return lines.slice(1).map((line) => {
    const name = line.slice(1, sessionCol).trim();
    const tokens = line.slice(sessionCol).trim().split(/\s+/);
    // Disconnected sessions have no session name: the first token is then the numeric session id.
    const sessionName = /^\d+$/.test(tokens[0] ?? '') ? null : tokens.shift() ?? null;
    // Remaining: id, state, idle time, logon date, logon time [AM|PM].
    if (!name || tokens.length < 4) throw new Error(`unrecognised quser line: ${JSON.stringify(line)}`);
    return { name, terminal: sessionName, host: null, since: parseLogonTime(tokens.slice(3).join(' ')) };
  });
}

/**
 * quser prints the logon time in the system locale's short format, which is ambiguous ("05/06/2023" is May 6 in
 * en-US and 5 June in en-GB). We only convert forms that are not: year-first dates, and month/day/year with an
 * AM/PM marker (the 12-hour clock is the en-US convention). Anything else is reported as unknown (null) rather
 * than as a possibly wrong date.
 */
export function parseLogonTime(text: string): string | null {
  const yearFirst = /^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2}) (\d{1,2}):(\d{2})$/.exec(text);
  if (yearFirst) {
    const [, y, mo, d, h, mi] = yearFirst.map(Number);
    return toIso(y, mo, d, h, mi);
  }
  const us = /^(\d{1,2})\/(\d{1,2})\/(\d{4}) (\d{1,2}):(\d{2}) ([AP]M)$/i.exec(text);
  if (us) {
    const [mo, d, y, h12, mi] = us.slice(1, 6).map(Number);
    const pm = us[6].toUpperCase() === 'PM';
    return toIso(y, mo, d, (h12 % 12) + (pm ? 12 : 0), mi);
  }
  return null;
}

function toIso(year: number, month: number, day: number, hour: number, minute: number): string | null {
  const date = new Date(year, month - 1, day, hour, minute);
  const valid = !Number.isNaN(date.getTime()) && date.getMonth() === month - 1 && date.getDate() === day;
  return valid ? date.toISOString() : null;
}
