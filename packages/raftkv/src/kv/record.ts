/**
 * Per-key MVCC history: the unit the key index, the event log, leases and watches share.
 */
import { EMPTY_BYTES } from './keys.js';
import type { KeyValue } from './types.js';

/**
 * Every retained version of one key.
 *
 * Invariants:
 * - `history` is non-empty and strictly ascending by modRevision (a key changes at most once per
 *   revision; the txn duplicate-key rule guarantees it).
 * - An entry with version 0 is a tombstone (see `tombstone`); live entries have version >= 1.
 * - At most one entry has modRevision <= the store's compactRevision; if there is one it is live
 *   and first (compaction keeps exactly the version visible at the compacted revision).
 * - Entries are frozen and shared with callers (range results, watch events): never mutated.
 */
export interface KeyRecord {
  /** The key as a latin1 string (see keys.ts). */
  readonly id: string;
  /** The key bytes; every version's `kv.key` is this same array. */
  readonly key: Uint8Array;
  readonly history: KeyValue[];
}

/** One write of one revision, in execution order (etcd's sub-revision order). */
export interface Change {
  readonly rec: KeyRecord;
  readonly kv: KeyValue;
  /** The live version this write replaced, if any. */
  readonly prev: KeyValue | undefined;
}

export function isTombstone(kv: KeyValue): boolean {
  return kv.version === 0;
}

/** The DELETE event's kv, stored as the history entry of a deletion. */
export function tombstone(key: Uint8Array, revision: number): KeyValue {
  return Object.freeze({ key, createRevision: 0, modRevision: revision, version: 0, value: EMPTY_BYTES, lease: 0 });
}

export function liveKv(rec: KeyRecord): KeyValue | undefined {
  const kv = rec.history[rec.history.length - 1];
  return kv.version === 0 ? undefined : kv;
}

/** Index of the last entry with modRevision <= rev, or -1. */
export function indexAt(history: readonly KeyValue[], rev: number): number {
  let lo = 0;
  let hi = history.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (history[mid].modRevision <= rev) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** The live version at `rev`, or undefined if the key did not exist then. */
export function versionAt(rec: KeyRecord, rev: number): KeyValue | undefined {
  const h = rec.history;
  const last = h[h.length - 1];
  // Reads at the current revision are the common case: skip the binary search.
  const kv = last.modRevision <= rev ? last : h[indexAt(h, rev)];
  return kv === undefined || kv.version === 0 ? undefined : kv;
}

/** The live version that `kv` (an entry of rec.history) replaced, if any. */
export function previousOf(rec: KeyRecord, kv: KeyValue): KeyValue | undefined {
  const i = indexAt(rec.history, kv.modRevision);
  const p = i > 0 ? rec.history[i - 1] : undefined;
  return p === undefined || p.version === 0 ? undefined : p;
}
