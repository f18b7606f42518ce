/**
 * What a normal Raft entry carries: a state-machine command plus the id of the proposal that
 * the proposing member waits on. Membership entries carry a MemberContext in their context.
 * msgpackr keeps Uint8Array keys and values as binary (no base64 inflation in the log).
 */
import { Packr } from 'msgpackr';
import type { KvCommand } from '../kv/types.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export type EntryPayload =
  /** A client command. `p` is the proposal id, meaningful only to the member that proposed it. */
  | { p: string; kv: KvCommand }
  /** A member publishes its name and client URLs after it starts (etcd does the same). */
  | { p: string; attrs: { id: number; name: string; clientURLs: string[] } };

/**
 * A copy of its own, not pack()'s result: that is a view into the buffer msgpackr packs
 * everything into (one per process, peer frames included), and an entry kept in the Raft log
 * would pin all of it; the log's memory would then be several times the size of its entries.
 */
export function encodePayload(p: EntryPayload): Uint8Array {
  return new Uint8Array(packr.pack(p));
}

export function decodePayload(data: Uint8Array): EntryPayload {
  return packr.unpack(transientView(data)) as EntryPayload;
}

/**
 * msgpackr caches a DataView on whatever it unpacks: decoding an entry's data in place would
 * leave one (80 bytes and a property slot) on every entry in the Raft log. A view of our own
 * takes it instead, and is garbage as soon as the decode is done.
 */
function transientView(data: Uint8Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Stored in a conf change's context: who the member is. */
export interface MemberContext {
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  /** Set by `member add` without --learner: the leader promotes the learner once caught up. */
  autoPromote?: boolean;
  /** Only in the bootstrap entries: the cluster id every member adopts. */
  clusterId?: number;
  /** The proposal waiting for this change, if any. */
  p?: string;
}

export function encodeMemberContext(c: MemberContext): Uint8Array {
  return new Uint8Array(packr.pack(c)); // kept in the log: a copy of its own, as encodePayload's
}

export function decodeMemberContext(data: Uint8Array): MemberContext {
  if (data.length === 0) return { name: '', peerURLs: [], clientURLs: [] };
  return packr.unpack(transientView(data)) as MemberContext;
}

export function packValue(v: unknown): Uint8Array {
  return packr.pack(v);
}

export function unpackValue<T>(data: Uint8Array): T {
  return packr.unpack(data) as T;
}
