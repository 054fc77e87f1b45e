import { CloseCode, closeCodeName } from '../../protocol/close-codes.ts';
import { fromBase64, PUBLIC_KEY_BYTES, type KeyPair } from '../../protocol/identity.ts';
import { inventoryHash } from '../../protocol/inventory.ts';
import type { CommandRequest, ServerMessage } from '../../protocol/messages.ts';
import type { AgentContext } from '../agent-context.ts';
import { CommandRefused, runCommand } from '../commands/index.ts';
import type { Enrollment } from '../state/agent-state.ts';
import { Backoff } from './backoff.ts';
import { openSession, ServerIdentityError, type Session } from './handshake.ts';
import { ConnectionClosed } from './message-stream.ts';
import { gatewayUrl } from './server-url.ts';

export interface LinkOptions {
  enrollment: Enrollment;
  keyPair: KeyPair;
  /** How often the inventory is re-collected and sent if its hash changed. */
  inventoryIntervalMs: number;
  backoff?: Backoff;
}

/** Codes after which retrying soon cannot help: go straight to the longest delay. */
const SLOW_RETRY = new Set<number>([CloseCode.authenticationFailed, CloseCode.machineUnknown, CloseCode.unsupportedVersion]);

/**
 * The agent's connection to its server, kept forever: connect, authenticate, report inventory, heartbeat,
 * answer commands; on any loss, reconnect with capped exponential backoff and jitter. Stops only on `stop()`.
 */
export class AgentLink {
  private stopped = false;
  private current: Session | null = null;
  private wake: (() => void) | null = null;
  private lastSentHash: string | null = null;

  constructor(
    private readonly ctx: AgentContext,
    private readonly opts: LinkOptions,
  ) {}

  async run(): Promise<void> {
    const backoff = this.opts.backoff ?? new Backoff();
    const url = gatewayUrl(this.opts.enrollment.serverUrl, this.opts.enrollment.allowInsecure);
    const serverPublicKey = fromBase64(this.opts.enrollment.serverPublicKey, PUBLIC_KEY_BYTES) as Uint8Array;
    while (!this.stopped) {
      let delay: number;
      try {
        const session = await openSession({
          url,
          keyPair: this.opts.keyPair,
          expectedServer: { publicKey: serverPublicKey },
          mode: 'connect',
          machineId: this.opts.enrollment.machineId,
          tls: this.opts.enrollment.tls,
        });
        backoff.reset();
        const closed = await this.serve(session);
        delay = SLOW_RETRY.has(closed.code) ? backoff.toCap() : backoff.next();
        this.ctx.log.warn({ code: closeCodeName(closed.code), reason: closed.reason, retryInMs: delay }, 'disconnected from server');
      } catch (error) {
        const code = error instanceof ConnectionClosed ? error.code : 0;
        delay = error instanceof ServerIdentityError || SLOW_RETRY.has(code) ? backoff.toCap() : backoff.next();
        this.ctx.log.warn({ err: (error as Error).message, retryInMs: delay }, 'could not connect to server');
      }
      if (!this.stopped) await this.sleep(delay);
    }
  }

  stop(): void {
    this.stopped = true;
    this.current?.stream.fail(CloseCode.normal, 'agent stopping');
    this.wake?.();
  }

  private async serve(session: Session): Promise<ConnectionClosed> {
    this.current = session;
    const { stream, welcome } = session;
    this.ctx.log.info({ machineId: welcome.machineId, heartbeatSeconds: welcome.heartbeatSeconds }, 'connected to server');
    let lastHeard = Date.now();
    stream.listen((message) => {
      lastHeard = Date.now();
      this.onMessage(session, message);
    });
    const heartbeatMs = welcome.heartbeatSeconds * 1000;
    const heartbeat = setInterval(() => {
      if (Date.now() - lastHeard > heartbeatMs * 3) {
        stream.fail(CloseCode.heartbeatTimeout, 'server silent for three heartbeat intervals');
        return;
      }
      stream.send({ type: 'heartbeat', at: new Date().toISOString() });
    }, heartbeatMs);
    this.lastSentHash = welcome.inventoryHash;
    void this.reportInventory(session);
    const inventoryTimer = setInterval(() => void this.reportInventory(session), this.opts.inventoryIntervalMs);
    try {
      return await stream.closed;
    } finally {
      clearInterval(heartbeat);
      clearInterval(inventoryTimer);
      this.current = null;
    }
  }

  /** Sends the inventory if it differs from what the server holds (by hash). */
  private async reportInventory(session: Session): Promise<void> {
    try {
      const inventory = await this.ctx.collectInventory();
      const hash = inventoryHash(inventory);
      if (hash === this.lastSentHash || this.current !== session) return;
      session.stream.send({ type: 'inventory', hash, inventory });
      this.lastSentHash = hash;
      this.ctx.log.info({ hash }, 'inventory sent');
    } catch (error) {
      this.ctx.log.error({ err: error }, 'inventory collection failed');
    }
  }

  private onMessage(session: Session, message: ServerMessage): void {
    if (message.type === 'heartbeat') return;
    if (message.type === 'request') return void this.answer(session, message);
    session.stream.fail(CloseCode.invalidMessage, `'${message.type}' is not expected after the handshake`);
  }

  private async answer(session: Session, request: CommandRequest): Promise<void> {
    try {
      const result = await runCommand(this.ctx, request.command);
      session.stream.send({ type: 'response', id: request.id, ok: true, result });
    } catch (error) {
      const code = error instanceof CommandRefused ? error.code : 'failed';
      this.ctx.log.error({ err: error, command: request.command.name, code }, 'command not completed');
      session.stream.send({ type: 'response', id: request.id, ok: false, error: { code, message: (error as Error).message.slice(0, 2000) } });
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
