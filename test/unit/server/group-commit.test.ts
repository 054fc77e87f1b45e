import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../../server/db/group-commit.ts';

/** A write that records each call's items and can be told to refuse some of them, like a transaction would. */
function recordingWrite(opts: { refuse?: (n: number) => boolean; delayMs?: number } = {}) {
  const calls: number[][] = [];
  const write = async (items: number[]): Promise<string[]> => {
    calls.push([...items]);
    await new Promise((r) => setTimeout(r, opts.delayMs ?? 5));
    const bad = items.find((n) => opts.refuse?.(n));
    if (bad !== undefined) throw new Error(`item ${bad} refused`);
    return items.map((n) => `ok ${n}`);
  };
  return { calls, write };
}

describe('GroupCommit', () => {
  it('writes a lone submission at once, in a call of its own', async () => {
    const { calls, write } = recordingWrite();
    await expect(new GroupCommit(write).submit(7)).resolves.toBe('ok 7');
    expect(calls).toEqual([[7]]);
  });

  it('groups what is submitted while a write runs into the next call, each caller getting its own result', async () => {
    const { calls, write } = recordingWrite({ delayMs: 20 });
    const group = new GroupCommit(write);
    const first = group.submit(1);
    await new Promise((r) => setTimeout(r, 5)); // the first write is running now
    const rest = [2, 3, 4, 5].map((n) => group.submit(n));
    expect(await Promise.all([first, ...rest])).toEqual(['ok 1', 'ok 2', 'ok 3', 'ok 4', 'ok 5']);
    expect(calls).toEqual([[1], [2, 3, 4, 5]]);
  });

  it('submissions of one turn of the event loop share the first write', async () => {
    const { calls, write } = recordingWrite();
    const group = new GroupCommit(write);
    await Promise.all([1, 2, 3].map((n) => group.submit(n)));
    expect(calls).toEqual([[1, 2, 3]]);
  });

  it('never writes more than maxBatch items in one call', async () => {
    const { calls, write } = recordingWrite();
    const group = new GroupCommit(write, 4);
    await Promise.all(Array.from({ length: 10 }, (_, i) => group.submit(i)));
    expect(calls.map((c) => c.length)).toEqual([4, 4, 2]);
    expect(calls.flat()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('a refused item fails alone: its batch is written again item by item and the others commit', async () => {
    const { calls, write } = recordingWrite({ refuse: (n) => n === 3 });
    const group = new GroupCommit(write);
    const results = await Promise.allSettled([1, 2, 3, 4].map((n) => group.submit(n)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((results[2] as PromiseRejectedResult).reason.message).toBe('item 3 refused');
    expect(calls).toEqual([[1, 2, 3, 4], [1], [2], [3], [4]]);
  });

  it('when the database refuses everything, every caller hears it', async () => {
    const { write } = recordingWrite({ refuse: () => true });
    const group = new GroupCommit(write);
    const results = await Promise.allSettled([1, 2].map((n) => group.submit(n)));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });

  it('a write that returns the wrong number of results fails its callers instead of misattributing them', async () => {
    const group = new GroupCommit(async (items: number[]) => items.slice(1).map(String));
    await expect(group.submit(1)).rejects.toThrow('0 results for 1 items');
  });

  it('keeps working after a failed batch', async () => {
    let fail = true;
    const group = new GroupCommit(async (items: number[]) => {
      if (fail) throw new Error('down');
      return items.map((n) => n * 2);
    });
    await expect(group.submit(1)).rejects.toThrow('down');
    fail = false;
    await expect(group.submit(2)).resolves.toBe(4);
  });
});
