import type { CommandResult } from '../../protocol/commands.ts';
import { fromBase64, PUBLIC_KEY_BYTES, type KeyPair } from '../../protocol/identity.ts';
import { verifySessionGrant, type SignedSessionGrant } from '../../protocol/session-grant.ts';
import type { ConsentPrompter } from '../consent/consent-prompter.ts';
import type { Logger } from '../log.ts';
import { loadNodePty } from '../platform/native-modules.ts';
import { fileRootsForThisPlatform } from '../platform/file-roots.ts';
import { shellForThisPlatform, type ShellLaunch } from '../platform/shell.ts';
import { FileRoots } from './file-paths.ts';
import type { Enrollment } from '../state/agent-state.ts';
import { obtainConsent } from './session-consent.ts';
import { attachSessionLink } from './session-link.ts';
import { OUTPUT_HIGH_WATER, TerminalSession } from './terminal-session.ts';
import { UsedGrants } from './used-grants.ts';

export interface SessionManagerOptions {
  enrollment: Enrollment;
  keyPair: KeyPair;
  stateDir: string;
  log: Logger;
  /** The shell for sessions whose grant says run-as `remote_support` (refuses where that account cannot be used). */
  remoteSupportShell: () => Promise<ShellLaunch>;
  /** Reaches the logged-on end user for the site's consent policy; null where this platform has no way to. */
  consent: ConsentPrompter | null;
  /** How long the session link may take to attach. */
  attachTimeoutMs?: number;
}

/**
 * The agent's remote sessions. Opening one is the agent's own authorization decision, whatever the server said:
 * the grant must be signed by the pinned server key, name this machine, be within its start window and never have
 * been used; only then is a shell spawned, and it is killed again if the link does not attach.
 */
export class SessionManager {
  private readonly live = new Map<string, TerminalSession>();
  private readonly usedGrants: UsedGrants;
  private readonly serverPublicKey: Uint8Array;

  constructor(private readonly opts: SessionManagerOptions) {
    this.usedGrants = new UsedGrants(opts.stateDir);
    this.serverPublicKey = fromBase64(opts.enrollment.serverPublicKey, PUBLIC_KEY_BYTES) as Uint8Array;
  }

  get size(): number {
    return this.live.size;
  }

  async open(request: { grant: SignedSessionGrant; cols: number; rows: number }): Promise<CommandResult<'session.open'>> {
    const grant = verifySessionGrant(request.grant, { serverPublicKey: this.serverPublicKey, machineId: this.opts.enrollment.machineId, now: new Date() });
    // The run-as account is resolved before the grant is claimed: a refusal here does not burn the session id.
    const launch = grant.runAs === 'remote_support' ? await this.opts.remoteSupportShell() : shellForThisPlatform();
    await this.usedGrants.claim(grant);
    const consent = await obtainConsent(this.opts.consent, grant);
    if (consent.outcome !== 'not_required') this.opts.log.info({ sessionId: grant.sessionId, consent }, 'session consent');
    const pty = loadNodePty().spawn(launch.file, launch.args, {
      name: 'xterm-256color',
      cols: request.cols,
      rows: request.rows,
      cwd: launch.cwd,
      env: launch.env,
      encoding: null,
      ...(launch.uid !== undefined ? { uid: launch.uid, gid: launch.gid } : {}),
    });
    // node-pty emits output from the start and drops what no listener takes: keep what the shell writes while the
    // link is being attached (its first prompt, a banner) for the session, pausing the shell past the high-water mark.
    const early: Buffer[] = [];
    let earlyBytes = 0;
    const buffering = pty.onData((data) => {
      early.push(data as unknown as Buffer);
      earlyBytes += (data as unknown as Buffer).length;
      if (earlyBytes > OUTPUT_HIGH_WATER) pty.pause();
    });
    let link;
    try {
      link = await attachSessionLink({
        enrollment: this.opts.enrollment,
        keyPair: this.opts.keyPair,
        sessionId: grant.sessionId,
        timeoutMs: this.opts.attachTimeoutMs ?? 10_000,
      });
    } catch (error) {
      buffering.dispose();
      pty.kill();
      throw error;
    }
    buffering.dispose();
    const session = new TerminalSession(grant.sessionId, pty, link, this.opts.log, {
      earlyOutput: early,
      endsAt: grant.endsAt ? new Date(grant.endsAt) : null,
      files: { roots: new FileRoots(fileRootsForThisPlatform()), allowed: grant.files },
    });
    this.live.set(grant.sessionId, session);
    void session.done.then(() => this.live.delete(grant.sessionId));
    this.opts.log.info({ sessionId: grant.sessionId, userId: grant.userId, shell: launch.file, runAs: grant.runAs, pid: pty.pid }, 'terminal session started');
    return { shell: launch.file, pid: pty.pid, consent };
  }

  /** Ends every session (agent stopping). */
  closeAll(reason: string): void {
    for (const session of this.live.values()) session.end(reason, 1001);
  }
}
