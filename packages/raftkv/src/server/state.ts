/**
 * The replicated state a member applies entries to: the key-value store plus the membership
 * table and cluster id (etcd keeps the latter in its "cluster" bucket). Its snapshot is what
 * Raft ships to lagging followers and what `snapshot save` writes.
 */
import { createHash } from 'node:crypto';
import { encodeSteps } from '../kv/snapshot.js';
import { KvStore } from '../kv/store.js';
import type { Member } from './api.js';
import { packValue, unpackValue } from './envelope.js';

/**
 * Format 1, still read (data dirs and `snapshot save` files written by earlier versions): one
 * msgpack map holding the key-value encoding as a byte string.
 */
interface StateSnapshotV1 {
  v: 1;
  clusterId: number;
  members: Member[];
  kv: Uint8Array;
}

/**
 * Format 2: bytes 0x00 0x02 (a V1 snapshot, a msgpack map, never starts with 0x00), the header's
 * length (u32 little-endian), the header (msgpack), then the key-value encoding. Not one msgpack
 * value because msgpackr packs into one buffer shared by the whole process and grows it to hold
 * the largest value it ever packed: a snapshot of the store would leave every member holding a
 * buffer of several times its size for good, pinned further by every entry packed into it later.
 */
interface StateHeaderV2 {
  clusterId: number;
  members: Member[];
}
const V2_PREFIX_BYTES = 6;

export class MemberState {
  kv: KvStore;
  clusterId: number;
  readonly members = new Map<number, Member>();

  constructor(kv = new KvStore(), clusterId = 0, members: Member[] = []) {
    this.kv = kv;
    this.clusterId = clusterId;
    for (const m of members) this.members.set(m.id, m);
  }

  memberList(): Member[] {
    return [...this.members.values()].sort((a, b) => a.id - b.id).map((m) => ({ ...m, peerURLs: [...m.peerURLs], clientURLs: [...m.clientURLs] }));
  }

  encode(): Uint8Array {
    const steps = this.encodeSteps(Number.POSITIVE_INFINITY);
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  /**
   * encode() of the state as it is at this call, with the key-value part encoded in slices
   * (awaiting `pause` between them) while the caller goes on applying entries.
   */
  async encodeInSlices(pause: () => Promise<void>, sliceBytes = 16 * 1024 * 1024): Promise<Uint8Array> {
    const steps = this.encodeSteps(sliceBytes);
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
      await pause();
    }
  }

  /** Captures the state now; the key-value part is encoded by kv's encodeSteps, into a buffer with room for format 2's header. */
  private *encodeSteps(sliceBytes: number): Generator<void, Uint8Array> {
    const header = packValue({ clusterId: this.clusterId, members: this.memberList() } satisfies StateHeaderV2);
    const prefix = V2_PREFIX_BYTES + header.length;
    const out = yield* encodeSteps(this.kv.snapshotSource(), sliceBytes, prefix);
    out[0] = 0x00;
    out[1] = 0x02;
    new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(2, header.length, true);
    out.set(header, V2_PREFIX_BYTES);
    return out;
  }

  static decode(data: Uint8Array): MemberState {
    if (data.length >= V2_PREFIX_BYTES && data[0] === 0x00 && data[1] === 0x02) {
      const n = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(2, true);
      if (V2_PREFIX_BYTES + n > data.length) throw new Error('state snapshot: header runs past the end');
      const h = unpackValue<StateHeaderV2>(data.subarray(V2_PREFIX_BYTES, V2_PREFIX_BYTES + n));
      if (!h || typeof h.clusterId !== 'number' || !Array.isArray(h.members)) throw new Error('state snapshot: malformed header');
      return new MemberState(KvStore.restore(data.subarray(V2_PREFIX_BYTES + n)), h.clusterId, h.members);
    }
    const s = unpackValue<StateSnapshotV1>(data);
    if (!s || s.v !== 1) throw new Error('state snapshot: unknown format');
    return new MemberState(KvStore.restore(s.kv), s.clusterId, s.members);
  }
}

/** A snapshot file as `snapshot save` writes it: the state, then its SHA-256 (as etcd appends one). */
export function sealSnapshotFile(state: Uint8Array): Uint8Array {
  const sum = createHash('sha256').update(state).digest();
  const out = new Uint8Array(state.length + sum.length);
  out.set(state, 0);
  out.set(sum, state.length);
  return out;
}

export function openSnapshotFile(file: Uint8Array): Uint8Array {
  if (file.length < 33) throw new Error('snapshot file is too short to hold a state and its checksum');
  const state = file.subarray(0, file.length - 32);
  const sum = createHash('sha256').update(state).digest();
  if (Buffer.compare(sum, file.subarray(file.length - 32)) !== 0) {
    throw new Error('snapshot file checksum mismatch: the file is corrupt or truncated');
  }
  return state;
}
