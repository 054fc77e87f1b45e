import type { IPty } from 'node-pty';
import { decodeFileFrame, decodeLinkServerMessage, encodeStreamFrame, encodeStreamMessage, StreamTag } from '../../protocol/session-stream.ts';
import type { Logger } from '../log.ts';
import type { FileRoots } from './file-paths.ts';
import { FileTransfers } from './file-transfers.ts';
import type { AttachedLink } from './session-link.ts';

/** Output bytes in flight to the server above which the terminal is paused, and below which it resumes. */
export const OUTPUT_HIGH_WATER = 1024 * 1024;
export const OUTPUT_LOW_WATER = 256 * 1024;
/** After the shell exits, output still in the pty is forwarded until it has been quiet this long (at most 10×). */
const EXIT_DRAIN_QUIET_MS = 30;

/**
 * One live terminal: pty output to the session link, keystrokes and resizes from it. Backpressure end to end: when
 * the server reads slowly (because a viewer does) the bytes in flight pass the high-water mark and the pty is paused,
 * so the shell itself blocks on write instead of the agent buffering without bound. Ends when the shell exits, the
 * server ends the session or the link drops, or the grant's maximum duration is reached — and always kills the pty.
 */
export class TerminalSession {
  private inFlight = 0;
  private paused = false;
  private ended = false;
  private exitTimer: NodeJS.Timeout | null = null;
  private readonly endTimer: NodeJS.Timeout | null = null;
  private readonly link: AttachedLink['socket'];
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private readonly transfers: FileTransfers;
  /** Downloads waiting for the link to drain below the low-water mark. */
  private roomWaiters: (() => void)[] = [];

  constructor(
    readonly sessionId: string,
    private readonly pty: IPty,
    attached: AttachedLink,
    private readonly log: Logger,
    opts: { endsAt: Date | null; files: { roots: FileRoots; allowed: boolean }; earlyOutput?: Buffer[] },
  ) {
    const link = attached.socket;
    this.link = link;
    this.transfers = new FileTransfers(opts.files.roots, opts.files.allowed, {
      reply: (message) => link.readyState === link.OPEN && link.send(encodeStreamMessage(message)),
      frame: (frame) => this.sendData(frame),
    });
    const endsAt = opts.endsAt;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    pty.onData((data) => this.output(data as unknown as Buffer));
    // What the shell wrote before the link was attached goes first; the pty may have been paused while it was kept.
    for (const chunk of opts.earlyOutput ?? []) this.output(chunk);
    if (!this.paused) pty.resume();
    pty.onExit(({ exitCode, signal }) => this.shellExited(exitCode, signal ?? null));
    attached.onMessage((data, isBinary) => this.fromServer(data, isBinary));
    link.on('close', (code, reason) => this.end(`link closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`));
    link.on('error', (error) => this.log.warn({ sessionId, err: error.message }, 'session link error'));
    if (endsAt) {
      this.endTimer = setTimeout(() => this.end('the session reached its maximum duration', 4408), Math.max(0, endsAt.getTime() - Date.now()));
      this.endTimer.unref();
    }
  }

  private output(data: Buffer): void {
    if (this.ended) return;
    if (this.exitTimer) this.exitTimer.refresh();
    void this.sendData(encodeStreamFrame(StreamTag.terminal, data));
  }

  /**
   * Every byte to the server goes through this account: over the high-water mark the pty is paused, and the promise
   * (which file downloads await) resolves once the link is back under the low-water mark.
   */
  private sendData(frame: Buffer): Promise<void> {
    if (this.ended) return Promise.reject(new Error('the session has ended'));
    this.inFlight += frame.length;
    this.link.send(frame, () => {
      this.inFlight -= frame.length;
      if (this.inFlight > OUTPUT_LOW_WATER) return;
      if (this.paused && !this.ended) {
        this.paused = false;
        this.pty.resume();
      }
      for (const wake of this.roomWaiters.splice(0)) wake();
    });
    if (!this.paused && this.inFlight > OUTPUT_HIGH_WATER) {
      this.paused = true;
      this.pty.pause();
    }
    if (this.inFlight <= OUTPUT_HIGH_WATER) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  private fromServer(data: Buffer, isBinary: boolean): void {
    if (this.ended) return;
    if (isBinary) {
      if (data[0] === StreamTag.terminal) this.pty.write(data.subarray(1) as unknown as string);
      const file = decodeFileFrame(data);
      if (file) this.transfers.chunk(file.transferId, file.chunk);
      return;
    }
    try {
      const message = decodeLinkServerMessage(data.toString('utf8'));
      if (message.type === 'resize') this.pty.resize(message.cols, message.rows);
      else if (message.type === 'end') this.end(`ended by the server: ${message.reason}`, 1000);
      else if (message.type === 'file_upload' || message.type === 'file_download' || message.type === 'file_cancel') this.transfers.handle(message);
      else throw new Error(`'${message.type}' is not expected on an attached link`);
    } catch (error) {
      this.end(`invalid message from the server: ${(error as Error).message}`, 4400);
    }
  }

  /** The shell is gone; what it wrote last may still be in the pty, so report the exit once output has settled. */
  private shellExited(exitCode: number, signal: number | null): void {
    if (this.ended) return;
    const report = () => {
      if (this.ended) return;
      this.link.send(encodeStreamMessage({ type: 'exit', exitCode, signal: signal || null }));
      this.end(`shell exited with ${signal ? `signal ${signal}` : `code ${exitCode}`}`, 1000);
    };
    this.exitTimer = setTimeout(report, EXIT_DRAIN_QUIET_MS);
    setTimeout(report, EXIT_DRAIN_QUIET_MS * 10).unref();
  }

  /** Ends the session once: kills the shell, closes the link. */
  end(reason: string, code = 1000): void {
    if (this.ended) return;
    this.ended = true;
    this.transfers.closeAll();
    for (const wake of this.roomWaiters.splice(0)) wake();
    if (this.endTimer) clearTimeout(this.endTimer);
    if (this.exitTimer) clearTimeout(this.exitTimer);
    try {
      this.pty.kill();
    } catch {
      // already gone
    }
    if (this.link.readyState === this.link.OPEN) this.link.close(code, reason.slice(0, 120));
    setTimeout(() => this.link.terminate(), 2000).unref();
    this.log.info({ sessionId: this.sessionId, reason }, 'terminal session ended');
    this.resolveDone();
  }
}
