import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { encodeFileFrame, FILE_CHUNK_BYTES, type FileReply, type FileRequest } from '../../protocol/session-stream.ts';
import type { Outbound } from '../../protocol/messages.ts';
import { FileRoots, PathRefused } from './file-paths.ts';

/** How a transfer talks back over the session link; `frame` resolves once the link has room for more. */
export interface TransferChannel {
  reply(message: Outbound<FileReply>): void;
  frame(frame: Buffer): Promise<void>;
}

interface Upload {
  fd: number;
  temp: string;
  target: string;
  size: number;
  sha256: string;
  hash: Hash;
  received: number;
}

const NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;

/**
 * The file transfers of one session. Uploads go to a temporary file beside the target (created exclusively, never
 * through a symlink) and replace the target by rename only once size and SHA-256 match; downloads open the real
 * path without following links and check it is a regular file. Nothing happens without the grant's `files` right.
 */
export class FileTransfers {
  private readonly uploads = new Map<number, Upload>();
  private readonly downloads = new Set<number>();

  constructor(
    private readonly roots: FileRoots,
    private readonly allowed: boolean,
    private readonly channel: TransferChannel,
  ) {}

  handle(request: FileRequest): void {
    if (request.type === 'file_cancel') return this.cancel(request.transferId);
    if (!this.allowed) return this.fail(request.transferId, 'this session was granted without the files right');
    const refuse = (error: unknown) => this.fail(request.transferId, error instanceof PathRefused ? error.message : `could not open: ${(error as Error).message}`);
    try {
      if (request.type === 'file_upload') this.startUpload(request);
      else this.download(request.transferId, request.path).catch(refuse);
    } catch (error) {
      refuse(error);
    }
  }

  chunk(transferId: number, data: Buffer): void {
    const upload = this.uploads.get(transferId);
    if (!upload) return;
    if (upload.received + data.length > upload.size) return this.abortUpload(transferId, upload, `more than the announced ${upload.size} bytes`);
    try {
      fs.writeSync(upload.fd, data);
    } catch (error) {
      return this.abortUpload(transferId, upload, `write failed: ${(error as Error).message}`);
    }
    upload.hash.update(data);
    upload.received += data.length;
    if (upload.received === upload.size) this.finishUpload(transferId, upload);
  }

  /** The session ended: unfinished uploads leave nothing behind. */
  closeAll(): void {
    for (const [id, upload] of this.uploads) this.abortUpload(id, upload, 'the session ended', false);
    this.downloads.clear();
  }

  private startUpload(request: Extract<FileRequest, { type: 'file_upload' }>): void {
    if (this.uploads.has(request.transferId)) throw new Error('transfer id already in use');
    const { directory, target } = this.roots.newFile(request.path);
    const temp = path.join(directory, `.${path.basename(target)}.steward-${process.pid}-${request.transferId}.part`);
    const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | NOFOLLOW, 0o600);
    const upload: Upload = { fd, temp, target, size: request.size, sha256: request.sha256, hash: createHash('sha256'), received: 0 };
    this.uploads.set(request.transferId, upload);
    if (request.size === 0) this.finishUpload(request.transferId, upload);
  }

  private finishUpload(transferId: number, upload: Upload): void {
    this.uploads.delete(transferId);
    fs.closeSync(upload.fd);
    const sha256 = upload.hash.digest('hex');
    if (sha256 !== upload.sha256) {
      fs.rmSync(upload.temp, { force: true });
      return this.fail(transferId, `checksum mismatch: got ${sha256}, expected ${upload.sha256}; nothing was written`);
    }
    try {
      fs.renameSync(upload.temp, upload.target);
    } catch (error) {
      fs.rmSync(upload.temp, { force: true });
      return this.fail(transferId, `could not put the file in place: ${(error as Error).message}`);
    }
    this.channel.reply({ type: 'file_result', transferId, ok: true, path: upload.target, size: upload.size, sha256 });
  }

  private abortUpload(transferId: number, upload: Upload, reason: string, report = true): void {
    this.uploads.delete(transferId);
    try {
      fs.closeSync(upload.fd);
    } catch {
      // already closed
    }
    fs.rmSync(upload.temp, { force: true });
    if (report) this.fail(transferId, reason);
  }

  private async download(transferId: number, requested: string): Promise<void> {
    const real = this.roots.existingFile(requested);
    const handle = await fs.promises.open(real, fs.constants.O_RDONLY | NOFOLLOW);
    this.downloads.add(transferId);
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new PathRefused(`${requested} is not a regular file`);
      this.channel.reply({ type: 'file_meta', transferId, path: real, size: stat.size });
      const hash = createHash('sha256');
      let sent = 0;
      while (this.downloads.has(transferId)) {
        const buffer = Buffer.allocUnsafe(FILE_CHUNK_BYTES);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
        if (bytesRead === 0) break;
        const chunk = buffer.subarray(0, bytesRead);
        hash.update(chunk);
        sent += bytesRead;
        await this.channel.frame(encodeFileFrame(transferId, chunk));
      }
      if (!this.downloads.delete(transferId)) return; // cancelled
      this.channel.reply({ type: 'file_result', transferId, ok: true, path: real, size: sent, sha256: hash.digest('hex') });
    } catch (error) {
      this.downloads.delete(transferId);
      this.fail(transferId, error instanceof PathRefused ? error.message : `read failed: ${(error as Error).message}`);
    } finally {
      await handle.close();
    }
  }

  private cancel(transferId: number): void {
    const upload = this.uploads.get(transferId);
    if (upload) this.abortUpload(transferId, upload, 'cancelled', false);
    this.downloads.delete(transferId);
  }

  private fail(transferId: number, error: string): void {
    this.channel.reply({ type: 'file_result', transferId, ok: false, error: error.slice(0, 500) });
  }
}
