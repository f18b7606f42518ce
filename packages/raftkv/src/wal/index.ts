/**
 * Durable storage for a raftkv member: the write-ahead log of Raft state (wal.ts) and the
 * snapshot store (snapshotter.ts). Everything here touches the disk; the Raft core never does.
 */
export { Wal, DEFAULT_SEGMENT_BYTES } from './wal.js';
export type { WalOptions, WalReadResult } from './wal.js';
export { Snapshotter, SnapshotDataReader, encodeSnapshot, decodeSnapshot } from './snapshotter.js';
export type { SnapshotterOptions } from './snapshotter.js';
export { WalError, isWalError } from './errors.js';
export type { WalErrorCode } from './errors.js';
