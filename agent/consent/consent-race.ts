import { ConsentUnavailable, type ConsentAnswer } from './consent-prompter.ts';

/** How one dialog ended: an answer, or `failed` (it could not be shown, or its tool broke), which is no answer. */
export type DialogOutcome = ConsentAnswer | 'failed';

/**
 * Several logged-on users may be asked at once: the first Allow or Deny decides. When every dialog ended without a
 * decision, it is `timeout` — unless none could even be shown, which is no way to ask at all (ConsentUnavailable,
 * with `unavailable` as the reason): a dialog that never appeared must not count as an unanswered one.
 */
export async function decideAsk<T extends { outcome: DialogOutcome; user: { name: string } }>(
  outcomes: Promise<T>[],
  unavailable: string,
): Promise<{ answer: ConsentAnswer; by: string | null }> {
  const decided = await new Promise<T | null>((resolve) => {
    let pending = outcomes.length;
    for (const outcome of outcomes) {
      void outcome.then((o) => {
        if (o.outcome === 'allowed' || o.outcome === 'denied') resolve(o);
        else if (--pending === 0) resolve(null);
      });
    }
  });
  if (decided) return { answer: decided.outcome as ConsentAnswer, by: decided.user.name };
  const all = await Promise.all(outcomes);
  if (all.every((o) => o.outcome === 'failed')) throw new ConsentUnavailable(unavailable);
  return { answer: 'timeout', by: null };
}
