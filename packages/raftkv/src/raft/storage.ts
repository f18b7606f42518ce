/**
 * The read side of a node's persisted log, as the Raft core sees it.
 *
 * Contract: everything a LogStorage returns is durable (the host writes to the WAL and fsyncs
 * before appending to it). The core never writes to it; the host does, between Ready batches.
 * MemoryStorage is the implementation every host uses: the WAL is the durable copy and is
 * replayed into a MemoryStorage at start-up, like etcd's raftexample.
 */
import type { ConfState, Entry, HardState, Snapshot } from './types.js';
import { EMPTY_HARD_STATE, EMPTY_SNAPSHOT } from './types.js';

export type StorageErrorCode =
  | 'COMPACTED' // the index is below the first retained entry
  | 'UNAVAILABLE' // the index is beyond the last entry
  | 'SNAPSHOT_OUT_OF_DATE'; // applying a snapshot older than the current one

export class StorageError extends Error {
  constructor(readonly code: StorageErrorCode, message: string) {
    super(message);
    this.name = 'StorageError';
  }
}

export interface LogStorage {
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries in [lo, hi), cut short once their size passes maxBytes (at least one is returned). */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of entry i; i may be firstIndex()-1 (the snapshot's last entry). */
  term(i: number): number;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

export function entrySize(e: Entry): number {
  return e.data.length + 24;
}

/** Keeps entries up to `maxBytes` total, but always the first one. */
export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length === 0) return ents;
  let size = entrySize(ents[0]);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entrySize(ents[n]);
    if (size > maxBytes) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}

export class MemoryStorage implements LogStorage {
  private hardState: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot = EMPTY_SNAPSHOT;
  /** ents[0] is a dummy standing for the snapshot's last entry (its index and term). */
  private ents: Entry[] = [{ index: 0, term: 0, type: 'normal', data: new Uint8Array(0) }];

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  private get offset(): number {
    return this.ents[0].index;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.ents.length - 1;
  }

  term(i: number): number {
    if (i < this.offset) throw new StorageError('COMPACTED', `entry ${i} is compacted (first is ${this.firstIndex()})`);
    if (i > this.lastIndex()) throw new StorageError('UNAVAILABLE', `entry ${i} is beyond the last (${this.lastIndex()})`);
    return this.ents[i - this.offset].term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.offset) throw new StorageError('COMPACTED', `entry ${lo} is compacted (first is ${this.firstIndex()})`);
    if (hi > this.lastIndex() + 1) {
      throw new StorageError('UNAVAILABLE', `entries up to ${hi - 1} requested, last is ${this.lastIndex()}`);
    }
    return limitSize(this.ents.slice(lo - this.offset, hi - this.offset), maxBytes);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces the whole log with a snapshot received from the leader (or loaded at start-up). */
  applySnapshot(s: Snapshot): void {
    if (s.metadata.index <= this.snap.metadata.index && this.snap.metadata.index !== 0) {
      throw new StorageError('SNAPSHOT_OUT_OF_DATE', `snapshot ${s.metadata.index} is not newer than ${this.snap.metadata.index}`);
    }
    this.snap = s;
    this.ents = [{ index: s.metadata.index, term: s.metadata.term, type: 'normal', data: new Uint8Array(0) }];
  }

  /**
   * Records a snapshot the host took of its state machine at `index` (<= applied). Entries are
   * kept; call compact() to drop them.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) {
      throw new StorageError('SNAPSHOT_OUT_OF_DATE', `snapshot ${index} is not newer than ${this.snap.metadata.index}`);
    }
    if (index > this.lastIndex()) throw new Error(`createSnapshot: ${index} is beyond the last entry ${this.lastIndex()}`);
    this.snap = { metadata: { index, term: this.term(index), confState }, data };
    return this.snap;
  }

  /**
   * Replaces the bytes of the current snapshot, if it is still the one at `metadata`, with
   * `placeholder`, keeping its metadata. For a host that saved them to a file it can read back
   * when a follower needs the snapshot, and would rather not hold a copy of its whole state in
   * memory until the next one.
   */
  dropSnapshotData(metadata: { index: number; term: number }, placeholder: Uint8Array): void {
    if (this.snap.metadata.index === metadata.index && this.snap.metadata.term === metadata.term) this.snap = { metadata: this.snap.metadata, data: placeholder };
  }

  /** Drops entries before `compactIndex`; it becomes the new dummy. */
  compact(compactIndex: number): void {
    if (compactIndex <= this.offset) return;
    if (compactIndex > this.lastIndex()) throw new Error(`compact ${compactIndex} is beyond the last entry ${this.lastIndex()}`);
    const i = compactIndex - this.offset;
    const dummy: Entry = { index: this.ents[i].index, term: this.ents[i].term, type: 'normal', data: new Uint8Array(0) };
    this.ents = [dummy, ...this.ents.slice(i + 1)];
  }

  /** Appends durable entries; an entry at an existing index replaces it and everything after. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0].index + entries.length - 1;
    if (last < first) return; // all already compacted away
    let ents = entries;
    if (first > ents[0].index) ents = ents.slice(first - ents[0].index);
    const at = ents[0].index - this.offset;
    if (at > this.ents.length) {
      throw new Error(`storage append: missing entries between ${this.lastIndex()} and ${ents[0].index}`);
    }
    if (at < this.ents.length) this.ents.length = at;
    for (const e of ents) this.ents.push(e);
  }
}
