import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { KvStore } from '../kv/store.js';
import type { Member } from './api.js';
import { encodePayload } from './envelope.js';
import { MemberState, openSnapshotFile, sealSnapshotFile } from './state.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const members: Member[] = [
  { id: 7, name: 'n1', peerURLs: ['http://127.0.0.1:2380'], clientURLs: ['http://127.0.0.1:2379'], isLearner: false },
  { id: 3, name: 'n2', peerURLs: ['http://127.0.0.1:2480'], clientURLs: [], isLearner: true },
];

function sampleState(keys = 50): MemberState {
  const kv = new KvStore();
  kv.apply({ op: 'leaseGrant', req: { TTL: 30 } });
  for (let i = 0; i < keys; i++) kv.apply({ op: 'put', req: { key: b(`k${i}`), value: b(`value-${i}`), lease: i % 5 === 0 ? 1 : 0 } });
  return new MemberState(kv, 0xabcdef, members);
}

function expectSameState(a: MemberState, b: MemberState): void {
  expect(a.clusterId).toBe(b.clusterId);
  expect(a.memberList()).toEqual(b.memberList());
  expect(Buffer.from(a.kv.snapshot()).equals(Buffer.from(b.kv.snapshot()))).toBe(true);
}

describe('MemberState snapshots', () => {
  it('round-trips cluster id, members and the key-value data', () => {
    const s = sampleState();
    const back = MemberState.decode(s.encode());
    expectSameState(back, s);
    expect(back.kv.revision).toBe(s.kv.revision);
  });

  it('encodes in slices the same bytes as in one go', async () => {
    const s = sampleState(2000);
    let pauses = 0;
    const sliced = await s.encodeInSlices(async () => {
      pauses++;
    }, 1024);
    expect(pauses).toBeGreaterThan(10);
    expect(Buffer.from(sliced).equals(Buffer.from(s.encode()))).toBe(true);
  });

  it('still reads format 1 (one msgpack map), as earlier versions wrote it', () => {
    const s = sampleState();
    const v1 = new Packr({ useRecords: false, mapsAsObjects: true }).pack({ v: 1, clusterId: s.clusterId, members: s.memberList(), kv: s.kv.snapshot() });
    expectSameState(MemberState.decode(v1), s);
    // ... also from a `snapshot save` file of that format.
    expectSameState(MemberState.decode(openSnapshotFile(sealSnapshotFile(v1))), s);
  });

  it('refuses a truncated header and unknown formats', () => {
    const data = sampleState().encode();
    expect(() => MemberState.decode(data.subarray(0, 10))).toThrow(/header runs past the end/);
    expect(() => MemberState.decode(new Uint8Array([0x81, 0xa1, 0x76, 0x09]))).toThrow(/unknown format/);
  });

  it('leaves no large buffer behind for entries to share', () => {
    // A snapshot used to be packed by msgpackr, which then kept a buffer of several times its
    // size and packed every later entry into it, so each entry in the log pinned all of it.
    sampleState(20_000).encode();
    const entry = encodePayload({ p: 'x.1', kv: { op: 'put', req: { key: b('k'), value: b('v') } } });
    expect(entry.buffer.byteLength).toBe(entry.byteLength);
  });
});
