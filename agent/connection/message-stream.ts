import type WebSocket from 'ws';
import { closeCodeName } from '../../protocol/close-codes.ts';
import { decodeServerMessage, encodeMessage, type AgentMessage, type Outbound, type ServerMessage } from '../../protocol/messages.ts';

/** Why a connection ended: the close code and reason the server gave (or a local error). */
export class ConnectionClosed extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {
    super(`connection closed: ${closeCodeName(code)}${reason ? ` (${reason})` : ''}`);
    this.name = 'ConnectionClosed';
  }
}

/**
 * The agent's view of its socket as a stream of validated server messages: pulled one at a time during the
 * handshake (`next`), then pushed to a handler (`listen`). Nothing is lost between the two.
 */
export class MessageStream {
  private readonly queue: ServerMessage[] = [];
  private waiter: { resolve: (m: ServerMessage) => void; reject: (e: Error) => void } | null = null;
  private handler: ((m: ServerMessage) => void) | null = null;
  private ended: ConnectionClosed | null = null;
  readonly closed: Promise<ConnectionClosed>;

  constructor(readonly socket: WebSocket) {
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => {
        this.ended ??= new ConnectionClosed(code, reason.toString('utf8'));
        this.waiter?.reject(this.ended);
        this.waiter = null;
        resolve(this.ended);
      });
    });
    socket.on('error', (error) => {
      this.ended ??= new ConnectionClosed(1006, error.message);
    });
    socket.on('message', (data, isBinary) => {
      if (isBinary) return this.fail(4400, 'unexpected binary frame');
      let message: ServerMessage;
      try {
        message = decodeServerMessage((data as Buffer).toString('utf8'));
      } catch (error) {
        return this.fail(4400, (error as Error).message);
      }
      if (this.handler) this.handler(message);
      else if (this.waiter) {
        this.waiter.resolve(message);
        this.waiter = null;
      } else this.queue.push(message);
    });
  }

  next(): Promise<ServerMessage> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  listen(handler: (message: ServerMessage) => void): void {
    this.handler = handler;
    for (const message of this.queue.splice(0)) handler(message);
  }

  send(message: Outbound<AgentMessage>): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(encodeMessage(message));
  }

  fail(code: number, reason: string): void {
    this.ended ??= new ConnectionClosed(code, reason);
    this.socket.close(code, reason.slice(0, 120));
    setTimeout(() => this.socket.terminate(), 3000).unref();
  }
}
