import { Buffer } from 'node:buffer';
import { createServer, type Server } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { KvStore } from '../kv/store.js';
import type { WatchEvent } from '../kv/types.js';
import { RaftKvError } from '../server/api.js';
import { buildHttpApi, type HttpApiOptions } from '../server/http.js';
import { MemoryKvApi } from '../server/http/memory-api.js';
import {
  isAlreadyExists,
  isCompacted,
  isFutureRev,
  isInvalid,
  isLeaseNotFound,
  isMemberNotFound,
  isNoLeader,
  isNotFound,
  isTimeout,
  isTooLarge,
  RaftKvClient,
} from './index.js';

const txt = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(api = new MemoryKvApi(), opts: HttpApiOptions = {}, port = 0): Promise<{ app: FastifyInstance; api: MemoryKvApi; url: string; port: number }> {
  const app = buildHttpApi(api, opts);
  const url = await app.listen({ host: '127.0.0.1', port });
  cleanups.push(() => app.close());
  return { app, api, url, port: Number(new URL(url).port) };
}

function client(endpoints: string[], opts: { timeoutMs?: number; retries?: number } = {}): RaftKvClient {
  const c = new RaftKvClient({ endpoints, ...opts });
  cleanups.push(() => c.close());
  return c;
}

/** A TCP port with nothing listening. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Accepts connections, reads a request, then resets the socket; counts requests. */
async function resetServer(): Promise<{ url: string; requests: () => number }> {
  let n = 0;
  const s: Server = createServer((sock) => {
    sock.on('data', () => {
      n++;
      sock.resetAndDestroy();
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => s.close(r)));
  return { url: `http://127.0.0.1:${(s.address() as { port: number }).port}`, requests: () => n };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function rejection(p: Promise<unknown>): Promise<RaftKvError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RaftKvError);
    return err as RaftKvError;
  }
  throw new Error('expected a rejection');
}

describe('RaftKvClient KV', () => {
  it('put / get / delete with strings and bytes, decoded to kv/types shapes', async () => {
    const { url, api } = await serve();
    const c = client([url]);
    const p = await c.put('foo', 'bar');
    expect(p.header).toEqual({ clusterId: api.clusterId, memberId: api.memberId, revision: 2, raftTerm: 2 });
    const p2 = await c.put(new Uint8Array([0, 255]), new Uint8Array([1, 2, 3]), { prevKv: true });
    expect(p2.prevKv).toBeUndefined();
    const p3 = await c.put('foo', 'baz', { prevKv: true });
    expect(txt(p3.prevKv!.value)).toBe('bar');

    const g = await c.get('foo');
    expect(g.count).toBe(1);
    expect(g.more).toBe(false);
    expect(g.kvs[0]).toEqual({ key: new Uint8Array(Buffer.from('foo')), createRevision: 2, modRevision: 4, version: 2, value: new Uint8Array(Buffer.from('baz')), lease: 0 });
    expect(g.kvs[0].key).toBeInstanceOf(Uint8Array);
    const bin = await c.get(new Uint8Array([0, 255]));
    expect([...bin.kvs[0].value]).toEqual([1, 2, 3]);
    expect((await c.get('foo', { revision: 2 })).kvs[0].value).toEqual(new Uint8Array(Buffer.from('bar')));
    expect((await c.get('nope')).kvs).toEqual([]);

    const d = await c.delete('foo', { prevKv: true });
    expect(d.deleted).toBe(1);
    expect(txt(d.prevKvs[0].value)).toBe('baz');
    expect((await c.delete('foo')).deleted).toBe(0);
  });

  it('range options: prefix, rangeEnd, fromKey, limit, keysOnly, countOnly, serializable, sort', async () => {
    const { url } = await serve();
    const c = client([url]);
    for (const k of ['a/1', 'a/2', 'a/3', 'b/1']) await c.put(k, `v${k}`);
    const pre = await c.get('a/', { prefix: true });
    expect(pre.kvs.map((kv) => txt(kv.key))).toEqual(['a/1', 'a/2', 'a/3']);
    expect((await c.get('a/2', { rangeEnd: 'b' })).kvs.map((kv) => txt(kv.key))).toEqual(['a/2', 'a/3']);
    expect((await c.get('a/3', { fromKey: true })).kvs.map((kv) => txt(kv.key))).toEqual(['a/3', 'b/1']);
    const lim = await c.get('a/', { prefix: true, limit: 2 });
    expect([lim.kvs.length, lim.more, lim.count]).toEqual([2, true, 3]);
    expect((await c.get('a/', { prefix: true, keysOnly: true })).kvs.every((kv) => kv.value.length === 0)).toBe(true);
    const co = await c.get('a/', { prefix: true, countOnly: true });
    expect([co.kvs.length, co.count]).toEqual([0, 3]);
    expect((await c.get('a/', { prefix: true, serializable: true })).count).toBe(3);
    const desc = await c.get('a/', { prefix: true, sortOrder: 'descend', sortTarget: 'key' });
    expect(desc.kvs.map((kv) => txt(kv.key))).toEqual(['a/3', 'a/2', 'a/1']);
    expect((await c.delete('a/', { prefix: true })).deleted).toBe(3);
  });

  it('txn and compact', async () => {
    const { url } = await serve();
    const c = client([url]);
    await c.put('k', '1');
    const enc = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
    const t = await c.txn({
      compare: [{ result: 'equal', target: 'value', key: enc('k'), value: enc('1') }],
      success: [{ requestPut: { key: enc('k'), value: enc('2'), prevKv: true } }, { requestRange: { key: enc('k') } }],
      failure: [],
    });
    expect(t.succeeded).toBe(true);
    expect(t.header.revision).toBe(3);
    const [put, range] = t.responses as unknown as [{ responsePut: { prevKv: { value: Uint8Array } } }, { responseRange: { kvs: { value: Uint8Array }[] } }];
    expect(txt(put.responsePut.prevKv.value)).toBe('1');
    expect(txt(range.responseRange.kvs[0].value)).toBe('2');
    const f = await c.txn({ compare: [{ result: 'greater', target: 'version', key: enc('k'), version: 5 }], success: [], failure: [{ requestTxn: { compare: [], success: [{ requestDeleteRange: { key: enc('k') } }], failure: [] } }] });
    expect(f.succeeded).toBe(false);
    expect(f.responses[0]).toMatchObject({ responseTxn: { succeeded: true, responses: [{ responseDeleteRange: { deleted: 1 } }] } });

    await c.compact(3);
    const err = await rejection(c.get('k', { revision: 2 }));
    expect(isCompacted(err)).toBe(true);
    expect(err.compactRevision).toBe(3);
    expect(isFutureRev(await rejection(c.get('k', { revision: 100 })))).toBe(true);
    expect(isCompacted(await rejection(c.compact(2)))).toBe(true);
  });

  it('leases', async () => {
    const { url } = await serve();
    const c = client([url]);
    const g = await c.leaseGrant(30);
    expect(g).toMatchObject({ ID: 1, TTL: 30 });
    const g2 = await c.leaseGrant(10, 0x1234);
    expect(g2.ID).toBe(0x1234);
    expect(isAlreadyExists(await rejection(c.leaseGrant(10, 0x1234)))).toBe(true);
    await c.put('lk', 'v', { lease: g.ID });
    expect((await c.get('lk')).kvs[0].lease).toBe(g.ID);
    expect((await c.leases()).leases).toEqual([{ ID: 1 }, { ID: 0x1234 }]);
    const ttl = await c.leaseTimeToLive(g.ID, { keys: true });
    expect(ttl).toMatchObject({ ID: 1, grantedTTL: 30, keys: [new Uint8Array(Buffer.from('lk'))] });
    expect(ttl.TTL).toBeGreaterThan(0);
    expect(await c.leaseKeepAliveOnce(g.ID)).toMatchObject({ ID: 1, TTL: 30 });
    await c.leaseRevoke(g.ID);
    expect((await c.get('lk')).kvs).toEqual([]);
    expect((await c.leaseTimeToLive(g.ID)).TTL).toBe(-1);
    const e = await rejection(c.leaseRevoke(g.ID));
    expect([isLeaseNotFound(e), isNotFound(e), e.code]).toEqual([true, true, 'LEASE_NOT_FOUND']);
    expect(isNotFound(await rejection(c.put('x', 'y', { lease: 999 })))).toBe(true);
  });

  it('members, status, health, snapshot', async () => {
    const { url, api } = await serve();
    const c = client([url]);
    const l = await c.memberList();
    expect(l.members).toEqual([{ id: api.memberId, name: 'default', peerURLs: ['http://127.0.0.1:2380'], clientURLs: ['http://127.0.0.1:2379'], isLearner: false }]);
    expect(l.header.clusterId).toBe(api.clusterId);
    const a = await c.memberAdd(['http://10.0.0.9:2380'], { learner: true });
    expect(a.member).toMatchObject({ peerURLs: ['http://10.0.0.9:2380'], isLearner: true });
    expect(isAlreadyExists(await rejection(c.memberAdd(['http://10.0.0.9:2380'])))).toBe(true);
    expect((await c.memberPromote(a.member.id)).members.every((m) => !m.isLearner)).toBe(true);
    expect((await c.memberRemove(a.member.id)).members).toHaveLength(1);
    expect(isMemberNotFound(await rejection(c.memberRemove(a.member.id)))).toBe(true);

    await c.put('k', 'v');
    const s = await c.status();
    expect(s).toMatchObject({ endpoint: url, version: '3.5.0', leader: api.memberId, raftTerm: 2, isLearner: false, errors: [] });
    expect(s.header.revision).toBe(2);
    expect(s.dbSize).toBeGreaterThan(0);
    expect((await c.status(url)).endpoint).toBe(url);
    expect(await c.health()).toEqual({ health: true, reason: '' });
    api.noLeader = true;
    expect(await c.health(url)).toEqual({ health: false, reason: 'RAFT NO LEADER' });
    api.noLeader = false;

    const snap = await c.snapshot();
    expect(snap).toBeInstanceOf(Uint8Array);
    expect(KvStore.restore(snap).revision).toBe(2);
  });

  it('maps server errors to RaftKvError codes', async () => {
    const { url } = await serve(new MemoryKvApi(), { maxRequestBytes: 1000 });
    const c = client([url]);
    const inv = await rejection(c.put('', 'v'));
    expect([inv.code, isInvalid(inv)]).toEqual(['INVALID', true]);
    expect(isTooLarge(await rejection(c.put('k', 'x'.repeat(2000))))).toBe(true);
    const many = await rejection(c.txn({ compare: [], success: Array.from({ length: 129 }, (_, i) => ({ requestRange: { key: new Uint8Array([i + 1]) } })), failure: [] }));
    expect(many.code).toBe('TOO_MANY_OPS');
  });

  it('validates its options', () => {
    expect(() => new RaftKvClient({ endpoints: [] })).toThrow(/endpoints/);
    expect(() => new RaftKvClient({ endpoints: ['ftp://x'] })).toThrow(/http/);
    expect(() => new RaftKvClient({ endpoints: ['http://x:1'], timeoutMs: 0 })).toThrow(/timeoutMs/);
  });
});

describe('RaftKvClient retries and leader handling', () => {
  it('retries 503 NO_LEADER / NOT_LEADER / STOPPING (not proposed) but not 504 TIMEOUT or LEADER_CHANGED for writes', async () => {
    const { url, api } = await serve();
    const c = client([url], { timeoutMs: 2000 });
    api.failNext.put = new RaftKvError('NO_LEADER', 'no leader');
    await c.put('a', '1');
    api.failNext.put = new RaftKvError('STOPPING', 'stopping');
    await c.put('a', '2');
    expect(txt((await c.get('a')).kvs[0].value)).toBe('2');
    api.failNext.put = new RaftKvError('TIMEOUT', 'request timed out');
    const e = await rejection(c.put('a', '3'));
    expect(isTimeout(e)).toBe(true);
    // Idempotent reads are retried after a 504.
    api.failNext.range = new RaftKvError('TIMEOUT', 'request timed out');
    expect(txt((await c.get('a')).kvs[0].value)).toBe('2');
    // A leader change mid-request is a 503 too, but its outcome is unknown: final for a write,
    // retried for a read.
    api.failNext.put = new RaftKvError('LEADER_CHANGED', 'the leader changed');
    expect((await rejection(c.put('a', '3'))).code).toBe('LEADER_CHANGED');
    api.failNext.range = new RaftKvError('LEADER_CHANGED', 'the leader changed');
    expect(txt((await c.get('a')).kvs[0].value)).toBe('2');
    // Errors other than unavailability are final at once.
    api.failNext.put = new RaftKvError('UNHEALTHY', 'would lose quorum');
    expect((await rejection(c.put('a', '4'))).code).toBe('UNHEALTHY');
  });

  it('keeps retrying NO_LEADER within 2 × timeoutMs, then throws it; `retries` caps the attempts', async () => {
    const { url, api } = await serve();
    api.noLeader = true;
    const c = client([url], { timeoutMs: 300 });
    const t0 = Date.now();
    const e = await rejection(c.put('a', '1'));
    expect(isNoLeader(e)).toBe(true);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(300);
    expect(took).toBeLessThan(3000);
    const c2 = client([url], { timeoutMs: 5000, retries: 1 });
    const t1 = Date.now();
    expect(isNoLeader(await rejection(c2.put('a', '1')))).toBe(true);
    expect(Date.now() - t1).toBeLessThan(2500);
  });

  it('connection refused: fails over to a live endpoint; with none, throws NO_LEADER with the cause', async () => {
    const dead = `http://127.0.0.1:${await deadPort()}`;
    const { url, api } = await serve();
    const c = client([dead, url], { timeoutMs: 500 });
    await c.put('k', 'v');
    expect(api.store.revision).toBe(2);
    const only = client([dead], { timeoutMs: 200 });
    const e = await rejection(only.put('k', 'v'));
    expect(e.code).toBe('NO_LEADER');
    expect(e.message).toContain('ECONNREFUSED');
    expect((e.cause as { code?: string }).code).toBe('ECONNREFUSED');
  });

  it('a write whose connection is reset after sending is not retried (TIMEOUT); a read is', async () => {
    const r = await resetServer();
    const c = client([r.url], { timeoutMs: 200 });
    const e = await rejection(c.put('k', 'v'));
    expect(e.code).toBe('TIMEOUT');
    expect(e.message).toMatch(/may or may not have been applied/);
    expect(r.requests()).toBe(1);
    const e2 = await rejection(c.get('k'));
    expect(e2.code).toBe('TIMEOUT');
    expect(r.requests()).toBeGreaterThan(2);
    const before = r.requests();
    const e3 = await rejection(c.txn({ compare: [], success: [{ requestRange: { key: new Uint8Array([1]) } }], failure: [] }));
    expect(e3.code).toBe('TIMEOUT');
    expect(r.requests() - before).toBeGreaterThan(1);
  });

  it('sends requests to the leader among the endpoints', async () => {
    const follower = await serve(new MemoryKvApi({ memberId: 10 }));
    follower.api.leader = false; // reports leader 10 + 0x1000
    const leader = await serve(new MemoryKvApi({ memberId: 10 + 0x1000 }));
    const c = client([follower.url, leader.url]);
    await c.put('k', 'v');
    expect(leader.api.store.revision).toBe(2);
    expect(follower.api.store.revision).toBe(1);
    expect((await c.status()).endpoint).toBe(leader.url);
    // The leader goes away: the client moves on to the other member. (A write racing the close
    // on a kept-alive socket could fail with TIMEOUT — outcome unknown —, so read first.)
    await leader.app.close();
    await c.get('k');
    await c.put('k2', 'v');
    expect(follower.api.store.revision).toBe(2);
  });

  it('follows a NOT_LEADER hint to the named endpoint', async () => {
    const a = await serve(new MemoryKvApi({ memberId: 1 }));
    const b = await serve(new MemoryKvApi({ memberId: 2 }));
    const c = client([a.url, b.url]);
    await c.put('x', '1'); // a and b both claim leadership; a is picked first
    expect(a.api.store.revision).toBe(2);
    a.api.failNext.put = new RaftKvError('NOT_LEADER', 'not leader', { leaderClientURLs: [b.url] });
    await c.put('x', '2');
    expect(b.api.store.revision).toBe(2);
    await c.put('x', '3');
    expect(b.api.store.revision).toBe(3);
  });
});

describe('RaftKvClient watch', () => {
  it('delivers events per revision, with prevKv, prefix and filters; ready; cancel', async () => {
    const { url, api } = await serve();
    const c = client([url]);
    const got: [string, string, number, string | undefined][] = [];
    const w = c.watch('w/', {
      prefix: true,
      prevKv: true,
      onEvents: (evs, rev) => {
        for (const e of evs) got.push([e.type, txt(e.kv.key), rev, e.prevKv ? txt(e.prevKv.value) : undefined]);
      },
    });
    await w.ready;
    await c.put('w/a', '1');
    await c.put('x', '1');
    await c.put('w/a', '2');
    await c.delete('w/a');
    await until(() => got.length === 3);
    expect(got).toEqual([
      ['PUT', 'w/a', 2, undefined],
      ['PUT', 'w/a', 4, '1'],
      ['DELETE', 'w/a', 5, '2'],
    ]);
    w.cancel();
    await until(() => api.store.watchCount === 0);
    await c.put('w/b', '1');
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toHaveLength(3);

    const dels: WatchEvent[] = [];
    const w2 = c.watch('w/', { prefix: true, filters: ['noput'], startRevision: 1, onEvents: (evs) => dels.push(...evs) });
    await w2.ready;
    await until(() => dels.length === 1);
    expect(dels[0].type).toBe('DELETE');
    w2.cancel();
  });

  it('replays from startRevision; progress notifications; AbortSignal cancels', async () => {
    const { url, api } = await serve(new MemoryKvApi(), { progressNotifyMs: 25 });
    const c = client([url]);
    await c.put('k', '1');
    await c.put('k', '2');
    const seen: number[] = [];
    const ac = new AbortController();
    const w = c.watch('k', {
      startRevision: 2,
      progressNotify: true,
      signal: ac.signal,
      onEvents: (evs, rev) => seen.push(evs.length === 0 ? -rev : rev),
    });
    await w.ready;
    await until(() => seen.includes(-3));
    expect(seen.filter((x) => x > 0)).toEqual([2, 3]);
    ac.abort();
    await until(() => api.store.watchCount === 0);
    await expect(w.ready).resolves.toBeUndefined();
  });

  it('resumes after the server restarts, from lastRevision + 1, without duplicates or gaps', async () => {
    const store = new KvStore();
    const first = await serve(new MemoryKvApi({ store }));
    const c = client([first.url], { timeoutMs: 2000 });
    const revs: number[] = [];
    const values: string[] = [];
    const errors: RaftKvError[] = [];
    const w = c.watch('r/', {
      prefix: true,
      onEvents: (evs, rev) => {
        revs.push(rev);
        for (const e of evs) values.push(txt(e.kv.value));
      },
      onError: (e) => errors.push(e),
    });
    await w.ready;
    await c.put('r/1', 'a');
    await c.put('r/2', 'b');
    await until(() => revs.length === 2);
    await first.app.close();
    // Writes while the client is disconnected.
    const api2 = new MemoryKvApi({ store });
    await api2.put({ key: Buffer.from('r/3'), value: Buffer.from('c') });
    await api2.put({ key: Buffer.from('zzz'), value: Buffer.from('x') });
    await api2.put({ key: Buffer.from('r/4'), value: Buffer.from('d') });
    await serve(api2, {}, first.port);
    await until(() => revs.length === 4);
    await api2.put({ key: Buffer.from('r/5'), value: Buffer.from('e') });
    await until(() => revs.length === 5);
    expect(values).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(revs).toEqual([2, 3, 4, 6, 7]);
    expect(errors).toEqual([]);
    expect(store.watchCount).toBe(1);
    w.cancel();
    await until(() => store.watchCount === 0);
  });

  it('resumes on another endpoint', async () => {
    const store = new KvStore();
    const a = await serve(new MemoryKvApi({ store }));
    const b = await serve(new MemoryKvApi({ store }));
    const c = client([a.url, b.url], { timeoutMs: 2000 });
    const values: string[] = [];
    const w = c.watch('k', { onEvents: (evs) => values.push(...evs.map((e) => txt(e.kv.value))) });
    await w.ready;
    await c.put('k', '1');
    await until(() => values.length === 1);
    await a.app.close();
    await b.api.put({ key: Buffer.from('k'), value: Buffer.from('2') });
    await until(() => values.length === 2);
    expect(values).toEqual(['1', '2']);
    w.cancel();
  });

  it('a resume point that was compacted meanwhile ends the watch with onError(COMPACTED)', async () => {
    const store = new KvStore();
    const first = await serve(new MemoryKvApi({ store }));
    const c = client([first.url], { timeoutMs: 2000 });
    const errors: RaftKvError[] = [];
    const w = c.watch('k', { onEvents: () => undefined, onError: (e) => errors.push(e) });
    await w.ready;
    await c.put('k', '1');
    await first.app.close();
    const api2 = new MemoryKvApi({ store });
    await api2.put({ key: Buffer.from('k'), value: Buffer.from('2') });
    await api2.put({ key: Buffer.from('k'), value: Buffer.from('3') });
    await api2.compact({ revision: 4 });
    await serve(api2, {}, first.port);
    await until(() => errors.length === 1);
    expect(isCompacted(errors[0])).toBe(true);
    expect(errors[0].compactRevision).toBe(4);
    expect(store.watchCount).toBe(0);
  });

  it('a watch the member cancels is resumed; one cancelled as COMPACTED reports it', async () => {
    const { url, api } = await serve();
    const c = client([url]);
    const values: string[] = [];
    const errors: RaftKvError[] = [];
    const w = c.watch('k', { onEvents: (evs) => values.push(...evs.map((e) => txt(e.kv.value))), onError: (e) => errors.push(e) });
    await w.ready;
    await c.put('k', '1');
    await until(() => values.length === 1);
    api.cancelWatches(new RaftKvError('STOPPING', 'snapshot install'));
    await api.put({ key: Buffer.from('k'), value: Buffer.from('2') });
    await until(() => values.length === 2 && api.store.watchCount === 1);
    expect(values).toEqual(['1', '2']);
    api.cancelWatches(new RaftKvError('COMPACTED', 'compacted', { compactRevision: 3 }));
    await until(() => errors.length === 1);
    expect(isCompacted(errors[0])).toBe(true);
    expect(errors[0].compactRevision).toBe(3);
  });

  it('an initially compacted start revision rejects ready and calls onError', async () => {
    const { url, api } = await serve();
    await api.put({ key: Buffer.from('k'), value: Buffer.from('1') });
    await api.put({ key: Buffer.from('k'), value: Buffer.from('2') });
    await api.compact({ revision: 3 });
    const c = client([url]);
    const errors: RaftKvError[] = [];
    const w = c.watch('k', { startRevision: 1, onEvents: () => undefined, onError: (e) => errors.push(e) });
    const e = await rejection(w.ready);
    expect(isCompacted(e)).toBe(true);
    expect(errors).toHaveLength(1);
  });

  it('an onEvents exception stops the watch and is reported', async () => {
    const { url, api } = await serve();
    const c = client([url]);
    const errors: RaftKvError[] = [];
    const w = c.watch('k', {
      onEvents: () => {
        throw new Error('consumer bug');
      },
      onError: (e) => errors.push(e),
    });
    await w.ready;
    await c.put('k', '1');
    await until(() => errors.length === 1);
    expect(errors[0].message).toContain('consumer bug');
    await until(() => api.store.watchCount === 0);
  });

  it('close() cancels watches', async () => {
    const { url, api } = await serve();
    const c = new RaftKvClient({ endpoints: [url] });
    const w = c.watch('k', { onEvents: () => undefined });
    await w.ready;
    await c.close();
    await until(() => api.store.watchCount === 0);
    expect((await rejection(c.get('k'))).code).toBe('STOPPING');
  });
});
