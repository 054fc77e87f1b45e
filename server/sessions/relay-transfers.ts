import { createHash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import type { Outbound } from '../../protocol/messages.ts';
import { encodeFileFrame, FILE_CHUNK_BYTES, type ConsoleServerMessage, type FileReply, type FileRequest } from '../../protocol/session-stream.ts';
import { DomainError, Invalid } from '../errors.ts';

/** What the transfers need from their relay. */
export interface TransferLink {
  toAgent(message: Outbound<FileRequest>): void;
  /** Resolves once the agent's link has room again (backpressure for uploads). */
  frameToAgent(frame: Buffer): Promise<void>;
  broadcast(message: Outbound<ConsoleServerMessage>): void;
  /** Stops (true) or resumes (false) reading the agent's link, for a download whose receiver is behind. */
  holdAgent(transferId: number, hold: boolean): void;
}

type Waiting = {
  settle(reply: FileReply | { type: 'closed'; reason: string }): void;
  chunk?(data: Buffer): void;
};

/** How long the agent may take to answer once all bytes are sent (or to start a download). */
const AGENT_ANSWER_MS = 60_000;
/** Progress goes to the consoles at most this often per transfer. */
const PROGRESS_EVERY_BYTES = 1024 * 1024;

/** The agent refused or failed the transfer; its reason is for the user (a refused path, a checksum mismatch). */
export class TransferRefused extends DomainError {
  constructor(message: string) {
    super(422, 'transfer_refused', message);
  }
}

/**
 * The file transfers of one relayed session, server side: bytes streamed between an HTTP request or response and
 * the agent's link in chunks, with backpressure both ways, the SHA-256 computed here as well as on the agent, and
 * progress shown to everyone attached.
 */
export class RelayTransfers {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();

  constructor(private readonly link: TransferLink) {}

  /** Streams `body` to `path` on the machine; resolves with the agent's confirmation. */
  async upload(path: string, size: number, sha256: string, body: AsyncIterable<Buffer>): Promise<{ path: string; size: number; sha256: string }> {
    const transferId = this.nextId++;
    const answer = this.expect(transferId);
    this.link.toAgent({ type: 'file_upload', transferId, path, size, sha256 });
    const hash = createHash('sha256');
    let sent = 0;
    let reported = 0;
    try {
      for await (const piece of body) {
        for (let offset = 0; offset < piece.length; offset += FILE_CHUNK_BYTES) {
          const chunk = piece.subarray(offset, offset + FILE_CHUNK_BYTES);
          sent += chunk.length;
          if (sent > size) throw new Invalid(`the body is longer than its Content-Length (${size})`);
          hash.update(chunk);
          if (!this.waiting.has(transferId)) break; // the agent refused already: stop sending
          await this.link.frameToAgent(encodeFileFrame(transferId, chunk));
          if (sent - reported >= PROGRESS_EVERY_BYTES) {
            reported = sent;
            this.progress(transferId, 'upload', path, sent, size, 'running');
          }
        }
      }
      if (this.waiting.has(transferId) && hash.digest('hex') !== sha256) throw new Invalid('the body does not match its X-Content-SHA256; nothing was written');
      if (this.waiting.has(transferId) && sent !== size) throw new Invalid(`the body ended after ${sent} of ${size} bytes`);
    } catch (error) {
      if (this.waiting.delete(transferId)) this.link.toAgent({ type: 'file_cancel', transferId, reason: (error as Error).message.slice(0, 200) });
      this.progress(transferId, 'upload', path, sent, size, 'failed', (error as Error).message);
      throw error;
    }
    const timer = setTimeout(() => this.onAgentClosed(transferId, 'the agent did not confirm the upload in time'), AGENT_ANSWER_MS);
    const reply = await answer.finally(() => clearTimeout(timer));
    if (reply.type !== 'file_result' || !reply.ok) {
      const reason = reply.type === 'closed' ? reply.reason : reply.type === 'file_result' && !reply.ok ? reply.error : 'unexpected answer';
      this.progress(transferId, 'upload', path, sent, size, 'failed', reason);
      throw new TransferRefused(reason);
    }
    this.progress(transferId, 'upload', reply.path, reply.size, size, 'done');
    return { path: reply.path, size: reply.size, sha256: reply.sha256 };
  }

  /**
   * Starts a download: resolves with the file's real path and size and a stream of its bytes once the agent opened
   * it. The stream fails if the agent's SHA-256 differs from the bytes that arrived. `done` settles at the end.
   */
  async download(path: string): Promise<{ path: string; size: number; stream: Readable; done: Promise<{ sha256: string; size: number }> }> {
    const transferId = this.nextId++;
    const stream = new PassThrough({ highWaterMark: 1024 * 1024 });
    // Whoever reads the stream sees its failure; an error with no reader yet must not crash the server.
    stream.on('error', () => undefined);
    const hash = createHash('sha256');
    let received = 0;
    let reported = 0;
    let total: number | null = null;
    let shownPath = path;
    let resolveMeta!: (meta: { path: string; size: number }) => void;
    let rejectMeta!: (error: Error) => void;
    const meta = new Promise<{ path: string; size: number }>((resolve, reject) => ((resolveMeta = resolve), (rejectMeta = reject)));
    let resolveDone!: (done: { sha256: string; size: number }) => void;
    let rejectDone!: (error: Error) => void;
    const done = new Promise<{ sha256: string; size: number }>((resolve, reject) => ((resolveDone = resolve), (rejectDone = reject)));
    done.catch(() => undefined);
    const fail = (reason: string) => {
      this.waiting.delete(transferId);
      this.link.holdAgent(transferId, false);
      this.progress(transferId, 'download', shownPath, received, total, 'failed', reason);
      rejectMeta(new TransferRefused(reason));
      stream.destroy(new Error(reason));
      rejectDone(new TransferRefused(reason));
    };
    stream.on('drain', () => this.link.holdAgent(transferId, false));
    stream.on('close', () => {
      // The HTTP client went away before the end: stop the agent reading.
      if (this.waiting.delete(transferId)) {
        this.link.toAgent({ type: 'file_cancel', transferId, reason: 'the receiver went away' });
        this.link.holdAgent(transferId, false);
        rejectDone(new Error('the receiver went away'));
      }
    });
    this.waiting.set(transferId, {
      chunk: (data) => {
        received += data.length;
        hash.update(data);
        if (!stream.write(data)) this.link.holdAgent(transferId, true);
        if (received - reported >= PROGRESS_EVERY_BYTES) {
          reported = received;
          this.progress(transferId, 'download', shownPath, received, total, 'running');
        }
      },
      settle: (reply) => {
        if (reply.type === 'file_meta') {
          total = reply.size;
          shownPath = reply.path;
          resolveMeta({ path: reply.path, size: reply.size });
          return;
        }
        if (reply.type === 'closed') return fail(reply.reason);
        if (!reply.ok) return fail(reply.error);
        const sha256 = hash.digest('hex');
        if (sha256 !== reply.sha256 || received !== reply.size) return fail(`checksum mismatch: received ${received} bytes hashing ${sha256}, the agent sent ${reply.size} hashing ${reply.sha256}`);
        this.waiting.delete(transferId);
        this.link.holdAgent(transferId, false);
        this.progress(transferId, 'download', shownPath, received, total, 'done');
        stream.end();
        resolveDone({ sha256, size: received });
      },
    });
    this.link.toAgent({ type: 'file_download', transferId, path });
    const timer = setTimeout(() => fail('the agent did not open the file in time'), AGENT_ANSWER_MS);
    try {
      const opened = await meta;
      return { ...opened, stream, done };
    } finally {
      clearTimeout(timer);
    }
  }

  onAgentMessage(reply: FileReply): void {
    const waiting = this.waiting.get(reply.transferId);
    if (!waiting) return;
    if (reply.type === 'file_result') this.waiting.delete(reply.transferId);
    waiting.settle(reply);
  }

  onAgentFrame(transferId: number, chunk: Buffer): void {
    this.waiting.get(transferId)?.chunk?.(chunk);
  }

  /** The session ended: every transfer in flight fails with the reason. */
  closeAll(reason: string): void {
    for (const id of [...this.waiting.keys()]) this.onAgentClosed(id, reason);
  }

  private onAgentClosed(transferId: number, reason: string): void {
    const waiting = this.waiting.get(transferId);
    if (!waiting) return;
    this.waiting.delete(transferId);
    waiting.settle({ type: 'closed', reason });
  }

  private expect(transferId: number): Promise<FileReply | { type: 'closed'; reason: string }> {
    return new Promise((resolve) => {
      this.waiting.set(transferId, { settle: resolve });
    });
  }

  private progress(transferId: number, direction: 'upload' | 'download', path: string, bytes: number, total: number | null, state: 'running' | 'done' | 'failed', error?: string): void {
    this.link.broadcast({ type: 'transfer', transferId, direction, path, bytes, total, state, ...(error ? { error: error.slice(0, 500) } : {}) });
  }
}
