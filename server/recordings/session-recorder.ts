import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Logger } from 'pino';
import type { Db } from '../db/open.ts';
import { AsciicastWriter } from './asciicast.ts';
import { appendChunk, finishRecording, insertRecording } from './recording-store.ts';

const gzipAsync = promisify(gzip);

/** Uncompressed cast text gathered before it is compressed and stored as one chunk. */
const CHUNK_BYTES = 256 * 1024;
/** The longest a recorded event waits in memory before it is stored. */
const FLUSH_INTERVAL_MS = 2000;
/** Cast text not yet stored above which the relay stops reading the agent (the database is behind). */
export const RECORDER_HIGH_WATER = 8 * 1024 * 1024;

export interface RecordingMeta {
  sessionId: string;
  machineId: string;
  hostname: string | null;
  siteId: string;
  clientId: string;
  userId: string;
  userName: string | null;
  cols: number;
  rows: number;
  recordInput: boolean;
}

/**
 * Records one session server-side as asciicast v2, whatever the agent or the consoles do: every output byte the
 * relay forwards, resizes, and keystrokes when the site's policy says so. Text is gathered into chunks, gzipped off
 * the event loop and appended in order; the relay counts `backlog` in its flow control, so a slow database slows the
 * session rather than growing memory. If the recording cannot be stored the session ends: no unrecorded sessions.
 */
export class SessionRecorder {
  private readonly writer: AsciicastWriter;
  private pending: string[] = [];
  /** Cast bytes in `pending`, and bytes handed to gzip and the database but not yet stored. */
  private pendingBytes = 0;
  private storingBytes = 0;
  private storing: Promise<void>;
  private seq = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly participants: { userId: string; name: string; role: string; joinedAt: string }[] = [];
  private failed = false;
  /** Called after each chunk is stored (the relay re-opens its flow when the backlog drains). */
  onStored: (() => void) | null = null;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly meta: RecordingMeta,
    /** Called once if the recording cannot be stored: a session that must be recorded is then ended. */
    private readonly onFailure: (reason: string) => void,
    startedAt = Date.now(),
  ) {
    this.writer = new AsciicastWriter(startedAt);
    this.add(this.writer.header({ cols: meta.cols, rows: meta.rows, title: `${meta.userName ?? 'session'} on ${meta.hostname ?? meta.machineId}` }));
    this.storing = insertRecording(db, {
      id: meta.sessionId,
      machineId: meta.machineId,
      hostname: meta.hostname,
      siteId: meta.siteId,
      clientId: meta.clientId,
      userId: meta.userId,
      userName: meta.userName,
      startedAt: new Date(startedAt),
      cols: meta.cols,
      rows: meta.rows,
      inputRecorded: meta.recordInput,
    }).catch((error: unknown) => this.fail(error));
    this.timer = setInterval(() => this.flush(), FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  /** Cast text held in memory, not yet stored. */
  get backlog(): number {
    return this.pendingBytes + this.storingBytes;
  }

  output(bytes: Uint8Array): void {
    this.add(this.writer.outputEvent(bytes));
  }

  input(bytes: Uint8Array): void {
    if (this.meta.recordInput) this.add(this.writer.inputEvent(bytes));
  }

  resize(cols: number, rows: number): void {
    this.add(this.writer.resizeEvent(cols, rows));
  }

  joined(participant: { userId: string; name: string; role: string }): void {
    this.participants.push({ ...participant, joinedAt: new Date().toISOString() });
  }

  /** Stores what is left and closes the index row; resolves when everything is written. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.flush();
    const participants = [...this.participants];
    this.storing = this.storing.then(() => (this.failed ? undefined : finishRecording(this.db, this.meta.sessionId, participants))).catch((error: unknown) => this.fail(error));
    await this.storing;
  }

  private add(text: string): void {
    if (!text) return;
    this.pending.push(text);
    this.pendingBytes += Buffer.byteLength(text);
    if (this.pendingBytes >= CHUNK_BYTES) this.flush();
  }

  private flush(): void {
    if (!this.pending.length) return;
    const text = Buffer.from(this.pending.join(''), 'utf8');
    this.pending = [];
    this.pendingBytes = 0;
    this.storingBytes += text.length;
    const seq = this.seq++;
    const participants = [...this.participants];
    // One chunk at a time, compressed then stored: compressing ahead of the stores was measured to cost the event
    // loop more (control-probe p99 while flooding, test/bench/relay.ts) than it gained. The bytes stay counted in the
    // backlog until they are stored.
    this.storing = this.storing
      .then(async () => {
        if (this.failed) return;
        await appendChunk(this.db, this.meta.sessionId, { seq, data: await gzipAsync(text), bytes: text.length }, participants);
      })
      .catch((error: unknown) => this.fail(error))
      .finally(() => {
        this.storingBytes -= text.length;
        this.onStored?.();
      });
  }

  private fail(error: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.log.error({ err: error, sessionId: this.meta.sessionId }, 'session recording could not be stored');
    this.onFailure('the session recording could not be stored');
  }
}
