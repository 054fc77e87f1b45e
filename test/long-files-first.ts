import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Starts the few test files that take minutes (crash-safety runs, packaged-agent builds) first, so on a clean
 * checkout — no timing cache yet — two workers are not left with one long file at the very end.
 */
const LONG = [/credentials-crash-/, /installers\/sea-linux/, /installers\/deb/, /agent-presence/, /agent-impersonation/];

export default class LongFilesFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const i = LONG.findIndex((pattern) => pattern.test(f.moduleId));
      return i === -1 ? LONG.length : i;
    };
    return sorted.map((f, i) => ({ f, i })).sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i).map(({ f }) => f);
  }
}
