import type { ConsentAnswer } from './consent-prompter.ts';

/** How one dialog ended: an answer, or `failed` (it could not be shown, or its tool broke), which is no answer. */
export type DialogOutcome = ConsentAnswer | 'failed';

/**
 * Several logged-on users may be asked at once: the first Allow or Deny decides. Resolves with that dialog, or null
 * once every dialog ended without a decision (timed out or failed).
 */
export async function firstDecision<T extends { outcome: DialogOutcome }>(outcomes: Promise<T>[]): Promise<(T & { outcome: 'allowed' | 'denied' }) | null> {
  return new Promise((resolve) => {
    let pending = outcomes.length;
    for (const outcome of outcomes) {
      void outcome.then((o) => {
        if (o.outcome === 'allowed' || o.outcome === 'denied') resolve(o as T & { outcome: 'allowed' | 'denied' });
        else if (--pending === 0) resolve(null);
      });
    }
  });
}
