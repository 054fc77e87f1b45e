import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type WebSocket from 'ws';
import { closeCodeName, CloseCode } from '../../protocol/close-codes.ts';
import { commands, type CommandName, type CommandParams, type CommandResult } from '../../protocol/commands.ts';
import { decodeAgentMessage, encodeMessage, ProtocolError, type AgentMessage, type Outbound, type ServerMessage } from '../../protocol/messages.ts';
import { compile } from '../../protocol/validate.ts';
import { DomainError, Unavailable } from '../errors.ts';

type Pending = { name: CommandName; resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout };

const resultValidators = Object.fromEntries(
  Object.entries(commands).map(([name, spec]) => [name, compile(spec.result)]),
) as unknown as Record<CommandName, { parse(value: unknown): unknown }>;

/** Where an inbound message goes: the handshake while it runs, then the handler map (gateway/handlers). */
export type MessageSink = (connection: AgentConnection, message: AgentMessage) => Promise<void> | void;

/**
 * One agent WebSocket. Owns the socket, its receive order, the liveness clock and the pending command requests;
 * knows nothing of the database. Inbound messages are handled one at a time in arrival order.
 */
export class AgentConnection {
  readonly connectionId = randomUUID();
  machineId: string | null = null;
  lastHeard = Date.now();
  closed = false;
  private chain: Promise<void> = Promise.resolve();
  private nextRequestId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly closeListeners: ((code: number) => void)[] = [];

  constructor(
    private readonly socket: WebSocket,
    readonly address: string,
    private readonly log: Logger,
    private sink: MessageSink,
  ) {
    socket.on('message', (data, isBinary) => this.receive(data as Buffer, isBinary));
    socket.on('close', (code) => this.onClosed(code));
    socket.on('error', (error) => this.log.warn({ err: error, address }, 'agent socket error'));
  }

  /** Switches inbound handling once the handshake is done. */
  setSink(sink: MessageSink): void {
    this.sink = sink;
  }

  onClose(listener: (code: number) => void): void {
    this.closeListeners.push(listener);
  }

  send(message: Outbound<ServerMessage>): void {
    if (!this.closed) this.socket.send(encodeMessage(message));
  }

  /** Closes with a documented close code, logging why. */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.log.info({ machineId: this.machineId, address: this.address, code: closeCodeName(code), reason }, 'closing agent connection');
    this.socket.close(code, reason.slice(0, 120));
    this.closed = true;
    setTimeout(() => this.socket.terminate(), 5000).unref();
  }

  /** Drops the socket at once, without a close handshake (shutdown of peers that did not answer in time). */
  terminate(): void {
    this.closed = true;
    this.socket.terminate();
  }

  /** Sends a command and waits for the agent's validated result. */
  request<N extends CommandName>(name: N, params: CommandParams<N>, timeoutMs = 30_000): Promise<CommandResult<N>> {
    if (this.closed) return Promise.reject(new Unavailable('the agent is not connected'));
    const id = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Unavailable(`the agent did not answer '${name}' within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { name, resolve: resolve as (value: unknown) => void, reject, timer });
      this.send({ type: 'request', id, timeoutMs, command: { name, params } });
    });
  }

  /** Settles a pending request from a `response` message. */
  settle(id: number, outcome: { ok: true; result: unknown } | { ok: false; error: { code: string; message: string } }): void {
    const pending = this.pending.get(id);
    if (!pending) {
      this.log.warn({ machineId: this.machineId, id }, 'response to an unknown or expired request');
      return;
    }
    this.pending.delete(id);
    clearTimeout(pending.timer);
    if (!outcome.ok) {
      pending.reject(new AgentRefusal(pending.name, outcome.error.code, outcome.error.message));
      return;
    }
    try {
      pending.resolve(resultValidators[pending.name].parse(outcome.result));
    } catch (error) {
      pending.reject(new DomainError(502, 'agent_error', `the agent's result for '${pending.name}' is invalid: ${(error as Error).message}`));
    }
  }

  private receive(data: Buffer, isBinary: boolean): void {
    this.lastHeard = Date.now();
    if (isBinary) {
      // Session bytes travel on each session's own link (protocol/session-stream.ts), never on the control socket.
      this.close(CloseCode.invalidMessage, 'binary frame on the control connection');
      return;
    }
    let message: AgentMessage;
    try {
      message = decodeAgentMessage(data.toString('utf8'));
    } catch (error) {
      const protocolError = error as ProtocolError;
      this.log.warn({ machineId: this.machineId, address: this.address, err: protocolError.message }, 'invalid agent message');
      this.close(protocolError.versionMismatch ? CloseCode.unsupportedVersion : CloseCode.invalidMessage, protocolError.message);
      return;
    }
    this.chain = this.chain
      .then(() => (this.closed ? undefined : this.sink(this, message)))
      .catch((error: unknown) => {
        this.log.error({ err: error, machineId: this.machineId }, 'agent message handling failed');
        this.close(CloseCode.internalError, 'server error');
      });
  }

  private onClosed(code: number): void {
    this.closed = true;
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new Unavailable(`the agent disconnected before answering '${pending.name}'`));
      this.pending.delete(id);
    }
    for (const listener of this.closeListeners) listener(code);
  }
}

/** The agent answered a command with an error: its code and message, kept apart for callers that map them. */
export class AgentRefusal extends DomainError {
  constructor(
    command: string,
    readonly agentCode: string,
    readonly agentMessage: string,
  ) {
    super(502, 'agent_error', `the agent answered '${command}' with ${agentCode}: ${agentMessage}`);
  }
}
