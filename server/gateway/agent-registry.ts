import type { Logger } from 'pino';
import { CloseCode } from '../../protocol/close-codes.ts';
import type { CommandName, CommandParams, CommandResult } from '../../protocol/commands.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Db } from '../db/open.ts';
import { Unavailable } from '../errors.ts';
import { markConnectionsClosed, markDisconnected, sweepOffline, touchConnections } from '../machines/presence-store.ts';
import type { AgentConnection } from './agent-connection.ts';
import { ConnectionClaims } from './connection-claims.ts';
import { eq } from 'drizzle-orm';
import { machines } from '../db/schema.ts';
import { forwardAgentCommand } from '../replicas/agent-command-forwarding.ts';
import type { ReplicaAuth } from '../replicas/replica-auth.ts';

/** As AgentConnection.request's default. */
const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;

/**
 * The agent connections this replica holds, and their liveness. State here is only the live sockets; presence lives
 * in the database (presence-store.ts), so another replica, or this one after a restart, rebuilds it from there.
 *
 * One timer drives everything, whatever the number of agents: each tick sends heartbeats, closes agents silent
 * for too long, writes last-seen for all live connections in one batched statement (closing any a newer connection
 * superseded, possibly on another replica) and marks machines offline whose connection went silent anywhere.
 */
export class AgentRegistry {
  private readonly live = new Map<string, AgentConnection>();
  /** Batched presence claims made by completed handshakes. */
  readonly claims: ConnectionClaims;
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private shuttingDown = false;
  /** Disconnects still being written; shutdown waits for them so nothing is written after the database closes. */
  private readonly removals = new Set<Promise<void>>();

  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly log: Logger,
    private readonly heartbeatSeconds: number,
    private readonly missedHeartbeats: number,
    private readonly forwarding: { replica: { url: string }; auth: ReplicaAuth },
  ) {
    this.claims = new ConnectionClaims(db, forwarding.replica);
  }

  get size(): number {
    return this.live.size;
  }

  get(machineId: string): AgentConnection | undefined {
    return this.live.get(machineId);
  }

  /** Machines whose agent is connected to this replica: only this replica can send them commands. */
  connectedMachineIds(): string[] {
    return [...this.live.keys()];
  }

  /** Adds an authenticated connection; an older one for the same machine is closed as replaced. */
  add(conn: AgentConnection): void {
    const machineId = conn.machineId as string;
    const previous = this.live.get(machineId);
    this.live.set(machineId, conn);
    if (previous && previous !== conn) previous.close(CloseCode.replaced, 'replaced by a newer connection of the same agent');
    conn.onClose((code) => {
      const removal = this.remove(conn, code).finally(() => this.removals.delete(removal));
      this.removals.add(removal);
    });
  }

  private async remove(conn: AgentConnection, code: number): Promise<void> {
    const machineId = conn.machineId as string;
    if (this.live.get(machineId) === conn) this.live.delete(machineId);
    if (this.shuttingDown) return; // closeAll records these in one statement
    const wentOffline = await markDisconnected(this.db, machineId, conn.connectionId).catch((error: unknown) => {
      this.log.error({ err: error, machineId }, 'could not record disconnect');
      return false;
    });
    this.audit.enqueue({
      actorType: 'agent',
      actorId: machineId,
      action: 'agent.disconnect',
      outcome: 'success',
      targetType: 'machine',
      targetId: machineId,
      address: conn.address,
      details: { code, wentOffline },
    });
  }

  /**
   * Runs a command on the machine's agent: here when it is connected here, else through the replica that holds its
   * connection (several replicas share one database, and an agent connects to whichever the load balancer picks).
   */
  async request<N extends CommandName>(machineId: string, name: N, params: CommandParams<N>, timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS): Promise<CommandResult<N>> {
    if (this.live.has(machineId)) return this.requestLocal(machineId, name, params, timeoutMs);
    const [machine] = await this.db.select({ online: machines.online, connectedVia: machines.connectedVia }).from(machines).where(eq(machines.id, machineId));
    if (!machine?.online || !machine.connectedVia || machine.connectedVia === this.forwarding.replica.url) throw new Unavailable('the agent is not connected');
    return forwardAgentCommand(this.forwarding.auth, machine.connectedVia, { machineId, name, params, timeoutMs });
  }

  /** Only an agent connected to this replica (what another replica's forwarded command may use). */
  async requestLocal<N extends CommandName>(machineId: string, name: N, params: CommandParams<N>, timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS): Promise<CommandResult<N>> {
    const conn = this.live.get(machineId);
    if (!conn) throw new Unavailable('the agent is not connected to this replica', 'agent_not_here');
    return conn.request(name, params, timeoutMs);
  }

  start(): void {
    const periodMs = this.heartbeatSeconds * 1000;
    this.timer = setInterval(() => void this.tick(), periodMs);
    this.timer.unref();
  }

  tick(): Promise<void> {
    this.ticking ??= this.runTick().finally(() => (this.ticking = null));
    return this.ticking;
  }

  private async runTick(): Promise<void> {
    try {
      const now = Date.now();
      const silentLimitMs = this.heartbeatSeconds * this.missedHeartbeats * 1000;
      const at = new Date(now).toISOString();
      const alive: { machineId: string; connectionId: string }[] = [];
      for (const conn of this.live.values()) {
        if (now - conn.lastHeard > silentLimitMs) {
          conn.close(CloseCode.heartbeatTimeout, `no message for ${Math.round((now - conn.lastHeard) / 1000)} s`);
          continue;
        }
        conn.send({ type: 'heartbeat', at });
        alive.push({ machineId: conn.machineId as string, connectionId: conn.connectionId });
      }
      const seen = new Map(alive.map((a) => [a.machineId, a.connectionId]));
      for (const machineId of await touchConnections(this.db, alive)) {
        // The agent may have reconnected here while the query ran: close only the connection this tick saw.
        const conn = this.live.get(machineId);
        if (conn && conn.connectionId === seen.get(machineId)) conn.close(CloseCode.replaced, 'superseded by a newer connection');
      }
      const offline = await sweepOffline(this.db, this.heartbeatSeconds * this.missedHeartbeats);
      if (offline.length) this.log.info({ count: offline.length }, 'marked silent machines offline');
    } catch (error) {
      this.log.error({ err: error }, 'agent presence tick failed');
    }
  }

  /** Closes every connection (server shutdown); agents reconnect to whichever replica answers. */
  async closeAll(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.shuttingDown = true;
    await this.ticking;
    const connections = [...this.live.values()];
    const closing = connections.map(
      (conn) => new Promise<void>((resolve) => {
        conn.onClose(() => resolve());
        conn.close(CloseCode.goingAway, 'server shutting down');
        setTimeout(resolve, 2000).unref();
      }),
    );
    await Promise.all(closing);
    for (const conn of connections) conn.terminate();
    await Promise.all(this.removals);
    const offline = await markConnectionsClosed(this.db, connections.map((c) => c.connectionId)).catch((error: unknown) => {
      this.log.error({ err: error }, 'could not record disconnects at shutdown');
      return 0;
    });
    for (const conn of connections) {
      this.audit.enqueue({
        actorType: 'agent',
        actorId: conn.machineId,
        action: 'agent.disconnect',
        outcome: 'success',
        targetType: 'machine',
        targetId: conn.machineId,
        address: conn.address,
        details: { code: CloseCode.goingAway, reason: 'server shutting down' },
      });
    }
    this.log.info({ connections: connections.length, markedOffline: offline }, 'agent connections closed');
  }
}
