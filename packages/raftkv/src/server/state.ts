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

interface StateSnapshotV1 {
  v: 1;
  clusterId: number;
  members: Member[];
  kv: Uint8Array;
}

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
    const snap: StateSnapshotV1 = { v: 1, clusterId: this.clusterId, members: this.memberList(), kv: this.kv.snapshot() };
    return packValue(snap);
  }

  /**
   * encode() of the state as it is at this call, with the key-value part encoded in slices
   * (awaiting `pause` between them) while the caller goes on applying entries.
   */
  async encodeInSlices(pause: () => Promise<void>, sliceBytes = 16 * 1024 * 1024): Promise<Uint8Array> {
    const clusterId = this.clusterId;
    const members = this.memberList();
    const steps = encodeSteps(this.kv.snapshotSource(), sliceBytes);
    let r = steps.next();
    while (!r.done) {
      await pause();
      r = steps.next();
    }
    return packValue({ v: 1, clusterId, members, kv: r.value } satisfies StateSnapshotV1);
  }

  static decode(data: Uint8Array): MemberState {
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
