/**
 * Majority maths. Kept apart from the state machine so it can be checked against a naive
 * oracle (quorum.test.ts).
 */
import type { NodeId } from './types.js';

export function majority(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/**
 * The highest index that a majority of `voters` has acknowledged. With no voters there is no
 * quorum to speak of, so nothing can be committed: 0.
 */
export function committedIndex(voters: readonly NodeId[], acked: (id: NodeId) => number): number {
  const n = voters.length;
  if (n === 0) return 0;
  // Insertion sort, descending, into a reused array: this runs on every acknowledgement a leader
  // receives, and a fresh array sorted with a comparator was a leading source of its garbage.
  const matches = scratch;
  matches.length = n;
  for (let i = 0; i < n; i++) {
    const v = acked(voters[i]);
    let j = i;
    for (; j > 0 && matches[j - 1] < v; j--) matches[j] = matches[j - 1];
    matches[j] = v;
  }
  return matches[majority(n) - 1];
}

const scratch: number[] = [];

export type VoteResult = 'won' | 'lost' | 'pending';

/** `votes` maps voter → granted; ids not in `voters` are ignored (a learner's vote never counts). */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const need = majority(voters.length);
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  if (granted >= need) return 'won';
  if (voters.length - rejected < need) return 'lost';
  return 'pending';
}
