import WebSocket from 'ws';
import { encodeStreamFrame, StreamTag } from '../../protocol/session-stream.ts';

/**
 * The measuring end of a terminal stream: a console on the relay (/api/v1/sessions/:id/stream) or on the baseline's
 * local WebSocket — both carry the same frames (a 0x01 tag, then terminal bytes), so one client measures both.
 * It counts terminal bytes and finds markers without keeping the output, so 100 MB cost no memory here.
 */
export class TermClient {
  /** Terminal bytes received since the socket opened. */
  bytes = 0;
  /** Text messages (joined, participants, ended on the relay). */
  readonly texts: string[] = [];
  readonly closed: Promise<number>;
  private watcher: { marker: Buffer; tail: Buffer; resolve: (at: number) => void } | null = null;
  private nextWaiter: ((at: number) => void) | null = null;
  private firstByteAt: number | null = null;
  private firstWaiter: ((at: number) => void) | null = null;

  private constructor(readonly socket: WebSocket) {
    this.closed = new Promise((resolve) => socket.on('close', (code) => resolve(code)));
    socket.on('message', (data: Buffer, isBinary) => {
      if (!isBinary) return void this.texts.push(data.toString('utf8'));
      if (data[0] !== StreamTag.terminal || data.length < 2) return;
      const at = performance.now();
      this.bytes += data.length - 1;
      if (this.firstByteAt === null) {
        this.firstByteAt = at;
        this.firstWaiter?.(at);
      }
      if (this.nextWaiter) {
        const wake = this.nextWaiter;
        this.nextWaiter = null;
        wake(at);
      }
      if (this.watcher) this.scan(data, at);
    });
  }

  static open(url: string, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<TermClient> {
    const socket = new WebSocket(url, { headers, perMessageDeflate: false });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => (socket.terminate(), reject(new Error(`${url}: not open within ${timeoutMs} ms`))), timeoutMs);
      // Listening from the first byte: the relay flushes the early output (the prompt) right after the upgrade.
      const client = new TermClient(socket);
      socket.once('open', () => (clearTimeout(timer), resolve(client)));
      socket.once('unexpected-response', (_req, res) => (clearTimeout(timer), reject(new Error(`${url}: HTTP ${res.statusCode}`))));
      socket.once('error', (error) => (clearTimeout(timer), reject(error)));
    });
  }

  type(text: string | Buffer): void {
    this.socket.send(encodeStreamFrame(StreamTag.terminal, typeof text === 'string' ? Buffer.from(text, 'utf8') : text));
  }

  /** When the first terminal byte arrived (performance.now()), waiting for it if need be. */
  firstByte(timeoutMs = 10_000): Promise<number> {
    if (this.firstByteAt !== null) return Promise.resolve(this.firstByteAt);
    return this.deadline(new Promise((resolve) => (this.firstWaiter = resolve)), timeoutMs, 'the first terminal byte');
  }

  /** Resolves at the next terminal frame (performance.now()). */
  nextOutput(timeoutMs = 5000): Promise<number> {
    return this.deadline(new Promise((resolve) => (this.nextWaiter = resolve)), timeoutMs, 'an echo');
  }

  /** Resolves when `marker` appears in the output received from now on (performance.now() of that frame). */
  until(marker: string, timeoutMs: number): Promise<number> {
    const watched = new Promise<number>((resolve) => (this.watcher = { marker: Buffer.from(marker, 'latin1'), tail: Buffer.alloc(0), resolve }));
    return this.deadline(watched, timeoutMs, `'${marker}'`).finally(() => (this.watcher = null));
  }

  close(): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close();
    setTimeout(() => this.socket.terminate(), 1000).unref();
  }

  /** Searches the frame, and the seam with the previous frame, without copying the frame. */
  private scan(frame: Buffer, at: number): void {
    const w = this.watcher!;
    const body = frame.subarray(1);
    const seam = Buffer.concat([w.tail, body.subarray(0, w.marker.length - 1)]);
    if (seam.includes(w.marker) || body.includes(w.marker)) {
      this.watcher = null;
      w.resolve(at);
      return;
    }
    const keep = w.marker.length - 1;
    w.tail = Buffer.from(body.length >= keep ? body.subarray(body.length - keep) : Buffer.concat([w.tail, body]).subarray(-keep));
  }

  private deadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms (${this.bytes} bytes received)`)), ms)));
    return Promise.race([promise, late]).finally(() => clearTimeout(timer));
  }
}
