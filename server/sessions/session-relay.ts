import type WebSocket from 'ws';
import {
  decodeFileFrame,
  decodeConsoleClientMessage,
  decodeLinkAgentMessage,
  encodeStreamMessage,
  type ConsoleServerMessage,
  type LinkServerMessage,
  type Participant,
  StreamTag,
} from '../../protocol/session-stream.ts';
import type { Outbound } from '../../protocol/messages.ts';
import { RECORDER_HIGH_WATER, type SessionRecorder } from '../recordings/session-recorder.ts';
import { RelayTransfers } from './relay-transfers.ts';

/** Bytes queued towards one peer above which the relay stops reading the other side, and below which it resumes. */
export const RELAY_HIGH_WATER = 1024 * 1024;
export const RELAY_LOW_WATER = 256 * 1024;

export type ParticipantRole = Participant['role'];

/** One attached console: who, in which role, on which socket, with its own flow-control account. */
export interface Viewer {
  participantId: string;
  userId: string;
  name: string;
  role: ParticipantRole;
  /** The token the viewer attached with, re-checked on every access change. */
  tokenId: string;
  address: string;
  socket: WebSocket;
  inFlight: number;
  /** Since when this viewer has held more than the high-water mark unread (null: it keeps up). */
  blockedSince: number | null;
  droppedInputs: number;
}

export interface RelayEvents {
  /** The shell exited, the agent's link dropped, or end() was called: exactly once. */
  ended(relay: SessionRelay, outcome: { reason: string; exitCode: number | null }): void;
  left(relay: SessionRelay, viewer: Viewer, reason: string): void;
  /** An observer typed: its input was dropped (the first time per viewer, to be audited). */
  inputDropped(relay: SessionRelay, viewer: Viewer): void;
}

/**
 * One live session on this replica: the agent's link and the attached consoles. Terminal frames are forwarded as
 * they are (same framing on both sockets: no copy, no re-encoding).
 *
 * Backpressure: each receiving socket has an in-flight account (bytes handed to `send` whose callback has not run).
 * When any console is over the high-water mark, or nobody is attached and the early output buffer is full, or the
 * recording is behind (server/recordings), the relay stops reading the agent's link; TCP then fills up to the agent, which pauses the pty. Memory per session is
 * bounded by the marks, whatever the shell writes and however slowly a viewer reads.
 */
export class SessionRelay {
  private readonly viewers = new Map<string, Viewer>();
  /** Output produced before the first console attached (the first prompt), bounded by the high-water mark. */
  private early: Buffer[] = [];
  private earlyBytes = 0;
  private agentPaused = false;
  private agentInFlight = 0;
  private exit: { exitCode: number | null; signal: number | null } | null = null;
  private finished = false;
  readonly startedAt = Date.now();
  /** File transfers in this session (uploads and downloads through the REST API). */
  readonly transfers: RelayTransfers;
  /** Downloads whose receiver is behind: while any is held, the agent's link is not read. */
  private readonly heldBy = new Set<number>();
  private agentRoomWaiters: (() => void)[] = [];
  /** When the last console left (or the session started with none), for the idle timeout. */
  unattendedSince: number | null = Date.now();

  constructor(
    readonly sessionId: string,
    readonly machine: { machineId: string; siteId: string; clientId: string },
    readonly owner: { userId: string; tokenId: string },
    private readonly link: WebSocket,
    readonly recorder: SessionRecorder,
    private readonly events: RelayEvents,
  ) {
    recorder.onStored = () => this.updateAgentFlow();
    this.transfers = new RelayTransfers({
      toAgent: (message) => this.toAgent(message),
      frameToAgent: (frame) => this.frameToAgent(frame),
      broadcast: (message) => this.broadcast(message),
      holdAgent: (transferId, hold) => {
        if (hold) this.heldBy.add(transferId);
        else this.heldBy.delete(transferId);
        this.updateAgentFlow();
      },
    });
    link.on('message', (data: Buffer, isBinary) => this.fromAgent(data, isBinary));
    link.on('close', (code, reason) => this.finish(this.exit ? `the shell exited (${this.exit.signal ? `signal ${this.exit.signal}` : `code ${this.exit.exitCode}`})` : `the agent's link closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`));
    link.on('error', () => undefined);
  }

  get ended(): boolean {
    return this.finished;
  }

  participants(): Participant[] {
    return [...this.viewers.values()].map((v) => ({ participantId: v.participantId, userId: v.userId, name: v.name, role: v.role }));
  }

  viewersList(): Viewer[] {
    return [...this.viewers.values()];
  }

  join(viewer: Viewer): void {
    if (this.finished) {
      viewer.socket.close(4410, 'the session has ended');
      return;
    }
    this.viewers.set(viewer.participantId, viewer);
    this.unattendedSince = null;
    this.recorder.joined({ userId: viewer.userId, name: viewer.name, role: viewer.role });
    viewer.socket.on('message', (data: Buffer, isBinary) => this.fromViewer(viewer, data, isBinary));
    viewer.socket.on('close', () => this.leave(viewer.participantId, 'disconnected'));
    viewer.socket.on('error', () => undefined);
    this.toViewer(viewer, { type: 'joined', sessionId: this.sessionId, you: this.participantOf(viewer), participants: this.participants() });
    for (const frame of this.early) this.forward(viewer, frame);
    this.early = [];
    this.earlyBytes = 0;
    this.broadcast({ type: 'participants', participants: this.participants() }, viewer.participantId);
    this.updateAgentFlow();
  }

  /** Removes a console (it left, or lost its access): the socket is closed with the reason. */
  leave(participantId: string, reason: string, closeCode = 1000): void {
    const viewer = this.viewers.get(participantId);
    if (!viewer) return;
    this.viewers.delete(participantId);
    if (viewer.socket.readyState === viewer.socket.OPEN) viewer.socket.close(closeCode, reason.slice(0, 120));
    if (!this.viewers.size) this.unattendedSince = Date.now();
    this.events.left(this, viewer, reason);
    this.broadcast({ type: 'participants', participants: this.participants() });
    this.updateAgentFlow();
  }

  /** Changes a viewer's role (e.g. its access narrowed to view-only): observers' input is dropped from then on. */
  setRole(participantId: string, role: ParticipantRole): void {
    const viewer = this.viewers.get(participantId);
    if (!viewer || viewer.role === role) return;
    viewer.role = role;
    this.broadcast({ type: 'participants', participants: this.participants() });
  }

  resize(cols: number, rows: number): void {
    this.recorder.resize(cols, rows);
    this.toAgent({ type: 'resize', cols, rows });
  }

  /** Ends the session: tells the agent (which kills the shell) and every console why. */
  end(reason: string): void {
    if (this.finished) return;
    this.toAgent({ type: 'end', reason: reason.slice(0, 500) });
    this.link.close(1000, reason.slice(0, 120));
    setTimeout(() => this.link.terminate(), 2000).unref();
    this.finish(reason);
  }

  /** Consoles stuck over the high-water mark for longer than `ms` (they freeze the session for everyone). */
  stalledViewers(now: number, ms: number): Viewer[] {
    return this.viewersList().filter((v) => v.blockedSince !== null && now - v.blockedSince > ms);
  }

  private finish(reason: string): void {
    if (this.finished) return;
    this.finished = true;
    this.transfers.closeAll(reason);
    for (const wake of this.agentRoomWaiters.splice(0)) wake();
    const ended: Outbound<ConsoleServerMessage> = { type: 'ended', reason: reason.slice(0, 500), exitCode: this.exit?.exitCode ?? null, signal: this.exit?.signal ?? null };
    for (const viewer of this.viewers.values()) {
      this.toViewer(viewer, ended);
      viewer.socket.close(1000, 'session ended');
      this.events.left(this, viewer, 'session ended');
    }
    this.viewers.clear();
    this.events.ended(this, { reason, exitCode: this.exit?.exitCode ?? null });
  }

  private fromAgent(data: Buffer, isBinary: boolean): void {
    if (this.finished) return;
    if (isBinary) {
      const file = decodeFileFrame(data);
      if (file) return this.transfers.onAgentFrame(file.transferId, file.chunk);
      if (data[0] !== StreamTag.terminal) return;
      this.recorder.output(data.subarray(1));
      if (!this.viewers.size) {
        this.early.push(data);
        this.earlyBytes += data.length;
      } else for (const viewer of this.viewers.values()) this.forward(viewer, data);
      this.updateAgentFlow();
      return;
    }
    try {
      const message = decodeLinkAgentMessage(data.toString('utf8'));
      if (message.type === 'exit') this.exit = { exitCode: message.exitCode, signal: message.signal };
      else if (message.type === 'file_meta' || message.type === 'file_result') this.transfers.onAgentMessage(message);
      else throw new Error(`'${message.type}' is not expected on an attached link`);
    } catch (error) {
      this.end(`the agent sent an invalid message: ${(error as Error).message}`);
    }
  }

  private fromViewer(viewer: Viewer, data: Buffer, isBinary: boolean): void {
    if (this.finished || !this.viewers.has(viewer.participantId)) return;
    if (isBinary) {
      if (data[0] !== StreamTag.terminal) return;
      if (viewer.role === 'observer') {
        // Enforced here, whatever the console shows: an observer's keystrokes never reach the machine.
        if (viewer.droppedInputs++ === 0) this.events.inputDropped(this, viewer);
        return;
      }
      this.recorder.input(data.subarray(1));
      if (this.sendToAgent(data)) viewer.socket.pause();
      return;
    }
    try {
      const message = decodeConsoleClientMessage(data.toString('utf8'));
      if (message.type === 'resize' && viewer.role !== 'observer') this.resize(message.cols, message.rows);
    } catch (error) {
      this.leave(viewer.participantId, `invalid message: ${(error as Error).message}`, 4400);
    }
  }

  private forward(viewer: Viewer, frame: Buffer): void {
    if (viewer.socket.readyState !== viewer.socket.OPEN) return;
    viewer.inFlight += frame.length;
    if (viewer.inFlight > RELAY_HIGH_WATER && viewer.blockedSince === null) viewer.blockedSince = Date.now();
    viewer.socket.send(frame, () => {
      viewer.inFlight -= frame.length;
      if (viewer.inFlight <= RELAY_HIGH_WATER) viewer.blockedSince = null;
      if (viewer.inFlight <= RELAY_LOW_WATER) this.updateAgentFlow();
    });
  }

  /** Sends bytes to the agent; true when its link is over the high-water mark (the sender should wait). */
  private sendToAgent(frame: Buffer): boolean {
    this.agentInFlight += frame.length;
    this.link.send(frame, () => {
      this.agentInFlight -= frame.length;
      if (this.agentInFlight > RELAY_LOW_WATER) return;
      for (const v of this.viewers.values()) v.socket.resume();
      for (const wake of this.agentRoomWaiters.splice(0)) wake();
    });
    return this.agentInFlight > RELAY_HIGH_WATER;
  }

  private frameToAgent(frame: Buffer): Promise<void> {
    if (this.finished) return Promise.reject(new Error('the session has ended'));
    if (!this.sendToAgent(frame)) return Promise.resolve();
    return new Promise((resolve) => this.agentRoomWaiters.push(resolve));
  }

  /** Reads the agent's link only while every console (or the early buffer) has room. */
  private updateAgentFlow(): void {
    const mark = this.agentPaused ? RELAY_LOW_WATER : RELAY_HIGH_WATER;
    const consolesFull = this.viewers.size ? [...this.viewers.values()].some((v) => v.inFlight > mark) : this.earlyBytes > mark;
    const recorderFull = this.recorder.backlog > (this.agentPaused ? RECORDER_HIGH_WATER / 4 : RECORDER_HIGH_WATER);
    const full = !this.finished && (consolesFull || recorderFull || this.heldBy.size > 0);
    if (full && !this.agentPaused) {
      this.agentPaused = true;
      this.link.pause();
    } else if (!full && this.agentPaused) {
      this.agentPaused = false;
      this.link.resume();
    }
  }

  private participantOf(viewer: Viewer): Participant {
    return { participantId: viewer.participantId, userId: viewer.userId, name: viewer.name, role: viewer.role };
  }

  private toAgent(message: Outbound<LinkServerMessage>): void {
    if (this.link.readyState === this.link.OPEN) this.link.send(encodeStreamMessage(message));
  }

  private toViewer(viewer: Viewer, message: Outbound<ConsoleServerMessage>): void {
    if (viewer.socket.readyState === viewer.socket.OPEN) viewer.socket.send(encodeStreamMessage(message));
  }

  private broadcast(message: Outbound<ConsoleServerMessage>, except?: string): void {
    for (const viewer of this.viewers.values()) if (viewer.participantId !== except) this.toViewer(viewer, message);
  }
}
