/**
 * Telling the logged-in end user about a remote session, or asking them first (the site's desktop consent policy).
 * One interface, one implementation per OS, chosen in `agent/platform/`. The agent runs as root / SYSTEM, so every
 * implementation reaches into the user's own session (their tty, their graphical session through its display and
 * bus, their Windows terminal-services session, their macOS GUI bootstrap namespace) rather than showing anything
 * in its own.
 */

/** Someone logged on to the endpoint whom a notice can reach. */
export interface InteractiveUser {
  /** Account name as the OS reports it (DOMAIN\name on Windows). */
  name: string;
  /** Where they are: a tty (`pts/3`), an X display (`:0`), a Windows session id, `console` on macOS. */
  session: string;
  /** A graphical session, where a dialog can be shown; otherwise a text terminal, which can only be written to. */
  graphical: boolean;
}

export interface ConsentText {
  title: string;
  message: string;
}

export type ConsentAnswer = 'allowed' | 'denied' | 'timeout';

export interface ConsentPrompter {
  /** Everyone logged on right now (text and graphical sessions); empty when nobody is. */
  interactiveUsers(): Promise<InteractiveUser[]>;
  /** Shows the notice to each user; answers with the users it really reached (a failed delivery is left out). */
  notify(users: InteractiveUser[], text: ConsentText): Promise<InteractiveUser[]>;
  /**
   * Asks the users to allow the session; the first answer wins and the other dialogs are closed. `timeout` when
   * nobody answers within `timeoutMs`. Throws ConsentUnavailable when none of them can be asked (no graphical
   * session, no dialog tool): the caller fails closed.
   */
  ask(users: InteractiveUser[], text: ConsentText, timeoutMs: number): Promise<{ answer: ConsentAnswer; by: string | null }>;
}

export class ConsentUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConsentUnavailable';
  }
}
