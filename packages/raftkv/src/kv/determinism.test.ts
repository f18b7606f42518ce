/**
 * Property test: seeded random command sequences applied to several stores (one restored from a
 * snapshot midway) must give byte-identical snapshots, and every response, range result and watch
 * delivery must match a naive model that recomputes everything from the full history.
 *
 * Replay a failure with SEED=<n> npx vitest run packages/raftkv/src/kv/determinism.test.ts
 */
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../raft/simulation.js';
import { KvStore } from './store.js';
import type {
  Compare,
  KeyValue,
  KvCommand,
  KvCommandResult,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  SortTarget,
  TxnRequest,
  TxnResponse,
  WatchEvent,
  WatchRequest,
} from './types.js';
import { KvError } from './types.js';


const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const latin1 = (u: Uint8Array): string => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('latin1');

// ---- the naive model ------------------------------------------------------------------------

interface Version {
  rev: number;
  kv: KeyValue | null; // null: deleted
}

type Delivery = [WatchEvent[], number];

class Model {
  rev = 1;
  compactRev = 0;
  lastLeaseId = 0;
  readonly leases = new Map<number, number>();
  /** Full history, never compacted: compaction only changes which reads are allowed. */
  readonly hist = new Map<string, Version[]>();
  /** Every change in order, for watches. */
  readonly events: { rev: number; key: string; ev: WatchEvent; evPrev: WatchEvent }[] = [];

  at(key: string, rev: number): KeyValue | undefined {
    let found: KeyValue | null | undefined;
    for (const v of this.hist.get(key) ?? []) if (v.rev <= rev) found = v.kv;
    return found ?? undefined;
  }

  keysIn(key: Uint8Array, rangeEnd: Uint8Array | undefined): string[] {
    const k = latin1(key);
    const all = [...this.hist.keys()].sort();
    if (rangeEnd === undefined || rangeEnd.length === 0) return all.filter((x) => x === k);
    if (rangeEnd.length === 1 && rangeEnd[0] === 0) return all.filter((x) => x >= k);
    const e = latin1(rangeEnd);
    return all.filter((x) => x >= k && x < e);
  }

  write(key: string, kv: KeyValue | null, rev: number): void {
    const prev = this.at(key, Infinity);
    let h = this.hist.get(key);
    if (!h) this.hist.set(key, (h = []));
    h.push({ rev, kv });
    const ekv = kv ?? { key: bytes(key), createRevision: 0, modRevision: rev, version: 0, value: new Uint8Array(), lease: 0 };
    const type = kv ? 'PUT' : 'DELETE';
    this.events.push({ rev, key, ev: { type, kv: ekv }, evPrev: prev ? { type, kv: ekv, prevKv: prev } : { type, kv: ekv } });
  }

  range(req: RangeRequest, atRev: number, headerRev: number): RangeResponse {
    const found = this.keysIn(req.key, req.rangeEnd)
      .map((k) => this.at(k, atRev))
      .filter((kv): kv is KeyValue => kv !== undefined);
    const count = found.length;
    if (req.countOnly) return { header: { revision: headerRev }, kvs: [], more: false, count };
    let kvs = found.filter(
      (kv) =>
        (!req.minModRevision || kv.modRevision >= req.minModRevision) &&
        (!req.maxModRevision || kv.modRevision <= req.maxModRevision) &&
        (!req.minCreateRevision || kv.createRevision >= req.minCreateRevision) &&
        (!req.maxCreateRevision || kv.createRevision <= req.maxCreateRevision),
    );
    const target: SortTarget = req.sortTarget ?? 'key';
    const order = req.sortOrder ?? 'none';
    const eff = order === 'none' && target !== 'key' ? 'ascend' : order;
    const keyCmp = (a: KeyValue, b: KeyValue): number => (latin1(a.key) < latin1(b.key) ? -1 : latin1(a.key) > latin1(b.key) ? 1 : 0);
    const tv = (kv: KeyValue): number | string =>
      target === 'version' ? kv.version : target === 'create' ? kv.createRevision : target === 'mod' ? kv.modRevision : target === 'value' ? latin1(kv.value) : latin1(kv.key);
    if (eff !== 'none') {
      const sign = eff === 'descend' ? -1 : 1;
      kvs = [...kvs].sort((a, b) => {
        const x = tv(a);
        const y = tv(b);
        const c = x < y ? -1 : x > y ? 1 : 0;
        return sign * c || keyCmp(a, b);
      });
    }
    const limit = req.limit ?? 0;
    const more = limit > 0 && kvs.length > limit;
    if (limit > 0) kvs = kvs.slice(0, limit);
    if (req.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: new Uint8Array() }));
    return { header: { revision: headerRev }, kvs, more, count };
  }

  readError(rev: number): KvError | undefined {
    if (rev > 0 && rev < this.compactRev) return new KvError('COMPACTED', '', this.compactRev);
    if (rev > this.rev) return new KvError('FUTURE_REV', '');
    return undefined;
  }

  compare(c: Compare): boolean {
    const kvs = this.keysIn(c.key, c.rangeEnd)
      .map((k) => this.at(k, Infinity))
      .filter((kv): kv is KeyValue => kv !== undefined);
    const one = (kv: KeyValue | undefined): boolean => {
      let r: number;
      if (c.target === 'value') {
        if (!kv) return false;
        const a = latin1(kv.value);
        const b = latin1(c.value ?? new Uint8Array());
        r = a < b ? -1 : a > b ? 1 : 0;
      } else {
        const field = { version: 'version', create: 'createRevision', mod: 'modRevision', lease: 'lease' } as const;
        const f = field[c.target];
        r = (kv?.[f] ?? 0) - (c[f] ?? 0);
      }
      return c.result === 'equal' ? r === 0 : c.result === 'not_equal' ? r !== 0 : c.result === 'greater' ? r > 0 : r < 0;
    };
    return kvs.length === 0 ? one(undefined) : kvs.every(one);
  }

  putError(req: { key: Uint8Array; lease?: number; ignoreValue?: boolean; ignoreLease?: boolean }): KvError | undefined {
    if ((req.ignoreValue || req.ignoreLease) && !this.at(latin1(req.key), Infinity)) return new KvError('KEY_NOT_FOUND', '');
    if (req.lease && !this.leases.has(req.lease)) return new KvError('LEASE_NOT_FOUND', '');
    return undefined;
  }

  /** Applies a command KvStore.validate accepted. */
  apply(cmd: KvCommand): KvCommandResult | KvError {
    switch (cmd.op) {
      case 'put': {
        const e = this.putError(cmd.req);
        if (e) return e;
        const ctx = { rev: this.rev + 1, changed: false };
        const r = this.put(cmd.req, ctx);
        if (ctx.changed) this.rev = ctx.rev;
        return { ...r, header: { revision: this.rev } };
      }
      case 'deleteRange': {
        const ctx = { rev: this.rev + 1, changed: false };
        const r = this.del(cmd.req.key, cmd.req.rangeEnd, cmd.req.prevKv ?? false, ctx);
        if (ctx.changed) this.rev = ctx.rev;
        return { ...r, header: { revision: this.rev } };
      }
      case 'txn': {
        const path: boolean[] = [];
        const choose = (t: TxnRequest): void => {
          const ok = t.compare.every((c) => this.compare(c));
          path.push(ok);
          for (const op of ok ? t.success : t.failure) if ('requestTxn' in op) choose(op.requestTxn);
        };
        choose(cmd.req);
        let i = 0;
        const check = (t: TxnRequest): KvError | undefined => {
          const ok = path[i++];
          for (const op of ok ? t.success : t.failure) {
            const e =
              'requestRange' in op ? this.readError(op.requestRange.revision ?? 0)
              : 'requestPut' in op ? this.putError(op.requestPut)
              : 'requestTxn' in op ? check(op.requestTxn)
              : undefined;
            if (e) return e;
          }
          return undefined;
        };
        const e = check(cmd.req);
        if (e) return e;
        i = 0;
        const ctx = { rev: this.rev + 1, changed: false };
        const exec = (t: TxnRequest): TxnResponse => {
          const ok = path[i++];
          const responses: ResponseOp[] = [];
          for (const op of ok ? t.success : t.failure) {
            if ('requestRange' in op) {
              const rev = op.requestRange.revision ?? 0;
              responses.push({ responseRange: this.range(op.requestRange, rev === 0 ? Infinity : rev, 0) });
            } else if ('requestPut' in op) {
              responses.push({ responsePut: this.put(op.requestPut, ctx) });
            } else if ('requestDeleteRange' in op) {
              const d = op.requestDeleteRange;
              responses.push({ responseDeleteRange: this.del(d.key, d.rangeEnd, d.prevKv ?? false, ctx) });
            } else {
              responses.push({ responseTxn: exec(op.requestTxn) });
            }
          }
          return { header: { revision: 0 }, succeeded: ok, responses };
        };
        const r = exec(cmd.req);
        if (ctx.changed) this.rev = ctx.rev;
        setHeaders(r, this.rev);
        return r;
      }
      case 'compact': {
        if (cmd.req.revision <= this.compactRev) return new KvError('COMPACTED', '', this.compactRev);
        if (cmd.req.revision > this.rev) return new KvError('FUTURE_REV', '');
        this.compactRev = cmd.req.revision;
        return { header: { revision: this.rev } };
      }
      case 'leaseGrant': {
        let id = cmd.req.ID ?? 0;
        if (id === 0) id = this.lastLeaseId + 1;
        else if (this.leases.has(id)) return new KvError('LEASE_EXISTS', '');
        this.leases.set(id, cmd.req.TTL);
        this.lastLeaseId = Math.max(this.lastLeaseId, id);
        return { header: { revision: this.rev }, ID: id, TTL: cmd.req.TTL };
      }
      case 'leaseRevoke': {
        const id = cmd.req.ID;
        if (!this.leases.has(id)) return new KvError('LEASE_NOT_FOUND', '');
        const ctx = { rev: this.rev + 1, changed: false };
        for (const k of [...this.hist.keys()].sort()) {
          if (this.at(k, Infinity)?.lease === id) this.del(bytes(k), undefined, false, ctx);
        }
        this.leases.delete(id);
        if (ctx.changed) this.rev = ctx.rev;
        return { header: { revision: this.rev } };
      }
    }
  }

  private put(req: { key: Uint8Array; value: Uint8Array; lease?: number; prevKv?: boolean; ignoreValue?: boolean; ignoreLease?: boolean }, ctx: { rev: number; changed: boolean }) {
    const k = latin1(req.key);
    const prev = this.at(k, Infinity);
    const kv: KeyValue = {
      key: bytes(k),
      createRevision: prev ? prev.createRevision : ctx.rev,
      modRevision: ctx.rev,
      version: prev ? prev.version + 1 : 1,
      value: req.ignoreValue ? prev!.value : new Uint8Array(req.value),
      lease: req.ignoreLease ? prev!.lease : (req.lease ?? 0),
    };
    this.write(k, kv, ctx.rev);
    ctx.changed = true;
    return req.prevKv && prev ? { header: { revision: 0 }, prevKv: prev } : { header: { revision: 0 } };
  }

  private del(key: Uint8Array, rangeEnd: Uint8Array | undefined, wantPrev: boolean, ctx: { rev: number; changed: boolean }) {
    const prevKvs: KeyValue[] = [];
    let deleted = 0;
    for (const k of this.keysIn(key, rangeEnd)) {
      const prev = this.at(k, Infinity);
      if (!prev) continue;
      this.write(k, null, ctx.rev);
      ctx.changed = true;
      deleted++;
      if (wantPrev) prevKvs.push(prev);
    }
    return { header: { revision: 0 }, deleted, prevKvs };
  }

  expectedWatch(req: WatchRequest, fromRev: number): Delivery[] {
    const matches = this.keysMatcher(req);
    const out: Delivery[] = [];
    for (const e of this.events) {
      if (e.rev < fromRev || !matches(e.key)) continue;
      if (e.ev.type === 'PUT' && req.filters?.includes('noput')) continue;
      if (e.ev.type === 'DELETE' && req.filters?.includes('nodelete')) continue;
      const ev = req.prevKv ? e.evPrev : e.ev;
      const last = out[out.length - 1];
      if (last && last[1] === e.rev) last[0].push(ev);
      else out.push([[ev], e.rev]);
    }
    return out;
  }

  private keysMatcher(req: WatchRequest): (k: string) => boolean {
    const k0 = latin1(req.key);
    const re = req.rangeEnd;
    if (re === undefined || re.length === 0) return (k) => k === k0;
    if (re.length === 1 && re[0] === 0) return (k) => k >= k0;
    const e = latin1(re);
    return (k) => k >= k0 && k < e;
  }
}

function setHeaders(t: TxnResponse, rev: number): void {
  t.header.revision = rev;
  for (const r of t.responses) {
    if ('responseTxn' in r) setHeaders(r.responseTxn, rev);
    else Object.values(r)[0].header.revision = rev;
  }
}

// ---- the command generator ------------------------------------------------------------------

class Gen {
  constructor(
    readonly rnd: () => number,
    readonly model: Model,
  ) {}

  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.rnd() < p;
  }

  key(): Uint8Array {
    let s = this.pick(['a', 'b', 'c', '\xff', 'a/']);
    const n = this.int(3);
    for (let i = 0; i < n; i++) s += this.pick(['/', '1', '2', '\xff', '\x00', 'x']);
    return bytes(s);
  }
  value(): Uint8Array {
    return bytes(this.pick(['', 'v', 'w', 'vv', '\xff', `n${this.int(50)}`]));
  }
  rangeEnd(key: Uint8Array): Uint8Array | undefined {
    const r = this.int(6);
    if (r <= 1) return undefined;
    if (r === 2) return new Uint8Array([0]);
    if (r === 3) return prefixEndOf(key);
    return this.key(); // may be <= key: an empty range
  }
  lease(): number {
    const ids = [...this.model.leases.keys()];
    if (ids.length === 0 || this.chance(0.6)) return this.chance(0.03) ? 999 : 0;
    return this.pick(ids);
  }
  revision(): number {
    if (this.chance(0.5)) return 0;
    return Math.max(0, this.model.compactRev - 1 + this.int(this.model.rev - this.model.compactRev + 3));
  }

  rangeReq(): RangeRequest {
    const key = this.key();
    const r: RangeRequest = { key, rangeEnd: this.rangeEnd(key) };
    if (this.chance(0.3)) r.limit = this.int(4);
    if (this.chance(0.5)) r.revision = this.revision();
    if (this.chance(0.3)) r.sortOrder = this.pick(['none', 'ascend', 'descend'] as const);
    if (this.chance(0.3)) r.sortTarget = this.pick(['key', 'version', 'create', 'mod', 'value'] as const);
    if (this.chance(0.1)) r.keysOnly = true;
    if (this.chance(0.1)) r.countOnly = true;
    if (this.chance(0.1)) r.minModRevision = this.int(this.model.rev + 1);
    if (this.chance(0.1)) r.maxModRevision = this.int(this.model.rev + 1);
    if (this.chance(0.1)) r.minCreateRevision = this.int(this.model.rev + 1);
    if (this.chance(0.1)) r.maxCreateRevision = this.int(this.model.rev + 1);
    return r;
  }

  compare(): Compare {
    const key = this.key();
    const c: Compare = {
      key,
      target: this.pick(['version', 'create', 'mod', 'value', 'lease'] as const),
      result: this.pick(['equal', 'greater', 'less', 'not_equal'] as const),
    };
    if (this.chance(0.2)) c.rangeEnd = this.rangeEnd(key);
    const n = this.int(this.model.rev + 1);
    if (c.target === 'version') c.version = this.int(4);
    else if (c.target === 'create') c.createRevision = n;
    else if (c.target === 'mod') c.modRevision = n;
    else if (c.target === 'lease') c.lease = this.lease();
    else c.value = this.value();
    return c;
  }

  ops(n: number, depth: number): RequestOp[] {
    const ops: RequestOp[] = [];
    for (let i = 0; i < n; i++) {
      const r = this.int(10);
      if (r < 2) ops.push({ requestRange: this.rangeReq() });
      else if (r < 7) ops.push({ requestPut: { key: this.key(), value: this.value(), lease: this.lease(), prevKv: this.chance(0.5) } });
      else if (r < 9 || depth >= 2) {
        const key = this.key();
        ops.push({ requestDeleteRange: { key, rangeEnd: this.chance(0.7) ? undefined : this.rangeEnd(key), prevKv: this.chance(0.5) } });
      } else ops.push({ requestTxn: this.txn(depth + 1) });
    }
    return ops;
  }

  txn(depth: number): TxnRequest {
    return {
      compare: Array.from({ length: this.int(3) }, () => this.compare()),
      success: this.ops(this.int(4), depth),
      failure: this.ops(this.int(3), depth),
    };
  }

  command(): KvCommand {
    const r = this.int(100);
    if (r < 38) {
      const req: KvCommand & { op: 'put' } = { op: 'put', req: { key: this.key(), value: this.value(), lease: this.lease(), prevKv: this.chance(0.3) } };
      if (this.chance(0.05)) {
        req.req.ignoreValue = true;
        req.req.value = new Uint8Array();
      } else if (this.chance(0.05)) {
        req.req.ignoreLease = true;
        req.req.lease = 0;
      }
      return req;
    }
    if (r < 50) {
      const key = this.key();
      return { op: 'deleteRange', req: { key, rangeEnd: this.chance(0.5) ? undefined : this.rangeEnd(key), prevKv: this.chance(0.5) } };
    }
    if (r < 78) return { op: 'txn', req: this.txn(0) };
    if (r < 84) return { op: 'leaseGrant', req: { TTL: 1 + this.int(30), ID: this.chance(0.7) ? 0 : 1 + this.int(12) } };
    if (r < 90) return { op: 'leaseRevoke', req: { ID: 1 + this.int(14) } };
    if (r < 93) {
      const span = this.model.rev - this.model.compactRev;
      return { op: 'compact', req: { revision: this.model.compactRev + this.int(Math.min(span, 60) + 2) } };
    }
    // Malformed commands: they must be refused without changing anything.
    return this.pick<KvCommand>([
      { op: 'put', req: { key: new Uint8Array(), value: this.value() } },
      { op: 'leaseGrant', req: { TTL: 0 } },
      { op: 'txn', req: { compare: [], success: [{ requestPut: { key: bytes('a'), value: bytes('1') } }, { requestPut: { key: bytes('a'), value: bytes('2') } }], failure: [] } },
      { op: 'deleteRange', req: { key: new Uint8Array() } },
    ]);
  }
}

function prefixEndOf(key: Uint8Array): Uint8Array {
  for (let i = key.length - 1; i >= 0; i--) {
    if (key[i] < 0xff) {
      const e = key.slice(0, i + 1);
      e[i]++;
      return e;
    }
  }
  return new Uint8Array([0]);
}

// ---- the test ---------------------------------------------------------------------------------

/** Strips KvError to its code (and compactRevision), since messages are free text. */
function normalise(r: unknown): unknown {
  if (r instanceof KvError) return { error: r.code, compactRevision: r.compactRevision };
  return r;
}

function rangeOrError(fn: () => RangeResponse): unknown {
  try {
    return fn();
  } catch (e) {
    if (e instanceof KvError) return normalise(e);
    throw e;
  }
}

function run(seed: number, steps: number): void {
  const rnd = seededRandom(seed);
  const model = new Model();
  const gen = new Gen(rnd, model);
  const a = new KvStore();
  const b = new KvStore();
  let c: KvStore | undefined;
  const watches: { req: WatchRequest; from: number; got: Delivery[] }[] = [];
  const addWatch = (req: WatchRequest): void => {
    const got: Delivery[] = [];
    const h = a.watch(req, (evs, rev) => got.push([evs, rev]));
    const start = req.startRevision ?? 0;
    if (start > 0 && start <= model.compactRev) {
      expect(normalise(h)).toEqual({ error: 'COMPACTED', compactRevision: model.compactRev });
      return;
    }
    expect(h).not.toBeInstanceOf(KvError);
    watches.push({ req, from: start === 0 ? model.rev + 1 : start, got });
  };
  const z = new Uint8Array([0]);
  addWatch({ key: z, rangeEnd: z });
  addWatch({ key: bytes('a'), rangeEnd: bytes('b'), prevKv: true });
  addWatch({ key: bytes('a/'), prevKv: true });
  addWatch({ key: bytes('b'), rangeEnd: z, filters: ['nodelete'] });
  addWatch({ key: bytes('\xff'), rangeEnd: z, filters: ['noput'], prevKv: true });

  let invalid = 0;
  let txns = 0;
  for (let step = 0; step < steps; step++) {
    const cmd = gen.command();
    let valid = true;
    try {
      KvStore.validate(cmd);
    } catch (e) {
      if (!(e instanceof KvError)) throw e;
      valid = false;
    }
    if (!valid) {
      invalid++;
      const before = a.snapshot();
      const r = a.apply(cmd);
      expect(r).toBeInstanceOf(KvError);
      expect(['INVALID', 'TOO_MANY_OPS']).toContain((r as KvError).code);
      expect(b.apply(cmd)).toBeInstanceOf(KvError);
      c?.apply(cmd);
      expect(a.snapshot()).toEqual(before);
      continue;
    }
    if (cmd.op === 'txn') txns++;
    const expected = model.apply(cmd);
    const got = a.apply(cmd);
    expect(normalise(got), `step ${step}: ${cmd.op}`).toEqual(normalise(expected));
    expect(normalise(b.apply(cmd))).toEqual(normalise(got));
    if (c) expect(normalise(c.apply(cmd))).toEqual(normalise(got));
    expect(a.revision).toBe(model.rev);
    expect(a.compactRevision).toBe(model.compactRev);

    if (step % 7 === 0) {
      const req = gen.rangeReq();
      const rev = req.revision ?? 0;
      const err = model.readError(rev);
      const want = err ? normalise(err) : model.range(req, rev === 0 ? model.rev : rev, model.rev);
      expect(rangeOrError(() => a.range(req)), `step ${step}: range ${JSON.stringify(req)}`).toEqual(want);
      if (c) expect(rangeOrError(() => c!.range(req))).toEqual(want);
    }
    if (step % 97 === 0) {
      const key = gen.key();
      const start = gen.chance(0.3) ? 0 : Math.max(1, model.compactRev - 1 + gen.int(model.rev - model.compactRev + 3));
      addWatch({ key, rangeEnd: gen.rangeEnd(key), startRevision: start, prevKv: gen.chance(0.5) });
    }
    if (step === Math.floor(steps / 2)) {
      c = KvStore.restore(a.snapshot());
      expect(c.snapshot()).toEqual(a.snapshot());
    }
    if (step % 500 === 0) expect(b.snapshot()).toEqual(a.snapshot());
  }
  // Enough of each kind of command was exercised for the comparison to mean something.
  expect(txns).toBeGreaterThan(steps / 10);
  expect(invalid).toBeGreaterThan(steps / 100);
  expect(invalid).toBeLessThan(steps / 4);

  const snap = a.snapshot();
  expect(b.snapshot()).toEqual(snap);
  expect(c!.snapshot()).toEqual(snap);
  expect(c!.sizeBytes()).toBe(a.sizeBytes());
  expect(KvStore.restore(snap).snapshot()).toEqual(snap);
  for (const w of watches) {
    expect(w.got, `watch ${JSON.stringify(w.req)}`).toEqual(model.expectedWatch(w.req, w.from));
  }
}

describe('determinism and model equivalence', () => {
  const seeds = process.env.SEED ? [Number(process.env.SEED)] : [1, 0xc0ffee, 20240611];
  it.each(seeds)('seed %i: 5,000 random commands', (seed) => {
    try {
      run(seed, 5000);
    } catch (e) {
      console.error(`SEED=${seed}`);
      throw e;
    }
  });
});
