import { describe, expect, it } from 'vitest';
import { committedIndex, majority, voteResult } from './quorum.js';
import { seededRandom } from './simulation.js';

/** The definition, spelled out: the largest index that at least a majority has reached. */
function naiveCommitted(acks: number[]): number {
  let best = 0;
  for (const candidate of acks) {
    const count = acks.filter((a) => a >= candidate).length;
    if (count >= majority(acks.length) && candidate > best) best = candidate;
  }
  return best;
}

function naiveVote(n: number, votes: (boolean | undefined)[]): 'won' | 'lost' | 'pending' {
  const yes = votes.filter((v) => v === true).length;
  const undecided = votes.filter((v) => v === undefined).length;
  if (yes >= majority(n)) return 'won';
  if (yes + undecided < majority(n)) return 'lost';
  return 'pending';
}

describe('quorum maths against a naive oracle', () => {
  it('agrees on committed index and vote outcome for 20,000 random configurations', () => {
    const rand = seededRandom(42);
    for (let t = 0; t < 20_000; t++) {
      const n = 1 + Math.floor(rand() * 7);
      const ids = Array.from({ length: n }, (_, i) => i + 1);
      const acks = ids.map(() => Math.floor(rand() * 10));
      expect(committedIndex(ids, (id) => acks[id - 1])).toBe(naiveCommitted(acks));
      const votes = ids.map(() => (rand() < 0.33 ? true : rand() < 0.5 ? false : undefined));
      const m = new Map<number, boolean>();
      ids.forEach((id, i) => { if (votes[i] !== undefined) m.set(id, votes[i]!); });
      // A non-voter's vote (id 99) must never count.
      m.set(99, true);
      expect(voteResult(ids, m)).toBe(naiveVote(n, votes));
    }
  });

  it('has no quorum without voters', () => {
    expect(committedIndex([], () => 5)).toBe(0);
  });
});
