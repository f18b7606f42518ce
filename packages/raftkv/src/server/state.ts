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
 * A state snapshot is one msgpack map, {v: 1, clusterId, members, kv}, kv being the key-value
 * encoding (kv/snapshot.ts) as a byte string. It is assembled here rather than packed whole:
 * msgpackr packs into one buffer shared by the whole process, grows it to the largest value it
 * ever packed and keeps it, so a store-sized value would leave each member holding a buffer of
 * several times the store's size for good (pinned further by every entry packed into it later).
 * Only the small fields go through msgpackr. The bytes are exactly what packing the map whole
 * gives for a store of 64 KiB or more, and any msgpack reader reads them (earlier versions too).
 */
interface StateSnapshotV1 {
  v: 1;
  clusterId: number;
  members: Member[];
  kv: Uint8Array;
}

/** A map of 4 entries and the fields before kv's value, then bin32's marker and length (filled in last). */
function snapshotHead(clusterId: number, members: Member[]): Uint8Array {
  // map16 rather than fixmap: the header msgpackr writes for an object.
  const parts = [Uint8Array.of(0xde, 0x00, 0x04), ...['v', 1, 'clusterId', clusterId, 'members', members, 'kv'].map((x) => new Uint8Array(packValue(x)))];
  return Buffer.concat([...parts, new Uint8Array(BIN32_HEADER_BYTES)]);
}
const BIN32_HEADER_BYTES = 5;
const SHA256_BYTES = 32;

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
    const steps = this.encodeSteps(Number.POSITIVE_INFINITY, 0);
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  /**
   * encode() of the state as it is at this call, with the key-value part encoded in slices
   * (awaiting `pause` between them) while the caller goes on applying entries.
   */
  encodeInSlices(pause: () => Promise<void>, sliceBytes = 16 * 1024 * 1024): Promise<Uint8Array> {
    return runSteps(this.encodeSteps(sliceBytes, 0), pause);
  }

  /**
   * sealSnapshotFile(encode()), as `snapshot save` serves it, in slices like encodeInSlices: the
   * checksum too is computed a slice at a time, into room left at the end (no copy of the state).
   */
  async encodeSealedInSlices(pause: () => Promise<void>, sliceBytes = 16 * 1024 * 1024): Promise<Uint8Array> {
    const out = await runSteps(this.encodeSteps(sliceBytes, SHA256_BYTES), pause);
    const stateBytes = out.length - SHA256_BYTES;
    const hash = createHash('sha256');
    for (let off = 0; off < stateBytes; off += sliceBytes) {
      if (off > 0) await pause();
      hash.update(out.subarray(off, Math.min(off + sliceBytes, stateBytes)));
    }
    out.set(hash.digest(), stateBytes);
    return out;
  }

  /** Captures the state now; kv's encodeSteps writes into a buffer with room for the head in front and `trailerBytes` behind. */
  private *encodeSteps(sliceBytes: number, trailerBytes: number): Generator<void, Uint8Array> {
    const head = snapshotHead(this.clusterId, this.memberList());
    const out = yield* encodeSteps(this.kv.snapshotSource(), sliceBytes, head.length, trailerBytes);
    out.set(head, 0);
    const kvBytes = out.length - head.length - trailerBytes;
    out[head.length - BIN32_HEADER_BYTES] = 0xc6;
    new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(head.length - 4, kvBytes, false);
    return out;
  }

  static decode(data: Uint8Array): MemberState {
    const s = unpackValue<StateSnapshotV1>(data);
    if (!s || s.v !== 1 || !(s.kv instanceof Uint8Array)) throw new Error('state snapshot: unknown format');
    return new MemberState(KvStore.restore(s.kv), s.clusterId, s.members);
  }
}

/** Runs `steps` to the end, awaiting `pause` between them; the first runs before this returns. */
async function runSteps<T>(steps: Generator<void, T>, pause: () => Promise<void>): Promise<T> {
  for (let r = steps.next(); ; r = steps.next()) {
    if (r.done) return r.value;
    await pause();
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
