/**
 * Per-key MVCC history: the unit the key index, the event log, leases and watches share.
 */
import { EMPTY_BYTES, latin1Bytes } from './keys.js';
import type { KeyValue } from './types.js';

/**
 * One stored version of a key: a KeyValue without its key, the value as a latin1 string (one
 * char code 0..255 per byte, as key ids). A string lives in V8's heap, where a 256-byte value
 * costs 272 bytes; as a Uint8Array it also costs an object, an ArrayBuffer and a backing store
 * allocated on its own (about 350 bytes more). Callers get KeyValues made by toKeyValue.
 */
export interface StoredKv {
  readonly createRevision: number;
  readonly modRevision: number;
  /** 0 for a tombstone (see `tombstone`). */
  readonly version: number;
  readonly value: string;
  readonly lease: number;
}

/**
 * Every retained version of one key.
 *
 * Invariants:
 * - `history` is non-empty and strictly ascending by modRevision (a key changes at most once per
 *   revision; the txn duplicate-key rule guarantees it).
 * - An entry with version 0 is a tombstone (see `tombstone`); live entries have version >= 1.
 * - At most one entry has modRevision <= the store's compactRevision; if there is one it is live
 *   and first (compaction keeps exactly the version visible at the compacted revision).
 * - Entries are frozen and never mutated; range results and watch events are copies (toKeyValue).
 */
export interface KeyRecord {
  /** The key as a latin1 string (see keys.ts): also the only copy of its bytes. */
  readonly id: string;
  readonly history: StoredKv[];
}

/** One write of one revision, in execution order (etcd's sub-revision order). */
export interface Change {
  readonly rec: KeyRecord;
  readonly kv: StoredKv;
  /** The live version this write replaced, if any. */
  readonly prev: StoredKv | undefined;
}

/** The DELETE event's kv, stored as the history entry of a deletion. */
export function tombstone(revision: number): StoredKv {
  return Object.freeze({ createRevision: 0, modRevision: revision, version: 0, value: '', lease: 0 });
}

/** What callers see of a stored version: a KeyValue of fresh bytes (the value left out with keysOnly). */
export function toKeyValue(id: string, kv: StoredKv, keysOnly = false): KeyValue {
  return {
    key: latin1Bytes(id),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    value: keysOnly ? EMPTY_BYTES : latin1Bytes(kv.value),
    lease: kv.lease,
  };
}

export function liveKv(rec: KeyRecord): StoredKv | undefined {
  const kv = rec.history[rec.history.length - 1];
  return kv.version === 0 ? undefined : kv;
}

/** Index of the last entry with modRevision <= rev, or -1. */
export function indexAt(history: readonly StoredKv[], rev: number): number {
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
export function versionAt(rec: KeyRecord, rev: number): StoredKv | undefined {
  const h = rec.history;
  const last = h[h.length - 1];
  // Reads at the current revision are the common case: skip the binary search.
  const kv = last.modRevision <= rev ? last : h[indexAt(h, rev)];
  return kv === undefined || kv.version === 0 ? undefined : kv;
}

/** The live version that `kv` (an entry of rec.history) replaced, if any. */
export function previousOf(rec: KeyRecord, kv: StoredKv): StoredKv | undefined {
  const i = indexAt(rec.history, kv.modRevision);
  const p = i > 0 ? rec.history[i - 1] : undefined;
  return p === undefined || p.version === 0 ? undefined : p;
}
