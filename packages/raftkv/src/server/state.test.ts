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

  it('encodes in slices the same bytes as in one go, and seals them as sealSnapshotFile does', async () => {
    const s = sampleState(2000);
    let pauses = 0;
    const pause = async (): Promise<void> => {
      pauses++;
    };
    const sliced = await s.encodeInSlices(pause, 1024);
    expect(pauses).toBeGreaterThan(10);
    const whole = s.encode();
    expect(Buffer.from(sliced).equals(Buffer.from(whole))).toBe(true);
    pauses = 0;
    const sealed = await s.encodeSealedInSlices(pause, 1024);
    expect(pauses).toBeGreaterThan(20); // the checksum is taken in slices too
    expect(Buffer.from(sealed).equals(Buffer.from(sealSnapshotFile(whole)))).toBe(true);
    expectSameState(MemberState.decode(openSnapshotFile(sealed)), s);
  });

  it('writes the very bytes msgpackr gives for the whole map, which earlier versions read and wrote', () => {
    const s = sampleState(3000); // a key-value part of at least 64 KiB, which msgpackr also writes as bin32
    const kv = s.kv.snapshot();
    expect(kv.length).toBeGreaterThanOrEqual(65_536);
    const whole = new Packr({ useRecords: false, mapsAsObjects: true }).pack({ v: 1, clusterId: s.clusterId, members: s.memberList(), kv });
    expect(Buffer.from(s.encode()).equals(whole)).toBe(true);
    // A small store's snapshot differs only in using bin32 where msgpackr would use bin8: read back all the same.
    const small = sampleState(3);
    const packedSmall = new Packr({ useRecords: false, mapsAsObjects: true }).pack({ v: 1, clusterId: small.clusterId, members: small.memberList(), kv: small.kv.snapshot() });
    expectSameState(MemberState.decode(packedSmall), small);
    expectSameState(MemberState.decode(small.encode()), small);
  });

  it('refuses garbage', () => {
    expect(() => MemberState.decode(new Uint8Array([0x81, 0xa1, 0x76, 0x09]))).toThrow(/unknown format/);
    expect(() => MemberState.decode(sampleState().encode().subarray(0, 30))).toThrow();
  });

  it('leaves no large buffer behind for entries to share', () => {
    // A snapshot used to be packed by msgpackr, which then kept a buffer of several times its
    // size and packed every later entry into it, so each entry in the log pinned all of it.
    sampleState(20_000).encode();
    const entry = encodePayload({ p: 'x.1', kv: { op: 'put', req: { key: b('k'), value: b('v') } } });
    expect(entry.buffer.byteLength).toBe(entry.byteLength);
  });
});
