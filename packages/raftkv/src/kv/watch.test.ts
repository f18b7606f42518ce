import { describe, expect, it } from 'vitest';
import type { WatchHandle } from './store.js';
import { KvStore, prefixEnd } from './store.js';
import type { KvCommand, WatchEvent, WatchRequest } from './types.js';
import { KvError } from './types.js';

const te = new TextEncoder();
const b = (s: string): Uint8Array => te.encode(s);
const str = (u: Uint8Array): string => Buffer.from(u).toString('latin1');
const ZERO = new Uint8Array([0]);

const P = (key: string, value: string, lease?: number): KvCommand => ({ op: 'put', req: { key: b(key), value: b(value), lease } });
const D = (key: string, rangeEnd?: Uint8Array): KvCommand => ({ op: 'deleteRange', req: { key: b(key), rangeEnd } });

function apply(s: KvStore, ...cmds: KvCommand[]): void {
  for (const c of cmds) {
    const r = s.apply(c);
    if (r instanceof KvError) throw r;
  }
}

/** Records deliveries as compact strings: "rev: TYPE key=value ..." */
function recorder(): { log: string[]; fn: (evs: WatchEvent[], rev: number) => void; raw: [WatchEvent[], number][] } {
  const log: string[] = [];
  const raw: [WatchEvent[], number][] = [];
  return {
    log,
    raw,
    fn: (evs, rev) => {
      raw.push([evs, rev]);
      log.push(`${rev}: ${evs.map((e) => `${e.type} ${str(e.kv.key)}=${str(e.kv.value)}${e.prevKv ? ` (was ${str(e.prevKv.value)})` : ''}`).join(', ')}`);
    },
  };
}

function watch(s: KvStore, req: WatchRequest, fn: (evs: WatchEvent[], rev: number) => void): WatchHandle {
  const h = s.watch(req, fn);
  if (h instanceof KvError) throw h;
  return h;
}

describe('watch', () => {
  it('from now: only later events, one call per revision, txn events together in order', () => {
    const s = new KvStore();
    apply(s, P('a', '0'));
    const r = recorder();
    watch(s, { key: b('a'), rangeEnd: ZERO }, r.fn);
    apply(s, P('a', '1'), P('b', '1'));
    apply(s, {
      op: 'txn',
      req: { compare: [], success: [{ requestPut: { key: b('c'), value: b('1') } }, { requestDeleteRange: { key: b('a') } }, { requestPut: { key: b('b'), value: b('2') } }], failure: [] },
    });
    expect(r.log).toEqual(['3: PUT a=1', '4: PUT b=1', '5: PUT c=1, DELETE a=, PUT b=2']);
  });

  it('DELETE events carry the key, the delete revision, version 0 and an empty value', () => {
    const s = new KvStore();
    apply(s, P('a', 'x', undefined));
    const r = recorder();
    watch(s, { key: b('a') }, r.fn);
    apply(s, D('a'));
    expect(r.raw[0][0]).toEqual([{ type: 'DELETE', kv: { key: b('a'), createRevision: 0, modRevision: 3, version: 0, value: new Uint8Array(), lease: 0 } }]);
  });

  it('watches a single key, a prefix and everything', () => {
    const s = new KvStore();
    const one = recorder();
    const pre = recorder();
    const all = recorder();
    watch(s, { key: b('/a/x') }, one.fn);
    watch(s, { key: b('/a/'), rangeEnd: prefixEnd(b('/a/')) }, pre.fn);
    watch(s, { key: ZERO, rangeEnd: ZERO }, all.fn);
    apply(s, P('/a/x', '1'), P('/a/y', '1'), P('/b/x', '1'), P('/a', '1'), P('/a/x/z', '1'));
    expect(one.log).toEqual(['2: PUT /a/x=1']);
    expect(pre.log).toEqual(['2: PUT /a/x=1', '3: PUT /a/y=1', '6: PUT /a/x/z=1']);
    expect(all.log).toHaveLength(5);
  });

  it('attaches prevKv on PUT and DELETE when asked', () => {
    const s = new KvStore();
    const r = recorder();
    const plain = recorder();
    watch(s, { key: b('k'), prevKv: true }, r.fn);
    watch(s, { key: b('k') }, plain.fn);
    apply(s, P('k', '1'), P('k', '2'), D('k'));
    expect(r.log).toEqual(['2: PUT k=1', '3: PUT k=2 (was 1)', '4: DELETE k= (was 2)']);
    expect(plain.log).toEqual(['2: PUT k=1', '3: PUT k=2', '4: DELETE k=']);
  });

  it('applies the noput and nodelete filters, skipping revisions left empty', () => {
    const s = new KvStore();
    const noput = recorder();
    const nodel = recorder();
    watch(s, { key: b('k'), filters: ['noput'] }, noput.fn);
    watch(s, { key: b('k'), filters: ['nodelete'] }, nodel.fn);
    apply(s, P('k', '1'), D('k'), P('k', '2'));
    expect(noput.log).toEqual(['3: DELETE k=']);
    expect(nodel.log).toEqual(['2: PUT k=1', '4: PUT k=2']);
  });

  it('replays history from a past revision, then continues live without gaps or repeats', () => {
    const s = new KvStore();
    apply(s, P('a', '1'), P('b', '1'), P('a', '2'), D('b'), P('c', '1')); // 2..6
    const r = recorder();
    watch(s, { key: b('a'), rangeEnd: b('c'), startRevision: 3, prevKv: true }, r.fn);
    expect(r.log).toEqual(['3: PUT b=1', '4: PUT a=2 (was 1)', '5: DELETE b= (was 1)']);
    apply(s, P('b', '2'), P('c', '2'));
    expect(r.log).toEqual(['3: PUT b=1', '4: PUT a=2 (was 1)', '5: DELETE b= (was 1)', '7: PUT b=2']);
  });

  it('replays a txn revision as one call, in execution order', () => {
    const s = new KvStore();
    apply(s, {
      op: 'txn',
      req: { compare: [], success: [{ requestPut: { key: b('z'), value: b('1') } }, { requestPut: { key: b('a'), value: b('1') } }], failure: [] },
    });
    const r = recorder();
    watch(s, { key: ZERO, rangeEnd: ZERO, startRevision: 1 }, r.fn);
    expect(r.log).toEqual(['2: PUT z=1, PUT a=1']);
  });

  it('starts at a future revision', () => {
    const s = new KvStore();
    const r = recorder();
    watch(s, { key: b('k'), startRevision: 4 }, r.fn);
    apply(s, P('k', '1'), P('k', '2'), P('k', '3'));
    expect(r.log).toEqual(['4: PUT k=3']);
  });

  it('fails with COMPACTED at or below the compact revision, and replays after it', () => {
    const s = new KvStore();
    apply(s, P('k', '1'), P('k', '2'), D('k'), P('k', '3'), { op: 'compact', req: { revision: 4 } });
    for (const start of [1, 4]) {
      const e = s.watch({ key: b('k'), startRevision: start }, () => {});
      expect(e).toBeInstanceOf(KvError);
      expect((e as KvError).code).toBe('COMPACTED');
      expect((e as KvError).compactRevision).toBe(4);
    }
    const r = recorder();
    watch(s, { key: b('k'), startRevision: 5, prevKv: true }, r.fn);
    expect(r.log).toEqual(['5: PUT k=3']);
    const all = recorder();
    watch(s, { key: ZERO, rangeEnd: ZERO, startRevision: 5 }, all.fn);
    expect(all.log).toEqual(['5: PUT k=3']);
  });

  it('stops delivering after cancel, including a cancel from another callback in the same revision', () => {
    const s = new KvStore();
    const r1 = recorder();
    const r2 = recorder();
    let h2: WatchHandle | undefined;
    const h1 = watch(s, { key: b('k') }, (evs, rev) => {
      r1.fn(evs, rev);
      h2?.cancel();
    });
    h2 = watch(s, { key: b('k') }, r2.fn);
    apply(s, P('k', '1'));
    expect(r1.log).toEqual(['2: PUT k=1']);
    expect(r2.log).toEqual([]);
    h1.cancel();
    h1.cancel();
    apply(s, P('k', '2'));
    expect(r1.log).toHaveLength(1);
    expect(s.watchCount).toBe(0);
  });

  it('cancels a watch whose callback throws, reports it, and keeps serving others', () => {
    const s = new KvStore();
    const errors: [number, unknown][] = [];
    s.onWatchError = (id, e) => errors.push([id, e]);
    const bad = watch(s, { key: b('k') }, () => {
      throw new Error('boom');
    });
    const good = recorder();
    watch(s, { key: b('k') }, good.fn);
    apply(s, P('k', '1'), P('k', '2'));
    expect(errors).toHaveLength(1);
    expect(errors[0][0]).toBe(bad.id);
    expect(good.log).toEqual(['2: PUT k=1', '3: PUT k=2']);
    expect(s.revision).toBe(3);
  });

  it('refuses re-entrant apply from a callback', () => {
    const s = new KvStore();
    const errors: unknown[] = [];
    s.onWatchError = (_id, e) => errors.push(e);
    watch(s, { key: b('k') }, () => {
      s.apply(P('other', '1'));
    });
    apply(s, P('k', '1'));
    expect(String(errors[0])).toMatch(/re-entrantly/);
    expect(s.revision).toBe(2);
  });

  it('a watch created inside a callback starts after the revision being delivered', () => {
    const s = new KvStore();
    const late = recorder();
    const replayed = recorder();
    const first = watch(s, { key: b('k') }, () => {
      first.cancel();
      watch(s, { key: b('k') }, late.fn);
      watch(s, { key: b('k'), startRevision: 2 }, replayed.fn);
    });
    apply(s, P('k', '1'), P('k', '2'));
    expect(late.log).toEqual(['3: PUT k=2']);
    expect(replayed.log).toEqual(['2: PUT k=1', '3: PUT k=2']);
  });

  it('fans out to many watchers on shared and distinct ranges', () => {
    const s = new KvStore();
    const counts = new Array<number>(300).fill(0);
    const handles = counts.map((_, i) =>
      watch(s, i % 3 === 0 ? { key: b('/p/'), rangeEnd: prefixEnd(b('/p/')) } : i % 3 === 1 ? { key: b(`/p/${i}`) } : { key: b(`/p/${i}`), rangeEnd: b(`/p/${i}\0`) }, (evs) => {
        counts[i] += evs.length;
      }),
    );
    for (let i = 0; i < 300; i++) apply(s, P(`/p/${i}`, 'v'));
    for (let i = 0; i < 300; i++) expect(counts[i]).toBe(i % 3 === 0 ? 300 : 1);
    for (const h of handles) h.cancel();
    expect(s.watchCount).toBe(0);
  });

  it('refuses malformed watch requests with INVALID', () => {
    const s = new KvStore();
    for (const req of [{ key: new Uint8Array() }, { key: b('a'), startRevision: -1 }, { key: b('a'), filters: ['nope'] }]) {
      const e = s.watch(req as WatchRequest, () => {});
      expect(e).toBeInstanceOf(KvError);
      expect((e as KvError).code).toBe('INVALID');
    }
  });
});
