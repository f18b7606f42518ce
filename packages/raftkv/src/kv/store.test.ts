import { describe, expect, it } from 'vitest';
import { encodeSteps } from './snapshot.js';
import { KvStore, prefixEnd } from './store.js';
import type {
  Compare,
  DeleteRangeResponse,
  KeyValue,
  KvCommand,
  LeaseGrantResponse,
  PutResponse,
  RangeRequest,
  RequestOp,
  TxnResponse,
} from './types.js';
import { KvError } from './types.js';

const te = new TextEncoder();
const b = (s: string): Uint8Array => te.encode(s);
const str = (u: Uint8Array): string => Buffer.from(u).toString('latin1');
const ZERO = new Uint8Array([0]);

function ok<T>(r: T | KvError): T {
  if (r instanceof KvError) throw new Error(`unexpected ${r.code}: ${r.message}`);
  return r;
}
function err(r: unknown): KvError {
  if (!(r instanceof KvError)) throw new Error(`expected a KvError, got ${JSON.stringify(r)}`);
  return r;
}
function put(s: KvStore, key: string, value: string, extra: Partial<{ lease: number; prevKv: boolean }> = {}): PutResponse {
  return ok(s.apply({ op: 'put', req: { key: b(key), value: b(value), ...extra } })) as PutResponse;
}
function del(s: KvStore, key: string, rangeEnd?: Uint8Array, prevKv = false): DeleteRangeResponse {
  return ok(s.apply({ op: 'deleteRange', req: { key: b(key), rangeEnd, prevKv } })) as DeleteRangeResponse;
}
function txn(s: KvStore, compare: Compare[], success: RequestOp[], failure: RequestOp[] = []): TxnResponse {
  return ok(s.apply({ op: 'txn', req: { compare, success, failure } })) as TxnResponse;
}
function keys(kvs: KeyValue[]): string[] {
  return kvs.map((kv) => str(kv.key));
}
function get(s: KvStore, key: string, rev = 0): KeyValue | undefined {
  return s.range({ key: b(key), revision: rev }).kvs[0];
}
function thrown(fn: () => unknown): KvError {
  try {
    fn();
  } catch (e) {
    if (e instanceof KvError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('put and get', () => {
  it('starts at revision 1 and the first write makes revision 2', () => {
    const s = new KvStore();
    expect(s.revision).toBe(1);
    expect(s.compactRevision).toBe(0);
    const r = put(s, 'a', '1');
    expect(r.header.revision).toBe(2);
    expect(s.revision).toBe(2);
  });

  it('keeps its own copy of what it is given, and hands out copies of what it holds', () => {
    const s = new KvStore();
    const key = b('k');
    const value = b('caller-owned');
    ok(s.apply({ op: 'put', req: { key, value } }));
    key[0] = 0x6a; // the caller's later writes reach nothing stored
    value[0] = 0;
    const got = get(s, 'k')!;
    expect(new TextDecoder().decode(got.value)).toBe('caller-owned');
    got.value[0] = 0; // nor do a reader's writes to its result
    got.key[0] = 0x6a;
    expect(get(s, 'k')).toMatchObject({ key: b('k'), value: b('caller-owned') });
    // Every byte value survives the trip (values and keys are kept as latin1 strings inside).
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    ok(s.apply({ op: 'put', req: { key: all.subarray(1), value: all } }));
    expect(s.range({ key: all.subarray(1) }).kvs[0]).toMatchObject({ key: all.subarray(1), value: all });
    expect(get(s, 'k')!.value.constructor).toBe(Uint8Array);
  });

  it('tracks version, createRevision and modRevision', () => {
    const s = new KvStore();
    put(s, 'a', '1'); // 2
    put(s, 'b', 'x'); // 3
    put(s, 'a', '2'); // 4
    expect(get(s, 'a')).toEqual({ key: b('a'), createRevision: 2, modRevision: 4, version: 2, value: b('2'), lease: 0 });
    del(s, 'a'); // 5
    expect(get(s, 'a')).toBeUndefined();
    put(s, 'a', '3'); // 6: recreated, version restarts
    expect(get(s, 'a')).toMatchObject({ createRevision: 6, modRevision: 6, version: 1 });
  });

  it('returns prevKv when asked', () => {
    const s = new KvStore();
    expect(put(s, 'a', '1', { prevKv: true }).prevKv).toBeUndefined();
    expect(put(s, 'a', '2', { prevKv: true }).prevKv).toMatchObject({ value: b('1'), version: 1 });
    expect(put(s, 'a', '3').prevKv).toBeUndefined();
  });

  it('copies caller bytes, so later mutation does not change stored state', () => {
    const s = new KvStore();
    const key = b('k');
    const value = b('v1');
    s.apply({ op: 'put', req: { key, value } });
    key[0] = 0x7a;
    value[1] = 0x39;
    expect(get(s, 'k')?.value).toEqual(b('v1'));
  });

  it('ignoreValue and ignoreLease keep the current value and lease', () => {
    const s = new KvStore();
    const lease = (ok(s.apply({ op: 'leaseGrant', req: { TTL: 10 } })) as LeaseGrantResponse).ID;
    put(s, 'a', 'v', { lease });
    ok(s.apply({ op: 'put', req: { key: b('a'), value: new Uint8Array(), ignoreValue: true, lease: 0 } }));
    expect(get(s, 'a')).toMatchObject({ value: b('v'), lease: 0, version: 2 });
    put(s, 'a', 'v', { lease });
    ok(s.apply({ op: 'put', req: { key: b('a'), value: b('w'), ignoreLease: true } }));
    expect(get(s, 'a')).toMatchObject({ value: b('w'), lease, version: 4 });
    expect(err(s.apply({ op: 'put', req: { key: b('zz'), value: new Uint8Array(), ignoreValue: true } })).code).toBe('KEY_NOT_FOUND');
    expect(s.revision).toBe(5);
  });
});

describe('range', () => {
  function fill(): KvStore {
    const s = new KvStore();
    for (const k of ['a', 'ab', 'abc', 'b', 'ba', 'c']) put(s, k, `v-${k}`);
    return s;
  }

  it('reads a single key, [key, rangeEnd), "\\0" and a prefix', () => {
    const s = fill();
    expect(keys(s.range({ key: b('ab') }).kvs)).toEqual(['ab']);
    expect(keys(s.range({ key: b('ab'), rangeEnd: b('b') }).kvs)).toEqual(['ab', 'abc']);
    expect(keys(s.range({ key: b('b'), rangeEnd: ZERO }).kvs)).toEqual(['b', 'ba', 'c']);
    expect(keys(s.range({ key: ZERO, rangeEnd: ZERO }).kvs)).toEqual(['a', 'ab', 'abc', 'b', 'ba', 'c']);
    expect(keys(s.range({ key: b('a'), rangeEnd: prefixEnd(b('a')) }).kvs)).toEqual(['a', 'ab', 'abc']);
    expect(s.range({ key: b('c'), rangeEnd: b('a') }).kvs).toEqual([]);
    expect(s.range({ key: b('zz') }).kvs).toEqual([]);
  });

  it('orders keys bytewise, including bytes >= 0x80', () => {
    const s = new KvStore();
    for (const k of [[0x61, 0xff], [0x61, 0x80], [0x61, 0x7f], [0x61], [0xff, 0xff], [0x01]]) {
      s.apply({ op: 'put', req: { key: new Uint8Array(k), value: b('') } });
    }
    const all = s.range({ key: ZERO, rangeEnd: ZERO }).kvs.map((kv) => [...kv.key]);
    expect(all).toEqual([[0x01], [0x61], [0x61, 0x7f], [0x61, 0x80], [0x61, 0xff], [0xff, 0xff]]);
    const pre = s.range({ key: new Uint8Array([0x61]), rangeEnd: prefixEnd(new Uint8Array([0x61])) });
    expect(pre.count).toBe(4);
    const ff = s.range({ key: new Uint8Array([0xff]), rangeEnd: prefixEnd(new Uint8Array([0xff])) });
    expect(ff.kvs.map((kv) => [...kv.key])).toEqual([[0xff, 0xff]]);
  });

  it('applies limit with more and count', () => {
    const s = fill();
    const r = s.range({ key: b('a'), rangeEnd: ZERO, limit: 2 });
    expect(keys(r.kvs)).toEqual(['a', 'ab']);
    expect(r.more).toBe(true);
    expect(r.count).toBe(6);
    const all = s.range({ key: b('a'), rangeEnd: ZERO, limit: 6 });
    expect(all.more).toBe(false);
    expect(all.kvs).toHaveLength(6);
  });

  it('supports countOnly and keysOnly', () => {
    const s = fill();
    const c = s.range({ key: b('a'), rangeEnd: b('b'), countOnly: true });
    expect(c).toEqual({ header: { revision: 7 }, kvs: [], more: false, count: 3 });
    const k = s.range({ key: b('a'), rangeEnd: b('b'), keysOnly: true });
    expect(k.kvs.map((kv) => kv.value.length)).toEqual([0, 0, 0]);
    expect(keys(k.kvs)).toEqual(['a', 'ab', 'abc']);
    // The stored value is untouched by a keysOnly read.
    expect(get(s, 'a')?.value).toEqual(b('v-a'));
  });

  it('sorts by every target in both orders, ties in key order', () => {
    const s = new KvStore();
    put(s, 'a', '3'); // 2
    put(s, 'b', '1'); // 3
    put(s, 'c', '2'); // 4
    put(s, 'b', '1'); // 5: b version 2
    const q = (r: Partial<RangeRequest>): string[] => keys(s.range({ key: b('a'), rangeEnd: ZERO, ...r }).kvs);
    expect(q({ sortOrder: 'descend' })).toEqual(['c', 'b', 'a']);
    expect(q({ sortOrder: 'ascend', sortTarget: 'key' })).toEqual(['a', 'b', 'c']);
    expect(q({ sortTarget: 'value' })).toEqual(['b', 'c', 'a']); // none + non-key target = ascend
    expect(q({ sortOrder: 'descend', sortTarget: 'value' })).toEqual(['a', 'c', 'b']);
    expect(q({ sortOrder: 'ascend', sortTarget: 'mod' })).toEqual(['a', 'c', 'b']);
    expect(q({ sortOrder: 'descend', sortTarget: 'create' })).toEqual(['c', 'b', 'a']);
    expect(q({ sortOrder: 'descend', sortTarget: 'version' })).toEqual(['b', 'a', 'c']);
    expect(q({ sortOrder: 'ascend', sortTarget: 'version' })).toEqual(['a', 'c', 'b']);
    const lim = s.range({ key: b('a'), rangeEnd: ZERO, sortOrder: 'descend', limit: 2 });
    expect(keys(lim.kvs)).toEqual(['c', 'b']);
    expect(lim.more).toBe(true);
  });

  it('filters by mod and create revision; count ignores the filters as in etcd', () => {
    const s = fill(); // a..c at revisions 2..7
    put(s, 'a', 'again'); // 8
    const r = s.range({ key: b('a'), rangeEnd: ZERO, minModRevision: 4, maxCreateRevision: 6 });
    expect(keys(r.kvs)).toEqual(['a', 'abc', 'b', 'ba']);
    expect(r.count).toBe(6);
    const lim = s.range({ key: b('a'), rangeEnd: ZERO, maxModRevision: 5, limit: 1 });
    expect(keys(lim.kvs)).toEqual(['ab']);
    expect(lim.more).toBe(true);
  });

  it('reads at a past revision, and fails with COMPACTED / FUTURE_REV', () => {
    const s = new KvStore();
    put(s, 'a', '1'); // 2
    put(s, 'b', '1'); // 3
    put(s, 'a', '2'); // 4
    del(s, 'b'); // 5
    expect(keys(s.range({ key: b('a'), rangeEnd: ZERO, revision: 3 }).kvs)).toEqual(['a', 'b']);
    expect(get(s, 'a', 3)?.value).toEqual(b('1'));
    expect(get(s, 'a', 1)).toBeUndefined();
    expect(keys(s.range({ key: b('a'), rangeEnd: ZERO, revision: 5 }).kvs)).toEqual(['a']);
    const r = s.range({ key: b('a'), rangeEnd: ZERO, revision: 3 });
    expect(r.header.revision).toBe(5);
    expect(thrown(() => s.range({ key: b('a'), revision: 6 })).code).toBe('FUTURE_REV');
    ok(s.apply({ op: 'compact', req: { revision: 4 } }));
    const c = thrown(() => s.range({ key: b('a'), revision: 3 }));
    expect(c.code).toBe('COMPACTED');
    expect(c.compactRevision).toBe(4);
    // The compacted revision itself is still readable.
    expect(keys(s.range({ key: b('a'), rangeEnd: ZERO, revision: 4 }).kvs)).toEqual(['a', 'b']);
  });

  it('refuses malformed requests with INVALID naming the field', () => {
    const s = new KvStore();
    const e1 = thrown(() => s.range({ key: new Uint8Array() }));
    expect(e1.code).toBe('INVALID');
    expect(e1.message).toMatch(/range\.key/);
    expect(thrown(() => s.range({ key: b('a'), limit: -1 })).message).toMatch(/range\.limit/);
    expect(thrown(() => s.range({ key: b('a'), revision: -1 })).message).toMatch(/range\.revision/);
    expect(thrown(() => s.range({ key: b('a'), sortOrder: 'up' as never })).message).toMatch(/sortOrder/);
  });
});

describe('deleteRange', () => {
  it('deletes a range in one revision and returns prevKvs', () => {
    const s = new KvStore();
    for (const k of ['a', 'b', 'c', 'd']) put(s, k, k);
    const r = del(s, 'b', b('d'), true);
    expect(r.deleted).toBe(2);
    expect(keys(r.prevKvs)).toEqual(['b', 'c']);
    expect(r.header.revision).toBe(6);
    expect(keys(s.range({ key: b('a'), rangeEnd: ZERO }).kvs)).toEqual(['a', 'd']);
    expect(del(s, 'a', undefined, false).prevKvs).toEqual([]);
  });

  it('does not bump the revision when nothing is deleted', () => {
    const s = new KvStore();
    put(s, 'a', '1');
    const r = del(s, 'x', ZERO);
    expect(r).toEqual({ header: { revision: 2 }, deleted: 0, prevKvs: [] });
    expect(s.revision).toBe(2);
    del(s, 'a');
    expect(del(s, 'a').deleted).toBe(0);
    expect(s.revision).toBe(3);
  });
});

describe('txn', () => {
  const cmp = (key: string, target: Compare['target'], result: Compare['result'], v: Partial<Compare>): Compare => ({
    key: b(key),
    target,
    result,
    ...v,
  });
  const P = (key: string, value: string): RequestOp => ({ requestPut: { key: b(key), value: b(value) } });
  const G = (key: string, rangeEnd?: Uint8Array): RequestOp => ({ requestRange: { key: b(key), rangeEnd } });
  const D = (key: string, rangeEnd?: Uint8Array): RequestOp => ({ requestDeleteRange: { key: b(key), rangeEnd } });

  function base(): KvStore {
    const s = new KvStore();
    const lease = (ok(s.apply({ op: 'leaseGrant', req: { TTL: 5, ID: 7 } })) as LeaseGrantResponse).ID;
    put(s, 'k', 'm'); // 2
    put(s, 'k', 'm', { lease }); // 3: version 2, create 2, mod 3, lease 7
    return s;
  }

  it.each<[Compare, boolean]>([
    [cmp('k', 'version', 'equal', { version: 2 }), true],
    [cmp('k', 'version', 'greater', { version: 2 }), false],
    [cmp('k', 'version', 'less', { version: 3 }), true],
    [cmp('k', 'version', 'not_equal', { version: 2 }), false],
    [cmp('k', 'create', 'equal', { createRevision: 2 }), true],
    [cmp('k', 'create', 'greater', { createRevision: 1 }), true],
    [cmp('k', 'mod', 'equal', { modRevision: 3 }), true],
    [cmp('k', 'mod', 'less', { modRevision: 3 }), false],
    [cmp('k', 'value', 'equal', { value: b('m') }), true],
    [cmp('k', 'value', 'greater', { value: b('l') }), true],
    [cmp('k', 'value', 'less', { value: b('ma') }), true],
    [cmp('k', 'value', 'not_equal', { value: b('m') }), false],
    [cmp('k', 'lease', 'equal', { lease: 7 }), true],
    [cmp('k', 'lease', 'not_equal', { lease: 0 }), true],
    // A missing key has zero fields, and fails every value comparison.
    [cmp('missing', 'version', 'equal', { version: 0 }), true],
    [cmp('missing', 'create', 'equal', { createRevision: 0 }), true],
    [cmp('missing', 'value', 'equal', { value: new Uint8Array() }), false],
    [cmp('missing', 'value', 'not_equal', { value: b('x') }), false],
    // A range compare must hold for every existing key in it.
    [{ ...cmp('a', 'version', 'greater', { version: 0 }), rangeEnd: ZERO }, true],
    [{ ...cmp('a', 'mod', 'equal', { modRevision: 3 }), rangeEnd: ZERO }, true],
  ])('compare %# → %s', (c, expected) => {
    const s = base();
    const r = txn(s, [c], [P('ok', 'y')], [P('no', 'n')]);
    expect(r.succeeded).toBe(expected);
    expect(get(s, expected ? 'ok' : 'no')).toBeDefined();
    expect(get(s, expected ? 'no' : 'ok')).toBeUndefined();
  });

  it('runs ops in order at one revision; reads see earlier writes', () => {
    const s = base();
    const r = txn(s, [], [G('a', ZERO), P('p', '1'), P('q', '2'), G('p', b('r')), D('k')]);
    expect(r.succeeded).toBe(true);
    expect(s.revision).toBe(4);
    expect(r.header.revision).toBe(4);
    const [r0, , , r3, r4] = r.responses;
    expect('responseRange' in r0 && keys(r0.responseRange.kvs)).toEqual(['k']);
    expect('responseRange' in r3 && r3.responseRange.kvs.map((kv) => [str(kv.key), kv.modRevision])).toEqual([
      ['p', 4],
      ['q', 4],
    ]);
    expect('responseDeleteRange' in r4 && r4.responseDeleteRange.deleted).toBe(1);
    for (const resp of r.responses) expect(Object.values(resp)[0].header.revision).toBe(4);
    expect(get(s, 'p')?.modRevision).toBe(4);
  });

  it('does not bump the revision for a read-only txn (or one whose deletes hit nothing)', () => {
    const s = base();
    const r = txn(s, [cmp('k', 'version', 'equal', { version: 2 })], [G('k'), D('nothing')]);
    expect(r.header.revision).toBe(3);
    expect(s.revision).toBe(3);
  });

  it('runs nested txns with compares evaluated against the state before the txn', () => {
    const s = base();
    const r = txn(
      s,
      [],
      [
        P('x', '1'),
        {
          requestTxn: {
            // Sees the pre-txn state: x does not exist yet, as in etcd.
            compare: [cmp('x', 'version', 'equal', { version: 0 })],
            success: [P('y', 'then'), G('x')],
            failure: [P('y', 'else')],
          },
        },
      ],
    );
    expect(r.succeeded).toBe(true);
    const inner = r.responses[1];
    expect('responseTxn' in inner && inner.responseTxn.succeeded).toBe(true);
    expect('responseTxn' in inner && inner.responseTxn.header.revision).toBe(4);
    const innerRange = 'responseTxn' in inner ? inner.responseTxn.responses[1] : undefined;
    expect(innerRange && 'responseRange' in innerRange && keys(innerRange.responseRange.kvs)).toEqual(['x']);
    expect(get(s, 'y')?.value).toEqual(b('then'));
    expect(s.revision).toBe(4);
  });

  it('refuses duplicate puts and put/delete overlaps in one branch', () => {
    const s = base();
    const bad = (success: RequestOp[], failure: RequestOp[] = []): KvError => {
      const cmd: KvCommand = { op: 'txn', req: { compare: [], success, failure } };
      const e = thrown(() => KvStore.validate(cmd));
      expect(err(s.apply(cmd)).code).toBe(e.code);
      return e;
    };
    expect(bad([P('a', '1'), P('a', '2')]).message).toMatch(/txn\.success: key "a" is put more than once/);
    expect(bad([P('a', '1'), D('a')]).code).toBe('INVALID');
    expect(bad([D('0', ZERO), P('a', '1')]).code).toBe('INVALID');
    expect(bad([], [P('b', '1'), D('a', b('c'))]).message).toMatch(/txn\.failure/);
    expect(bad([P('a', '1'), { requestTxn: { compare: [], success: [P('a', '2')], failure: [] } }]).code).toBe('INVALID');
    expect(bad([D('a'), { requestTxn: { compare: [], success: [], failure: [P('a', '2')] } }]).code).toBe('INVALID');
    // Stricter than etcd: a nested put and a later sibling's delete also conflict.
    expect(
      bad([
        { requestTxn: { compare: [], success: [P('a', '1')], failure: [] } },
        { requestTxn: { compare: [], success: [D('a')], failure: [] } },
      ]).code,
    ).toBe('INVALID');
    expect(s.revision).toBe(3);
    // Allowed: the same key in success and failure, in both branches of one nested txn, or
    // deleted twice.
    txn(s, [], [P('a', '1')], [P('a', '2')]);
    txn(s, [], [{ requestTxn: { compare: [], success: [P('z', '1')], failure: [P('z', '2'), D('w')] } }, D('q'), D('q')]);
    expect(s.revision).toBe(5);
  });

  it('limits ops per list to 128 (TOO_MANY_OPS)', () => {
    const s = new KvStore();
    const ops = Array.from({ length: 129 }, (_, i) => P(`k${i}`, 'v'));
    const e = err(s.apply({ op: 'txn', req: { compare: [], success: ops, failure: [] } }));
    expect(e.code).toBe('TOO_MANY_OPS');
    ok(s.apply({ op: 'txn', req: { compare: [], success: ops.slice(0, 128), failure: [] } }));
    expect(s.revision).toBe(2);
  });

  it('fails as a whole, without writing, when an op on the path fails its state check', () => {
    const s = base();
    const before = s.snapshot();
    expect(err(s.apply({ op: 'txn', req: { compare: [], success: [P('a', '1'), { requestPut: { key: b('b'), value: b(''), lease: 99 } }], failure: [] } })).code).toBe(
      'LEASE_NOT_FOUND',
    );
    expect(err(s.apply({ op: 'txn', req: { compare: [], success: [P('a', '1'), { requestRange: { key: b('a'), revision: 10 } }], failure: [] } })).code).toBe(
      'FUTURE_REV',
    );
    expect(
      err(s.apply({ op: 'txn', req: { compare: [], success: [P('a', '1'), { requestPut: { key: b('nope'), value: new Uint8Array(), ignoreValue: true } }], failure: [] } }))
        .code,
    ).toBe('KEY_NOT_FOUND');
    expect(s.snapshot()).toEqual(before);
    // A bad op on the branch not taken does not matter.
    const r = txn(s, [], [P('a', '1')], [{ requestPut: { key: b('b'), value: b(''), lease: 99 } }]);
    expect(r.succeeded).toBe(true);
  });
});

describe('compaction', () => {
  it('keeps the version visible at the compact revision and drops deleted keys', () => {
    const s = new KvStore();
    put(s, 'a', '1'); // 2
    put(s, 'a', '2'); // 3
    put(s, 'b', '1'); // 4
    del(s, 'b'); // 5
    put(s, 'c', '1'); // 6
    del(s, 'c'); // 7
    put(s, 'c', '2'); // 8
    put(s, 'a', '3'); // 9
    const r = ok(s.apply({ op: 'compact', req: { revision: 7 } }));
    expect(r).toEqual({ header: { revision: 9 } });
    expect(s.revision).toBe(9);
    expect(s.compactRevision).toBe(7);
    const at7 = s.range({ key: b('a'), rangeEnd: ZERO, revision: 7 });
    expect(at7.kvs.map((kv) => [str(kv.key), str(kv.value)])).toEqual([['a', '2']]);
    expect(s.range({ key: b('a'), rangeEnd: ZERO }).kvs.map((kv) => str(kv.value))).toEqual(['3', '2']);
    expect(get(s, 'c')?.createRevision).toBe(8);
    // b is gone entirely (its latest version at 7 was a tombstone); a and c keep what is needed.
    const records = (s as unknown as { records: Map<string, { history: KeyValue[] }> }).records;
    expect([...records.keys()]).toEqual(['a', 'c']);
    expect(records.get('a')!.history.map((kv) => kv.modRevision)).toEqual([3, 9]);
    expect(records.get('c')!.history.map((kv) => kv.modRevision)).toEqual([8]);
    expect(err(s.apply({ op: 'compact', req: { revision: 7 } })).code).toBe('COMPACTED');
    expect(err(s.apply({ op: 'compact', req: { revision: 10 } })).code).toBe('FUTURE_REV');
    ok(s.apply({ op: 'compact', req: { revision: 9 } }));
    expect(s.range({ key: b('a'), rangeEnd: ZERO, revision: 9 }).count).toBe(2);
  });

  it('shrinks sizeBytes', () => {
    const s = new KvStore();
    for (let i = 0; i < 100; i++) put(s, 'k', 'x'.repeat(100));
    const before = s.sizeBytes();
    ok(s.apply({ op: 'compact', req: { revision: s.revision } }));
    expect(s.sizeBytes()).toBeLessThan(before / 50);
    expect(s.sizeBytes()).toBeGreaterThan(100);
  });
});

describe('leases', () => {
  it('grants with automatic and explicit IDs, refuses duplicates and bad TTLs', () => {
    const s = new KvStore();
    expect(ok(s.apply({ op: 'leaseGrant', req: { TTL: 10 } }))).toEqual({ header: { revision: 1 }, ID: 1, TTL: 10 });
    expect((ok(s.apply({ op: 'leaseGrant', req: { TTL: 10, ID: 100 } })) as LeaseGrantResponse).ID).toBe(100);
    expect((ok(s.apply({ op: 'leaseGrant', req: { TTL: 10, ID: 0 } })) as LeaseGrantResponse).ID).toBe(101);
    expect(err(s.apply({ op: 'leaseGrant', req: { TTL: 10, ID: 100 } })).code).toBe('LEASE_EXISTS');
    expect(err(s.apply({ op: 'leaseGrant', req: { TTL: 0 } })).code).toBe('INVALID');
    expect(err(s.apply({ op: 'leaseGrant', req: { TTL: 1.5 } })).code).toBe('INVALID');
    ok(s.apply({ op: 'leaseRevoke', req: { ID: 101 } }));
    // Revoked IDs are not handed out again automatically.
    expect((ok(s.apply({ op: 'leaseGrant', req: { TTL: 1 } })) as LeaseGrantResponse).ID).toBe(102);
    expect(s.leases().map((l) => l.ID)).toEqual([1, 100, 102]);
    expect(s.revision).toBe(1);
  });

  it('attaches, detaches and revokes keys in one revision', () => {
    const s = new KvStore();
    ok(s.apply({ op: 'leaseGrant', req: { TTL: 10, ID: 5 } }));
    ok(s.apply({ op: 'leaseGrant', req: { TTL: 20, ID: 6 } }));
    put(s, 'c', '1', { lease: 5 });
    put(s, 'a', '1', { lease: 5 });
    put(s, 'b', '1', { lease: 5 });
    put(s, 'd', '1', { lease: 5 });
    put(s, 'b', '2'); // re-put without lease detaches
    del(s, 'd'); // deleting detaches
    put(s, 'e', '1', { lease: 6 });
    put(s, 'e', '2', { lease: 5 }); // moves to lease 5
    expect(s.lease(5)).toEqual({ ID: 5, grantedTTL: 10, keys: [b('a'), b('c'), b('e')] });
    expect(s.lease(6)?.keys).toEqual([]);
    expect(err(s.apply({ op: 'put', req: { key: b('x'), value: b(''), lease: 9 } })).code).toBe('LEASE_NOT_FOUND');
    const rev = s.revision;
    const events: [string[], number][] = [];
    s.watch({ key: ZERO, rangeEnd: ZERO }, (evs, r) => events.push([evs.map((e) => `${e.type} ${str(e.kv.key)}`), r]));
    expect(ok(s.apply({ op: 'leaseRevoke', req: { ID: 5 } }))).toEqual({ header: { revision: rev + 1 } });
    expect(events).toEqual([[['DELETE a', 'DELETE c', 'DELETE e'], rev + 1]]);
    expect(keys(s.range({ key: ZERO, rangeEnd: ZERO }).kvs)).toEqual(['b']);
    expect(s.lease(5)).toBeUndefined();
    expect(err(s.apply({ op: 'leaseRevoke', req: { ID: 5 } })).code).toBe('LEASE_NOT_FOUND');
    // Revoking a lease without keys changes no key, so no revision.
    ok(s.apply({ op: 'leaseRevoke', req: { ID: 6 } }));
    expect(s.revision).toBe(rev + 1);
  });
});

describe('validate', () => {
  it.each<[string, unknown]>([
    ['put.key', { op: 'put', req: { key: new Uint8Array(), value: b('') } }],
    ['put.value', { op: 'put', req: { key: b('a') } }],
    ['put.value must be empty', { op: 'put', req: { key: b('a'), value: b('x'), ignoreValue: true } }],
    ['put.lease must be 0', { op: 'put', req: { key: b('a'), value: b('x'), ignoreLease: true, lease: 3 } }],
    ['put.lease', { op: 'put', req: { key: b('a'), value: b('x'), lease: -1 } }],
    ['deleteRange.key', { op: 'deleteRange', req: { key: 'a' } }],
    ['compact.revision', { op: 'compact', req: { revision: -1 } }],
    ['leaseGrant.TTL', { op: 'leaseGrant', req: { TTL: -5 } }],
    ['leaseRevoke.ID', { op: 'leaseRevoke', req: { ID: 0 } }],
    ['txn.compare[0].target', { op: 'txn', req: { compare: [{ key: b('a'), target: 'x', result: 'equal' }], success: [], failure: [] } }],
    ['txn.success[0] must set exactly one', { op: 'txn', req: { compare: [], success: [{}], failure: [] } }],
    ['txn.success[0].requestRange.revision', { op: 'txn', req: { compare: [], success: [{ requestRange: { key: b('a'), revision: -2 } }], failure: [] } }],
    ['unknown command op', { op: 'nope', req: {} }],
  ])('%s', (message, cmd) => {
    const e = thrown(() => KvStore.validate(cmd as KvCommand));
    expect(e.code).toBe('INVALID');
    expect(e.message).toContain(message);
    const s = new KvStore();
    expect(err(s.apply(cmd as KvCommand)).code).toBe('INVALID');
  });

  it('accepts null for optional fields (as a decoder may produce)', () => {
    const s = new KvStore();
    ok(s.apply({ op: 'put', req: { key: b('a'), value: b('1'), lease: null, prevKv: null } as never }));
    expect(s.range({ key: b('a'), rangeEnd: null, limit: null } as never).count).toBe(1);
  });
});

describe('prefixEnd', () => {
  it.each<[number[], number[]]>([
    [[0x61], [0x62]],
    [[0x61, 0xff], [0x62]],
    [[0x61, 0x62, 0xff, 0xff], [0x61, 0x63]],
    [[0xff, 0xff], [0x00]],
    [[], [0x00]],
  ])('%j → %j', (input, expected) => {
    const inp = Buffer.from(input);
    expect([...prefixEnd(inp)]).toEqual(expected);
    expect([...inp]).toEqual(input);
  });
});

describe('snapshot', () => {
  it('restores identical range results and identical further behaviour', () => {
    const s = new KvStore();
    ok(s.apply({ op: 'leaseGrant', req: { TTL: 10 } }));
    for (let i = 0; i < 50; i++) put(s, `k${i % 13}`, `v${i}`, i % 5 === 0 ? { lease: 1 } : {});
    del(s, 'k3');
    ok(s.apply({ op: 'compact', req: { revision: 20 } }));
    put(s, 'k3', 'back');
    const data = s.snapshot();
    const r = KvStore.restore(data);
    expect(r.snapshot()).toEqual(data);
    expect(r.revision).toBe(s.revision);
    expect(r.compactRevision).toBe(s.compactRevision);
    expect(r.sizeBytes()).toBe(s.sizeBytes());
    expect(r.leases()).toEqual(s.leases());
    for (const rev of [0, 20, 30, s.revision]) {
      expect(r.range({ key: ZERO, rangeEnd: ZERO, revision: rev })).toEqual(s.range({ key: ZERO, rangeEnd: ZERO, revision: rev }));
    }
    const more: KvCommand[] = [
      { op: 'put', req: { key: b('k1'), value: b('x'), lease: 1 } },
      { op: 'leaseGrant', req: { TTL: 3 } },
      { op: 'leaseRevoke', req: { ID: 1 } },
      { op: 'compact', req: { revision: 40 } },
      { op: 'deleteRange', req: { key: b('k'), rangeEnd: b('k5') } },
    ];
    for (const c of more) expect(r.apply(c)).toEqual(s.apply(c));
    expect(r.snapshot()).toEqual(s.snapshot());
    const seen = (st: KvStore): unknown[] => {
      const out: unknown[] = [];
      const h = st.watch({ key: ZERO, rangeEnd: ZERO, startRevision: 41, prevKv: true }, (e, rev) => out.push([e, rev]));
      ok(h).cancel();
      return out;
    };
    expect(seen(r)).toEqual(seen(s));
  });

  it('encodes in steps the state as it was when the source was taken, while changes and a compaction go on', () => {
    const s = new KvStore();
    ok(s.apply({ op: 'leaseGrant', req: { TTL: 10 } }));
    for (let i = 0; i < 400; i++) put(s, `k${i % 97}`, `value-${i}-${'x'.repeat(i % 50)}`, i % 7 === 0 ? { lease: 1 } : {});
    ok(s.apply({ op: 'compact', req: { revision: 150 } }));
    for (let i = 0; i < 100; i++) put(s, `late${i}`, `v${i}`);
    const expected = s.snapshot();
    const steps = encodeSteps(s.snapshotSource(), 512);
    let pauses = 0;
    let r = steps.next();
    while (!r.done) {
      pauses++;
      // The store moves on between steps, as it does on a member that keeps applying entries.
      put(s, `during${pauses}`, 'v');
      if (pauses === 3) ok(s.apply({ op: 'compact', req: { revision: s.revision - 5 } }));
      r = steps.next();
    }
    expect(pauses).toBeGreaterThan(10);
    expect(Buffer.from(r.value).equals(Buffer.from(expected))).toBe(true);
    expect(s.snapshot()).not.toEqual(expected);
  });

  it('round-trips an empty store and refuses garbage', () => {
    const s = new KvStore();
    const r = KvStore.restore(s.snapshot());
    expect(r.revision).toBe(1);
    expect(r.snapshot()).toEqual(s.snapshot());
    expect(() => KvStore.restore(new Uint8Array([1, 2, 3]))).toThrow(/corrupt/);
  });
});
