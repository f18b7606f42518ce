/**
 * Membership changes, one member at a time.
 *
 * Why one at a time is safe here. Any two configurations that differ by one voter have
 * overlapping majorities, so two leaders can never be elected in one term by "old" and "new"
 * voters. Following the Raft dissertation (§4.1), a configuration takes effect on every node as
 * soon as its entry is in that node's log (not when it commits): a candidate always counts votes
 * by the newest configuration in its own log. The leader keeps the gap between any two nodes'
 * configurations to at most one change because:
 *   1. it proposes a change only when every earlier change in its log is committed, and
 *   2. it proposes none until it has committed an entry of its own term, which closes the hole
 *      found in the original single-server algorithm (a stale leader's uncommitted change
 *      surviving next to a new leader's change).
 * An uncommitted change that is overwritten in a follower's log is rolled back with it
 * (ConfigHistory.truncateFrom). A leader that removes itself keeps leading, without counting its
 * own vote, until the change commits, then steps down.
 *
 * Changes are validated on a copy (applyConfChange returns a new ConfState or an error string)
 * so a bad change can never leave a half-applied membership.
 */
import type { ConfChange, ConfState, Entry, NodeId } from './types.js';

export function applyConfChange(cs: ConfState, cc: ConfChange): ConfState | string {
  if (!Number.isSafeInteger(cc.nodeId) || cc.nodeId <= 0) return `invalid member id ${cc.nodeId}`;
  const isVoter = cs.voters.includes(cc.nodeId);
  const isLearner = cs.learners.includes(cc.nodeId);
  switch (cc.type) {
    case 'addNode':
      if (isVoter) return `member ${cc.nodeId} is already a voter`;
      return {
        voters: [...cs.voters, cc.nodeId].sort((a, b) => a - b),
        learners: cs.learners.filter((id) => id !== cc.nodeId),
      };
    case 'addLearner':
      if (isVoter) return `member ${cc.nodeId} is a voter; demoting a voter to a learner is not supported`;
      if (isLearner) return `member ${cc.nodeId} is already a learner`;
      return { voters: cs.voters, learners: [...cs.learners, cc.nodeId].sort((a, b) => a - b) };
    case 'removeNode': {
      if (!isVoter && !isLearner) return `member ${cc.nodeId} is not in the cluster`;
      const voters = cs.voters.filter((id) => id !== cc.nodeId);
      if (isVoter && voters.length === 0) return 'cannot remove the last voter';
      return { voters, learners: cs.learners.filter((id) => id !== cc.nodeId) };
    }
  }
}

// Wire form of a ConfChange inside an entry: [u8 type][f64 nodeId][context...]. Fixed layout,
// no dependency, and stable across versions.
const TYPE_CODES = { addNode: 1, addLearner: 2, removeNode: 3 } as const;
const TYPE_NAMES = ['', 'addNode', 'addLearner', 'removeNode'] as const;

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const out = new Uint8Array(9 + cc.context.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, TYPE_CODES[cc.type]);
  view.setFloat64(1, cc.nodeId);
  out.set(cc.context, 9);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.length < 9) throw new Error('conf change: entry too short');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const code = view.getUint8(0);
  const type = TYPE_NAMES[code];
  if (!type) throw new Error(`conf change: unknown type ${code}`);
  return { type, nodeId: view.getFloat64(1), context: data.slice(9) };
}

/**
 * The configurations in a node's log: the one in its snapshot (or empty), then one per
 * conf-change entry after it. The newest is the one in force.
 */
export class ConfigHistory {
  private base: ConfState;
  private changes: { index: number; conf: ConfState }[] = [];

  constructor(base: ConfState) {
    this.base = base;
  }

  current(): ConfState {
    return this.changes.length > 0 ? this.changes[this.changes.length - 1].conf : this.base;
  }

  /** Index of the newest conf-change entry (0 if none since the snapshot). */
  lastChangeIndex(): number {
    return this.changes.length > 0 ? this.changes[this.changes.length - 1].index : 0;
  }

  reset(base: ConfState): void {
    this.base = base;
    this.changes = [];
  }

  /** Entries from `index` on were removed from the log: their changes are undone. */
  truncateFrom(index: number): void {
    while (this.changes.length > 0 && this.changes[this.changes.length - 1].index >= index) this.changes.pop();
  }

  /** Scans newly appended entries. An invalid change in the log (should not happen: the leader
   *  validates) is skipped on every node alike, so all nodes agree. */
  observe(entries: readonly Entry[]): boolean {
    let changed = false;
    for (const e of entries) {
      if (e.type !== 'confChange') continue;
      this.truncateFrom(e.index);
      const next = applyConfChange(this.current(), decodeConfChange(e.data));
      if (typeof next === 'string') continue;
      this.changes.push({ index: e.index, conf: next });
      changed = true;
    }
    return changed;
  }

  /** The configuration in force at log index `index` (for the snapshot taken there). Only
   *  meaningful for indexes at or above the last compact() point. */
  at(index: number): ConfState {
    for (let i = this.changes.length - 1; i >= 0; i--) if (this.changes[i].index <= index) return this.changes[i].conf;
    return this.base;
  }

  /** Forgets history at or below `applied` (it can never be truncated, and no snapshot will be
   *  taken below it), keeping the configuration in force then. */
  compact(applied: number): void {
    let i = 0;
    while (i < this.changes.length && this.changes[i].index <= applied) i++;
    if (i > 0) {
      this.base = this.changes[i - 1].conf;
      this.changes = this.changes.slice(i);
    }
  }
}

export function isVoter(cs: ConfState, id: NodeId): boolean {
  return cs.voters.includes(id);
}
