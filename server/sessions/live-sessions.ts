import type { Logger } from 'pino';
import { CONSENT_TIMEOUT_MS } from '../../protocol/session-grant.ts';
import { findTokenHolderById, loadGrants, actorOf } from '../access/actor-store.ts';
import type { Actor } from '../access/actor.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Db, Listen } from '../db/open.ts';
import { rotateAfterSession } from '../credentials/rotation-triggers.ts';
import { sessionRole } from './session-access.ts';
import type { SessionRelay, Viewer } from './session-relay.ts';
import { markEnded, markParticipantLeft, sessionsToEnd, sweepLostRelays, touchRelays } from './session-store.ts';

export interface LiveSessionsOptions {
  /** How often relays prove life, lost relays are swept and access is re-checked even without a notification. */
  tickMs: number;
  /** A session nobody is attached to ends after this long. */
  unattendedMs: number;
  /** A console that holds the whole session back (unread output over the high-water mark) this long is dropped. */
  stalledViewerMs: number;
}

/** A starting session is lost only after the end user's answer and the agent's attach could both be over. */
const STARTING_SECONDS = Math.ceil(CONSENT_TIMEOUT_MS / 1000) + 45;

/** The close code a console gets when its access is revoked mid-session. */
export const ACCESS_REVOKED = 4403;

/**
 * The sessions this replica relays. The database stays the truth: every access change, made by any code path on any
 * replica, fires a notification (migration 0002 triggers) and each replica re-asks the authorizer about everyone in
 * its sessions — the owner, attached or not, and every console — cutting whoever lost access. The same check runs
 * at the next assignment expiry and on every tick, so a missed notification delays a cut by one tick at most.
 */
export class LiveSessions {
  private readonly relays = new Map<string, SessionRelay>();
  private timer: NodeJS.Timeout | null = null;
  private expiryTimer: NodeJS.Timeout | null = null;
  private rechecking: Promise<void> | null = null;
  private recheckAgain = false;
  private unlisten: (() => Promise<void>) | null = null;
  private readonly writes = new Set<Promise<unknown>>();

  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
    private readonly log: Logger,
    private readonly opts: LiveSessionsOptions,
  ) {}

  get size(): number {
    return this.relays.size;
  }

  get(sessionId: string): SessionRelay | undefined {
    return this.relays.get(sessionId);
  }

  async start(listen: Listen): Promise<void> {
    this.unlisten = await listen('steward_access', () => this.recheckSoon());
    this.timer = setInterval(() => void this.tick(), this.opts.tickMs);
    this.timer.unref();
  }

  add(relay: SessionRelay): void {
    this.relays.set(relay.sessionId, relay);
  }

  /** Re-checks everyone now, or right after the check in progress (notifications arrive in bursts). */
  recheckSoon(): Promise<void> {
    if (this.rechecking) {
      this.recheckAgain = true;
      return this.rechecking;
    }
    this.rechecking = this.recheck()
      .catch((error: unknown) => this.log.error({ err: error }, 'session access re-check failed'))
      .finally(() => {
        this.rechecking = null;
        if (this.recheckAgain) {
          this.recheckAgain = false;
          void this.recheckSoon();
        }
      });
    return this.rechecking;
  }

  private async recheck(): Promise<void> {
    const relays = [...this.relays.values()].filter((r) => !r.ended);
    if (!relays.length) return;
    const toEnd = await sessionsToEnd(this.db, relays.map((r) => r.sessionId));
    let nextExpiry = Infinity;
    for (const relay of relays) {
      const reason = toEnd.get(relay.sessionId);
      if (reason) {
        relay.end(reason);
        continue;
      }
      const now = new Date();
      const owner = await this.actorFor(relay.owner.tokenId);
      const ownerRole = owner ? sessionRole(owner, { type: 'machine', ...relay.machine }, { isOwner: true, wantsObserver: false }, now) : null;
      if (!ownerRole || ownerRole.role === null || ownerRole.role === 'observer') {
        relay.end(`the owner's access was revoked: ${ownerRole?.join.reason ?? 'their sign-in was revoked or the user disabled'}`);
        continue;
      }
      nextExpiry = Math.min(nextExpiry, expiryOf(owner as Actor, relay.machine.machineId));
      for (const viewer of relay.viewersList()) {
        const actor = viewer.tokenId === relay.owner.tokenId ? owner : await this.actorFor(viewer.tokenId);
        const decided = actor ? sessionRole(actor, { type: 'machine', ...relay.machine }, { isOwner: viewer.role === 'owner', wantsObserver: viewer.role === 'observer' }, now) : null;
        if (!decided || decided.role === null) {
          relay.leave(viewer.participantId, `access revoked: ${decided?.decision.reason ?? 'sign-in revoked or user disabled'}`, ACCESS_REVOKED);
          continue;
        }
        relay.setRole(viewer.participantId, decided.role);
        nextExpiry = Math.min(nextExpiry, expiryOf(actor as Actor, relay.machine.machineId));
      }
    }
    this.scheduleExpiry(nextExpiry);
  }

  private async actorFor(tokenId: string): Promise<Actor | null> {
    const holder = await findTokenHolderById(this.db, tokenId);
    if (!holder) return null;
    return actorOf(holder, await loadGrants(this.db, holder.userId), 'session');
  }

  /** An assignment that ends while someone is attached cuts them at that instant, not at the next tick. */
  private scheduleExpiry(at: number): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    if (!Number.isFinite(at)) return;
    this.expiryTimer = setTimeout(() => void this.recheckSoon(), Math.max(0, at - Date.now()) + 20);
    this.expiryTimer.unref();
  }

  private async tick(): Promise<void> {
    try {
      const now = Date.now();
      for (const relay of this.relays.values()) {
        if (relay.ended) continue;
        if (relay.unattendedSince !== null && now - relay.unattendedSince > this.opts.unattendedMs) {
          relay.end(`nobody was attached for ${Math.round(this.opts.unattendedMs / 1000)} s`);
          continue;
        }
        for (const viewer of relay.stalledViewers(now, this.opts.stalledViewerMs)) {
          relay.leave(viewer.participantId, 'this console did not read the output for too long', 4408);
        }
      }
      await touchRelays(this.db, [...this.relays.values()].filter((r) => !r.ended).map((r) => r.sessionId));
      // Three missed ticks, and never less than a session may take to start (the end user's answer, then the attach).
      const lost = await sweepLostRelays(this.db, Math.max(30, Math.ceil((this.opts.tickMs * 3) / 1000)), STARTING_SECONDS);
      for (const id of lost) this.audit.enqueue({ actorType: 'system', action: 'session.end', outcome: 'success', targetType: 'session', targetId: id, details: { reason: 'the relaying server stopped' } });
      await this.recheckSoon();
    } catch (error) {
      this.log.error({ err: error }, 'live sessions tick failed');
    }
  }

  /** Writes a relay's end (status, reason, audit); the relay is forgotten here. */
  ended(relay: SessionRelay, outcome: { reason: string; exitCode: number | null }): void {
    this.relays.delete(relay.sessionId);
    this.track(relay.recorder.close());
    this.track(
      markEnded(this.db, relay.sessionId, { status: 'ended', reason: outcome.reason, exitCode: outcome.exitCode }).then(async (changed) => {
        if (changed) {
          await rotateAfterSession(this.db, relay.sessionId);
          this.audit.enqueue({
            actorType: 'system',
            action: 'session.end',
            outcome: 'success',
            targetType: 'session',
            targetId: relay.sessionId,
            details: { machineId: relay.machine.machineId, reason: outcome.reason, exitCode: outcome.exitCode, seconds: Math.round((Date.now() - relay.startedAt) / 1000) },
          });
        }
      }),
    );
  }

  left(relay: SessionRelay, viewer: Viewer, reason: string): void {
    this.track(markParticipantLeft(this.db, viewer.participantId, reason, viewer.droppedInputs));
    this.audit.enqueue({
      actorType: 'user',
      actorId: viewer.userId,
      action: 'session.leave',
      outcome: 'success',
      targetType: 'session',
      targetId: relay.sessionId,
      address: viewer.address,
      details: { machineId: relay.machine.machineId, role: viewer.role, reason, droppedInputs: viewer.droppedInputs },
    });
  }

  inputDropped(relay: SessionRelay, viewer: Viewer): void {
    this.audit.enqueue({
      actorType: 'user',
      actorId: viewer.userId,
      action: 'session.input_dropped',
      outcome: 'failure',
      targetType: 'session',
      targetId: relay.sessionId,
      address: viewer.address,
      details: { machineId: relay.machine.machineId, reason: 'an observer cannot type into the session' },
    });
  }

  private track(write: Promise<unknown>): void {
    const tracked = write
      .catch((error: unknown) => this.log.error({ err: error }, 'could not record a session change'))
      .finally(() => this.writes.delete(tracked));
    this.writes.add(tracked);
  }

  /** Ends every session this replica relays (shutdown) and waits until their ends are written. */
  async closeAll(reason: string): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    await this.unlisten?.().catch(() => undefined);
    for (const relay of [...this.relays.values()]) relay.end(reason);
    await this.rechecking;
    await Promise.all([...this.writes]);
  }
}

function expiryOf(actor: Actor, machineId: string): number {
  const expiresAt = actor.grants.assignments.get(machineId)?.expiresAt;
  return expiresAt && expiresAt.getTime() > Date.now() ? expiresAt.getTime() : Infinity;
}
