/**
 * The replicated key-value state machine: MVCC store, watches, leases and snapshots. The Raft
 * host applies committed commands to a KvStore; the HTTP layer validates requests with
 * KvStore.validate before proposing them and serves reads with range() after a ReadIndex.
 */
export { KvStore, prefixEnd } from './store.js';
export type { WatchHandle } from './store.js';
export * from './types.js';
