/**
 * A node's view of its log: the durable part (LogStorage) followed by the unstable part
 * (entries, or a snapshot, the host has not yet reported durable), plus the commit and apply
 * cursors. Part of the unstable log may be "in progress": handed to the host in a Ready whose
 * write has not finished (see RawNode.applied); it is not handed out again.
 *
 * Invariants: applied <= committed; committed <= lastIndex(); unstable.offset <= storage.lastIndex()+1.
 */
import type { Entry, Snapshot } from './types.js';
import { limitSize, StorageError, type LogStorage } from './storage.js';

class Unstable {
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];
  /** Index of entries[0]. */
  offset: number;
  /** Index of the first entry not yet handed to the host; entries before it are being written. */
  offsetInProgress: number;

  constructor(offset: number) {
    this.offset = offset;
    this.offsetInProgress = offset;
  }

  /** Entries the host has not been handed yet. */
  entriesToPersist(): Entry[] {
    return this.entries.slice(this.offsetInProgress - this.offset);
  }

  hasEntriesToPersist(): boolean {
    return this.offsetInProgress < this.offset + this.entries.length;
  }

  /**
   * The host took entries up to (i, t) for writing. If they were replaced since they were handed
   * out, nothing is marked: the replacements still need writing.
   */
  acceptInProgress(i: number, t: number): void {
    if (i < this.offsetInProgress || this.maybeTerm(i) !== t) return;
    this.offsetInProgress = i + 1;
  }

  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.metadata.index + 1 : undefined;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot ? this.snapshot.metadata.index : undefined;
  }

  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      if (this.snapshot && this.snapshot.metadata.index === i) return this.snapshot.metadata.term;
      return undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || i > last) return undefined;
    return this.entries[i - this.offset].term;
  }

  /** Entries up to (i, t) reached disk. A mismatch means they were overwritten meanwhile: keep them. */
  stableTo(i: number, t: number): void {
    const gt = this.maybeTerm(i);
    if (gt === undefined || gt !== t || i < this.offset) return;
    this.entries = this.entries.slice(i + 1 - this.offset);
    this.offset = i + 1;
    if (this.offsetInProgress < this.offset) this.offsetInProgress = this.offset;
  }

  stableSnapTo(i: number): void {
    if (this.snapshot && this.snapshot.metadata.index === i) this.snapshot = undefined;
  }

  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1;
    this.offsetInProgress = this.offset;
    this.entries = [];
    this.snapshot = s;
  }

  truncateAndAppend(ents: readonly Entry[]): void {
    const after = ents[0].index;
    if (after === this.offset + this.entries.length) {
      for (const e of ents) this.entries.push(e);
    } else if (after <= this.offset) {
      // Replaces the whole unstable part, and some of what the host already persisted.
      this.offset = after;
      this.offsetInProgress = after;
      this.entries = ents.slice();
    } else {
      this.entries = this.entries.slice(0, after - this.offset);
      for (const e of ents) this.entries.push(e);
      // The replaced entries may be in a write already; the new ones must be written after it.
      if (this.offsetInProgress > after) this.offsetInProgress = after;
    }
  }

  slice(lo: number, hi: number): Entry[] {
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}

export class RaftLog {
  readonly unstable: Unstable;
  /** Highest index known to be stored on a quorum. */
  committed: number;
  /** Highest index the host has applied to its state machine. */
  applied: number;

  constructor(readonly storage: LogStorage, applied = 0) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = Math.max(first - 1, applied);
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Last index the host has persisted (what the leader may count for itself). */
  stableLastIndex(): number {
    if (this.unstable.snapshot) return 0;
    return Math.min(this.unstable.offset - 1, this.storage.lastIndex());
  }

  /** Term of entry i, or undefined if it is compacted or beyond the end. */
  term(i: number): number | undefined {
    const dummy = this.firstIndex() - 1;
    if (i < dummy || i > this.lastIndex()) return undefined;
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    try {
      return this.storage.term(i);
    } catch (err) {
      if (err instanceof StorageError) return undefined;
      throw err;
    }
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    if (t === undefined) throw new Error(`raft log: no term for the last index ${this.lastIndex()}`);
    return t;
  }

  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /** Raft §5.4.1: is a log ending at (lasti, term) at least as up to date as ours? */
  isUpToDate(lasti: number, term: number): boolean {
    const ourTerm = this.lastTerm();
    return term > ourTerm || (term === ourTerm && lasti >= this.lastIndex());
  }

  /**
   * Follower side of AppendEntries. Returns the index of the last new entry, or undefined when
   * the log does not contain (index, logTerm), i.e. the append must be rejected.
   * `onTruncate(i)` is called when entries from i on are replaced.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: readonly Entry[], onTruncate: (from: number) => void): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) throw new Error(`raft log: entry ${ci} conflicts with committed entry (committed ${this.committed})`);
      const rest = ents.slice(ci - (index + 1));
      if (ci <= this.lastIndex()) onTruncate(ci);
      this.append(rest);
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** Appends after the last entry or overwrites an uncommitted suffix. Returns the new last index. */
  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0].index - 1;
    if (after < this.committed) throw new Error(`raft log: append at ${after + 1} is below committed ${this.committed}`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * The index of the first entry that is new or conflicts with ours (0 if all are present).
   * Entries must be contiguous.
   */
  private findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * For fast backtracking: the largest index <= `index` whose term is <= `term`. The leader
   * can skip every entry of a term the follower does not have in one round trip.
   */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    for (; i > 0; i--) {
      const t = this.term(i);
      if (t === undefined || t <= term) break;
    }
    return i;
  }

  hasNextCommittedEntries(): boolean {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    return this.committed + 1 > lo;
  }

  /** Committed entries the host has not applied yet, at most maxBytes (at least one). */
  nextCommittedEntries(maxBytes: number): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    const hi = this.committed + 1;
    if (hi <= lo) return [];
    return this.slice(lo, hi, maxBytes);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  commitTo(toCommit: number): void {
    if (toCommit <= this.committed) return;
    if (toCommit > this.lastIndex()) {
      throw new Error(`raft log: commit ${toCommit} is out of range (last index ${this.lastIndex()})`);
    }
    this.committed = toCommit;
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    if (i > this.committed || i < this.applied) {
      throw new Error(`raft log: applied ${i} is out of range [${this.applied}, ${this.committed}]`);
    }
    this.applied = i;
  }

  stableTo(i: number, t: number): void {
    this.unstable.stableTo(i, t);
  }

  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }

  /** Commit by quorum count is only allowed for an entry of the current term (Raft §5.4.2). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.term(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  /** Entries from `i` on, at most maxBytes; undefined if `i` is compacted (send a snapshot). */
  entriesFrom(i: number, maxBytes: number): Entry[] | undefined {
    if (i < this.firstIndex()) return undefined;
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxBytes);
  }

  /** Every entry in [lo, hi), from storage and the unstable part, limited to maxBytes. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo < this.firstIndex()) throw new Error(`raft log: slice from ${lo} is compacted (first ${this.firstIndex()})`);
    if (hi > this.lastIndex() + 1) throw new Error(`raft log: slice to ${hi} is out of range (last ${this.lastIndex()})`);
    if (lo === hi) return [];
    let ents: Entry[] = [];
    const uoff = this.unstable.offset;
    if (lo < uoff) {
      ents = this.storage.entries(lo, Math.min(hi, uoff), maxBytes);
      if (ents.length < Math.min(hi, uoff) - lo) return ents; // hit the size limit
    }
    if (hi > uoff) {
      const u = this.unstable.slice(Math.max(lo, uoff), hi);
      ents = ents.length > 0 ? ents.concat(u) : u;
    }
    return limitSize(ents, maxBytes);
  }
}
