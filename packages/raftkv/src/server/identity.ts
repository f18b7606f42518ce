/**
 * Member and cluster ids. Like etcd, ids are derived from what defines a member (its peer URLs)
 * and the cluster token, so every member computes the same ids from the same flags, and a member
 * that joins later computes its own id exactly as `member add` did on the leader.
 *
 * Ids are kept below 2^52 so they survive JSON numbers and msgpack doubles unchanged.
 */
import { createHash } from 'node:crypto';

function hash52(text: string): number {
  const digest = createHash('sha256').update(text).digest();
  // 52 bits from the first 7 bytes; never 0 (0 means "none" in Raft).
  const hi = digest.readUInt32BE(0) & 0x000fffff;
  const lo = digest.readUInt32BE(4);
  const id = hi * 2 ** 32 + lo;
  return id === 0 ? 1 : id;
}

export function memberIdFor(peerURLs: readonly string[], clusterToken: string): number {
  return hash52(`member|${[...peerURLs].sort().join(',')}|${clusterToken}`);
}

export function clusterIdFor(memberIds: readonly number[], clusterToken: string): number {
  return hash52(`cluster|${[...memberIds].sort((a, b) => a - b).join(',')}|${clusterToken}`);
}

/** etcdctl prints ids in hex; accept hex (with or without 0x) or decimal strings. */
export function formatId(id: number): string {
  return id.toString(16);
}
