import { CONSENT_TIMEOUT_MS, type ConsentOutcome, type SessionGrantBody } from '../../protocol/session-grant.ts';
import { ConsentUnavailable, type ConsentPrompter, type ConsentText } from '../consent/consent-prompter.ts';

/** The end user said no, did not answer, or could not be asked: the session does not start. */
export class ConsentRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConsentRefused';
  }
}

/**
 * The end user's part before a shell starts, as the signed grant says. `notify` never blocks a session: it tells
 * whoever is logged on and reports who it reached. `require` asks, and anything but Allow — Deny, no answer, no way
 * to ask — refuses; with nobody logged on, the grant's `whenNobody` decides. This runs on the agent, from the signed
 * grant, so a server cannot skip the end user's say by leaving it out of its own checks.
 */
export async function obtainConsent(prompter: ConsentPrompter | null, grant: SessionGrantBody): Promise<ConsentOutcome> {
  const { mode, requester, whenNobody } = grant.consent;
  if (mode === 'none') return { outcome: 'not_required', users: [] };
  if (!prompter) throw new ConsentRefused('this agent cannot reach the logged-on user on this platform, and the site asks for their consent or a notice');
  const users = await prompter.interactiveUsers();
  if (mode === 'notify') {
    if (users.length === 0) return { outcome: 'nobody_logged_on', users: [] };
    const reached = await prompter.notify(users, noticeText(requester));
    return reached.length > 0 ? { outcome: 'notified', users: unique(reached.map((u) => u.name)) } : { outcome: 'not_delivered', users: unique(users.map((u) => u.name)) };
  }
  if (users.length === 0) {
    if (whenNobody === 'allow') return { outcome: 'nobody_logged_on', users: [] };
    throw new ConsentRefused('nobody is logged on to give consent, and the site does not allow sessions without it');
  }
  let answer;
  try {
    answer = await prompter.ask(users, questionText(requester), CONSENT_TIMEOUT_MS);
  } catch (error) {
    if (error instanceof ConsentUnavailable) throw new ConsentRefused(`the logged-on user could not be asked: ${error.message}`);
    throw error;
  }
  if (answer.answer === 'allowed') return { outcome: 'allowed', users: answer.by ? [answer.by] : [] };
  if (answer.answer === 'denied') throw new ConsentRefused(`${answer.by ?? 'the logged-on user'} denied the session`);
  throw new ConsentRefused(`the logged-on user did not answer within ${CONSENT_TIMEOUT_MS / 1000} s`);
}

const noticeText = (requester: string): ConsentText => ({
  title: 'Remote support session',
  message: `${requester} is starting a remote support session (a command-line terminal) on this computer. It is recorded.`,
});

const questionText = (requester: string): ConsentText => ({
  title: 'Allow remote support?',
  message: `${requester} asks to start a remote support session (a command-line terminal) on this computer. It is recorded. Allow it? Without an answer within ${CONSENT_TIMEOUT_MS / 1000} seconds it is refused.`,
});

const unique = (names: string[]) => [...new Set(names)];
