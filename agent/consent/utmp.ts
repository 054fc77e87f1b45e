/**
 * The login records in /var/run/utmp: who is logged on, on which tty or X display. Read directly (glibc's
 * `struct utmp`, 384 bytes on x86_64 and aarch64 alike) rather than by parsing `who`, whose text changes with the
 * locale and version. Only live USER_PROCESS records count: a record whose process is gone is a stale left-over.
 */

export interface UtmpLogin {
  pid: number;
  /** tty without /dev/ (`pts/3`, `tty1`) or an X display (`:0`). */
  line: string;
  user: string;
  /** Remote host, or the X display for graphical logins. */
  host: string;
}

const RECORD_BYTES = 384;
const USER_PROCESS = 7;

const text = (record: Buffer, offset: number, length: number) => {
  const field = record.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? length : end).toString('utf8');
};

export function parseUtmp(data: Buffer): UtmpLogin[] {
  const logins: UtmpLogin[] = [];
  for (let at = 0; at + RECORD_BYTES <= data.length; at += RECORD_BYTES) {
    const record = data.subarray(at, at + RECORD_BYTES);
    if (record.readInt16LE(0) !== USER_PROCESS) continue;
    const user = text(record, 44, 32);
    if (!user) continue;
    logins.push({ pid: record.readInt32LE(4), line: text(record, 8, 32), user, host: text(record, 76, 256) });
  }
  return logins;
}
