import { Buffer } from 'node:buffer';
import type { FastifyInstance } from 'fastify';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { seededRandom } from '../raft/simulation.js';
import { KvStore } from '../kv/store.js';
import { RaftKvError } from './api.js';
import { buildHttpApi, DEFAULT_BODY_LIMIT, type HttpApiOptions } from './http.js';
import { MemoryKvApi } from './http/memory-api.js';

const b64 = (s: string | Uint8Array): string => Buffer.from(s).toString('base64');
const str = (b: string): string => Buffer.from(b, 'base64').toString('utf8');

const apps: FastifyInstance[] = [];
const agents: Agent[] = [];

afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.destroy()));
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

function setup(opts: HttpApiOptions = {}, api = new MemoryKvApi()): { app: FastifyInstance; api: MemoryKvApi } {
  const app = buildHttpApi(api, opts);
  apps.push(app);
  return { app, api };
}

async function post(app: FastifyInstance, url: string, body?: unknown): Promise<{ status: number; json: any; text: string }> {
  const res = await app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json' },
    payload: body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
  let json: unknown;
  try {
    json = JSON.parse(res.body);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, json, text: res.body };
}

async function ok(app: FastifyInstance, url: string, body?: unknown): Promise<any> {
  const r = await post(app, url, body);
  if (r.status !== 200) throw new Error(`${url}: ${r.status} ${r.text}`);
  return r.json;
}

describe('KV endpoints', () => {
  it('put / range round-trip with base64 bytes and int64 strings', async () => {
    const { app, api } = setup();
    const put = await ok(app, '/v3/kv/put', { key: b64('foo'), value: b64('bar') });
    expect(put).toEqual({ header: { cluster_id: String(api.clusterId), member_id: String(api.memberId), revision: '2', raft_term: '2' } });

    const r = await ok(app, '/v3/kv/range', { key: b64('foo') });
    expect(r).toEqual({
      header: { cluster_id: String(api.clusterId), member_id: String(api.memberId), revision: '2', raft_term: '2' },
      kvs: [{ key: b64('foo'), create_revision: '2', mod_revision: '2', version: '1', value: b64('bar'), lease: '0' }],
      more: false,
      count: '1',
    });
  });

  it('put with prev_kv returns the previous version; binary keys survive', async () => {
    const { app } = setup();
    const key = Buffer.from([0, 255, 10, 13, 128]);
    await ok(app, '/v3/kv/put', { key: b64(key), value: b64('v1') });
    const r = await ok(app, '/v3/kv/put', { key: b64(key), value: b64('v2'), prev_kv: true });
    expect(r.prev_kv).toMatchObject({ key: b64(key), value: b64('v1'), version: '1' });
    const g = await ok(app, '/v3/kv/range', { key: b64(key) });
    expect(g.kvs[0]).toMatchObject({ value: b64('v2'), version: '2', create_revision: '2', mod_revision: '3' });
  });

  it('range: prefix, limit, sort, keys_only, count_only, revision; camelCase and numeric inputs', async () => {
    const { app } = setup();
    for (const k of ['a/1', 'a/2', 'a/3', 'b']) await ok(app, '/v3/kv/put', { key: b64(k), value: b64(`v-${k}`) });
    const all = await ok(app, '/v3/kv/range', { key: b64('a/'), range_end: b64('a0') });
    expect(all.kvs.map((kv: any) => str(kv.key))).toEqual(['a/1', 'a/2', 'a/3']);
    expect(all.count).toBe('3');

    const lim = await ok(app, '/v3/kv/range', { key: b64('a/'), rangeEnd: b64('a0'), limit: '2' });
    expect(lim.kvs).toHaveLength(2);
    expect(lim.more).toBe(true);
    expect(lim.count).toBe('3');

    const desc = await ok(app, '/v3/kv/range', { key: b64('a/'), range_end: b64('a0'), sort_order: 'DESCEND', sort_target: 'KEY' });
    expect(desc.kvs.map((kv: any) => str(kv.key))).toEqual(['a/3', 'a/2', 'a/1']);
    const desc2 = await ok(app, '/v3/kv/range', { key: b64('a/'), range_end: b64('a0'), sort_order: 2, sort_target: 0 });
    expect(desc2.kvs.map((kv: any) => str(kv.key))).toEqual(['a/3', 'a/2', 'a/1']);

    const ko = await ok(app, '/v3/kv/range', { key: b64('a/'), range_end: b64('a0'), keys_only: true });
    expect(ko.kvs.every((kv: any) => kv.value === '')).toBe(true);
    const co = await ok(app, '/v3/kv/range', { key: b64('a/'), range_end: b64('a0'), count_only: true });
    expect(co).toMatchObject({ kvs: [], count: '3' });

    const fromKey = await ok(app, '/v3/kv/range', { key: b64('a/3'), range_end: b64('\0') });
    expect(fromKey.kvs.map((kv: any) => str(kv.key))).toEqual(['a/3', 'b']);

    const old = await ok(app, '/v3/kv/range', { key: b64('a/'), range_end: b64('a0'), revision: 3 });
    expect(old.kvs.map((kv: any) => str(kv.key))).toEqual(['a/1', 'a/2']);
    expect(old.header.revision).toBe('5');

    const ser = await ok(app, '/v3/kv/range', { key: b64('b'), serializable: true });
    expect(ser.kvs).toHaveLength(1);
  });

  it('deleterange with prev_kv', async () => {
    const { app } = setup();
    for (const k of ['x/1', 'x/2']) await ok(app, '/v3/kv/put', { key: b64(k), value: b64('v') });
    const d = await ok(app, '/v3/kv/deleterange', { key: b64('x/'), range_end: b64('x0'), prev_kv: true });
    expect(d.deleted).toBe('2');
    expect(d.prev_kvs.map((kv: any) => str(kv.key))).toEqual(['x/1', 'x/2']);
    expect(d.header.revision).toBe('4');
    const none = await ok(app, '/v3/kv/deleterange', { key: b64('nope') });
    expect(none).toMatchObject({ deleted: '0', prev_kvs: [] });
  });

  it('txn: compares, both branches, nested txn, response shapes', async () => {
    const { app } = setup();
    await ok(app, '/v3/kv/put', { key: b64('k'), value: b64('1') });
    const t = await ok(app, '/v3/kv/txn', {
      compare: [{ result: 'EQUAL', target: 'VALUE', key: b64('k'), value: b64('1') }, { target: 'VERSION', result: 'GREATER', key: b64('k'), version: '0' }],
      success: [
        { request_put: { key: b64('k'), value: b64('2'), prev_kv: true } },
        { request_range: { key: b64('k') } },
        { request_txn: { compare: [], success: [{ request_delete_range: { key: b64('gone') } }], failure: [] } },
      ],
      failure: [{ request_range: { key: b64('k') } }],
    });
    expect(t.succeeded).toBe(true);
    expect(t.header.revision).toBe('3');
    expect(t.responses).toHaveLength(3);
    expect(t.responses[0].response_put.prev_kv.value).toBe(b64('1'));
    expect(t.responses[1].response_range.kvs[0].value).toBe(b64('2'));
    expect(t.responses[2].response_txn).toMatchObject({ succeeded: true, responses: [{ response_delete_range: { deleted: '0' } }] });

    const f = await ok(app, '/v3/kv/txn', {
      compare: [{ result: 'LESS', target: 'MOD', key: b64('k'), mod_revision: 2 }],
      success: [{ request_put: { key: b64('k'), value: b64('3') } }],
      failure: [{ request_range: { key: b64('k') } }],
    });
    expect(f.succeeded).toBe(false);
    expect(f.responses[0].response_range.kvs[0].value).toBe(b64('2'));

    const empty = await ok(app, '/v3/kv/txn', {});
    expect(empty).toMatchObject({ succeeded: true, responses: [] });
  });

  it('compaction, then COMPACTED (400, grpc 11, etcd message, compact_revision) and FUTURE_REV', async () => {
    const { app } = setup();
    for (let i = 0; i < 4; i++) await ok(app, '/v3/kv/put', { key: b64('c'), value: b64(String(i)) });
    expect(await ok(app, '/v3/kv/compaction', { revision: '4', physical: true })).toMatchObject({ header: { revision: '5' } });
    const r = await post(app, '/v3/kv/range', { key: b64('c'), revision: 2 });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ code: 11, reason: 'COMPACTED', message: 'mvcc: required revision has been compacted', compact_revision: '4' });
    expect(r.json.error).toContain('mvcc: required revision has been compacted');
    const again = await post(app, '/v3/kv/compaction', { revision: 3 });
    expect(again.status).toBe(400);
    expect(again.json.reason).toBe('COMPACTED');
    const fut = await post(app, '/v3/kv/range', { key: b64('c'), revision: 99 });
    expect(fut.status).toBe(400);
    expect(fut.json).toMatchObject({ code: 11, reason: 'FUTURE_REV', message: 'mvcc: required revision is a future revision' });
  });

  it('semantic errors map to statuses: INVALID, TOO_MANY_OPS, KEY_NOT_FOUND, LEASE_NOT_FOUND', async () => {
    const { app } = setup();
    const empty = await post(app, '/v3/kv/put', { key: '', value: b64('x') });
    expect(empty.status).toBe(400);
    expect(empty.json).toMatchObject({ code: 3, reason: 'INVALID' });
    const many = await post(app, '/v3/kv/txn', { success: Array.from({ length: 200 }, (_, i) => ({ request_range: { key: b64(`k${i}`) } })) });
    expect(many.status).toBe(400);
    expect(many.json.reason).toBe('TOO_MANY_OPS');
    const ign = await post(app, '/v3/kv/put', { key: b64('missing'), ignore_value: true });
    expect(ign.status).toBe(400);
    expect(ign.json.reason).toBe('KEY_NOT_FOUND');
    const lease = await post(app, '/v3/kv/put', { key: b64('k'), value: b64('v'), lease: '12345' });
    expect(lease.status).toBe(404);
    expect(lease.json).toMatchObject({ code: 5, reason: 'LEASE_NOT_FOUND' });
  });

  it('member-level errors: NO_LEADER/NOT_LEADER/STOPPING 503 (14), TIMEOUT 504 (4), unexpected 500 without details', async () => {
    const { app, api } = setup();
    api.noLeader = true;
    const nl = await post(app, '/v3/kv/put', { key: b64('k'), value: b64('v') });
    expect(nl.status).toBe(503);
    expect(nl.json).toMatchObject({ code: 14, reason: 'NO_LEADER' });
    api.noLeader = false;
    for (const code of ['STOPPING', 'UNHEALTHY', 'CONF_CHANGE_PENDING', 'LEARNER_NOT_READY'] as const) {
      api.failNext.put = new RaftKvError(code, `x ${code}`);
      const r = await post(app, '/v3/kv/put', { key: b64('k'), value: b64('v') });
      expect([r.status, r.json.code, r.json.reason, r.json.message]).toEqual([503, 14, code, `x ${code}`]);
    }
    api.failNext.put = new RaftKvError('NOT_LEADER', 'not leader', { leaderClientURLs: ['http://10.0.0.1:2379'] });
    const notl = await post(app, '/v3/kv/put', { key: b64('k'), value: b64('v') });
    expect(notl.json).toMatchObject({ reason: 'NOT_LEADER', leader_client_urls: ['http://10.0.0.1:2379'] });
    api.failNext.put = new RaftKvError('TIMEOUT', 'etcdserver: request timed out');
    const to = await post(app, '/v3/kv/put', { key: b64('k'), value: b64('v') });
    expect([to.status, to.json.code, to.json.reason]).toEqual([504, 4, 'TIMEOUT']);
    api.failNext.put = new Error('secret internal detail');
    const boom = await post(app, '/v3/kv/put', { key: b64('k'), value: b64('v') });
    expect(boom.status).toBe(500);
    expect(boom.text).not.toContain('secret');
  });
});

describe('input validation: 400 naming the field, never 500', () => {
  it('malformed JSON, non-object bodies, bad base64, missing key', async () => {
    const { app } = setup();
    const bad = await post(app, '/v3/kv/put', '{"key": ');
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ code: 3, reason: 'INVALID' });
    expect(bad.json.message).toMatch(/malformed JSON/);
    for (const body of ['[]', '"x"', '42', 'true']) {
      const r = await post(app, '/v3/kv/range', body);
      expect(r.status).toBe(400);
      expect(r.json.message).toMatch(/request body must be a JSON object/);
    }
    const b = await post(app, '/v3/kv/put', { key: 'not base64!', value: b64('v') });
    expect(b.status).toBe(400);
    expect(b.json.message).toMatch(/key is not valid base64/);
    const m = await post(app, '/v3/kv/range', {});
    expect(m.status).toBe(400);
    expect(m.json.message).toMatch(/key is required/);
    const nested = await post(app, '/v3/kv/txn', { success: [{ request_put: { key: b64('k'), value: 7 } }] });
    expect(nested.status).toBe(400);
    expect(nested.json.message).toContain('success[0].request_put.value must be a base64 string');
    const two = await post(app, '/v3/kv/txn', { success: [{ request_put: { key: b64('k') }, request_range: { key: b64('k') } }] });
    expect(two.json.message).toContain('success[0] must set exactly one of');
    const big = await post(app, '/v3/kv/range', { key: b64('k'), revision: '99999999999999999' });
    expect(big.status).toBe(400);
    expect(big.json.message).toMatch(/revision/);
    const en = await post(app, '/v3/kv/range', { key: b64('k'), sort_order: 'SIDEWAYS' });
    expect(en.json.message).toMatch(/sort_order must be one of NONE, ASCEND, DESCEND/);
  });

  it('any content type is parsed as JSON (curl -d); an empty body is {}', async () => {
    const { app } = setup();
    const r = await app.inject({ method: 'POST', url: '/v3/kv/put', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: JSON.stringify({ key: b64('k'), value: b64('v') }) });
    expect(r.statusCode).toBe(200);
    const s = await app.inject({ method: 'POST', url: '/v3/maintenance/status' });
    expect(s.statusCode).toBe(200);
    const t = await app.inject({ method: 'POST', url: '/v3/cluster/member/list', headers: { 'content-type': 'text/plain' }, payload: '' });
    expect(t.statusCode).toBe(200);
  });

  it('fuzz: random bytes and wrong types in every field never produce a 500', async () => {
    const { app, api } = setup();
    await api.put({ key: Buffer.from('k'), value: Buffer.from('v') });
    // Deterministic; print the seed on failure.
    const SEED = 0x5eed;
    const rand = seededRandom(SEED);
    const junk = [null, true, false, 0, -1, 1.5, 1e300, '', 'x', '-5', '!!', [], [1], {}, { a: 1 }, '9007199254740993', 'PUT', b64('k')];
    const endpoints: Record<string, string[]> = {
      '/v3/kv/range': ['key', 'range_end', 'limit', 'revision', 'sort_order', 'sort_target', 'serializable', 'keys_only', 'count_only', 'min_mod_revision'],
      '/v3/kv/put': ['key', 'value', 'lease', 'prev_kv', 'ignore_value', 'ignore_lease'],
      '/v3/kv/deleterange': ['key', 'range_end', 'prev_kv'],
      '/v3/kv/txn': ['compare', 'success', 'failure'],
      '/v3/kv/compaction': ['revision', 'physical'],
      '/v3/lease/grant': ['TTL', 'ID'],
      '/v3/lease/revoke': ['ID'],
      '/v3/lease/keepalive': ['ID'],
      '/v3/lease/timetolive': ['ID', 'keys'],
      '/v3/lease/leases': [],
      '/v3/cluster/member/add': ['peerURLs', 'isLearner'],
      '/v3/cluster/member/remove': ['ID'],
      '/v3/cluster/member/promote': ['ID'],
      '/v3/maintenance/status': [],
      '/v3/watch': ['create_request'],
    };
    const valid: Record<string, unknown> = { key: b64('k'), value: b64('v'), TTL: 10, ID: 1, revision: 1, peerURLs: ['http://x:1'] };
    try {
      for (const [url, fields] of Object.entries(endpoints)) {
        // Wrong type in each field, alone.
        for (const f of fields) {
          for (const j of junk) {
            // A valid watch would stream forever under inject(): watch bodies carry only the junk.
            const body: Record<string, unknown> = url === '/v3/watch' ? { [f]: j } : { ...valid, [f]: j };
            const r = await post(app, url, body);
            expect(r.status, `${url} ${f}=${JSON.stringify(j)}: ${r.text}`).toBeLessThan(500);
            if (r.status >= 400) expect(r.json.reason, r.text).toBeTypeOf('string');
          }
        }
        // Random bytes.
        for (let i = 0; i < 20; i++) {
          const n = Math.floor(rand() * 64);
          const buf = Buffer.alloc(n);
          for (let k = 0; k < n; k++) buf[k] = Math.floor(rand() * 256);
          const r = await post(app, url, buf);
          expect(r.status, `${url} bytes ${buf.toString('hex')}: ${r.text}`).toBeLessThan(500);
        }
        // Txn ops and compares with junk inside.
        if (url === '/v3/kv/txn') {
          for (const j of junk) {
            for (const body of [
              { compare: [j] },
              { compare: [{ key: b64('k'), target: j, result: j }] },
              { compare: [{ key: b64('k'), target: 'VALUE', value: j }] },
              { success: [j] },
              { success: [{ request_put: j }] },
              { failure: [{ request_txn: { success: [{ request_range: j }] } }] },
            ]) {
              const r = await post(app, url, body);
              expect(r.status, `${url} ${JSON.stringify(body)}: ${r.text}`).toBeLessThan(500);
            }
          }
        }
      }
      // Deeply nested txn: no stack overflow.
      for (const depth of [100, 50_000]) {
        const deep = '{"success":[{"request_txn":'.repeat(depth) + '{}' + '}]}'.repeat(depth);
        const r = await post(app, '/v3/kv/txn', deep);
        expect(r.status, r.text.slice(0, 200)).toBe(400);
      }
    } catch (err) {
      console.error(`SEED=${SEED}`);
      throw err;
    }
  });
});

describe('size limits', () => {
  it('accepts a 1.5 MiB request and rejects a larger one with 413 TOO_LARGE', async () => {
    const { app } = setup();
    const max = 1.5 * 1024 * 1024;
    const fits = await post(app, '/v3/kv/put', { key: b64('k'), value: b64(Buffer.alloc(max - 1, 1)) });
    expect(fits.status).toBe(200);
    const over = await post(app, '/v3/kv/put', { key: b64('k'), value: b64(Buffer.alloc(max, 1)) });
    expect(over.status).toBe(413);
    expect(over.json).toMatchObject({ reason: 'TOO_LARGE' });
    expect(over.json.message).toContain(String(max));
    const txn = await post(app, '/v3/kv/txn', { success: [{ request_put: { key: b64('a'), value: b64(Buffer.alloc(max / 2)) } }, { request_put: { key: b64('b'), value: b64(Buffer.alloc(max / 2)) } }] });
    expect(txn.status).toBe(413);
  });

  it('rejects a body over bodyLimit with 413 and a message naming the limit', async () => {
    const { app } = setup();
    const body = JSON.stringify({ key: b64('k'), value: 'A'.repeat(DEFAULT_BODY_LIMIT) });
    const r = await post(app, '/v3/kv/put', body);
    expect(r.status).toBe(413);
    expect(r.json).toMatchObject({ reason: 'TOO_LARGE', code: 8 });
    expect(r.json.message).toContain(String(DEFAULT_BODY_LIMIT));
    const small = setup({ bodyLimit: 100 }).app;
    const s = await post(small, '/v3/kv/put', { key: b64('k'), value: b64('x'.repeat(200)) });
    expect(s.status).toBe(413);
    expect(s.json.message).toContain('100 bytes');
  });
});

describe('leases', () => {
  it('grant, leases, timetolive (with keys), keepalive, revoke (deletes keys)', async () => {
    let now = 1_000_000;
    const { app } = setup({}, new MemoryKvApi({ now: () => now }));
    const g = await ok(app, '/v3/lease/grant', { TTL: 60 });
    expect(g).toMatchObject({ ID: '1', TTL: '60' });
    expect(g.header.revision).toBe('1');
    const g2 = await ok(app, '/v3/lease/grant', { TTL: '30', ID: '1000' });
    expect(g2.ID).toBe('1000');
    const dup = await post(app, '/v3/lease/grant', { TTL: 30, ID: 1000 });
    expect([dup.status, dup.json.code, dup.json.reason]).toEqual([409, 6, 'LEASE_EXISTS']);
    await ok(app, '/v3/kv/put', { key: b64('lk'), value: b64('v'), lease: g.ID });
    expect((await ok(app, '/v3/lease/leases', {})).leases).toEqual([{ ID: '1' }, { ID: '1000' }]);
    expect((await ok(app, '/v3/kv/lease/leases')).leases).toHaveLength(2);
    now += 10_500;
    const ttl = await ok(app, '/v3/lease/timetolive', { ID: '1', keys: true });
    expect(ttl).toMatchObject({ ID: '1', TTL: '50', grantedTTL: '60', keys: [b64('lk')] });
    const ka = await ok(app, '/v3/lease/keepalive', { ID: 1 });
    expect(ka).toMatchObject({ result: { ID: '1', TTL: '60' } });
    expect(ka.result.header.member_id).toBeTypeOf('string');
    expect((await ok(app, '/v3/kv/lease/timetolive', { ID: '1' })).TTL).toBe('60');
    const missing = await ok(app, '/v3/lease/timetolive', { ID: '77' });
    expect(missing.TTL).toBe('-1');
    const rv = await ok(app, '/v3/lease/revoke', { ID: '1' });
    expect(rv.header.revision).toBe('3');
    expect((await ok(app, '/v3/kv/range', { key: b64('lk') })).kvs).toEqual([]);
    const rv2 = await post(app, '/v3/kv/lease/revoke', { ID: '1' });
    expect([rv2.status, rv2.json.reason]).toEqual([404, 'LEASE_NOT_FOUND']);
    const kaMissing = await post(app, '/v3/lease/keepalive', { ID: '1' });
    expect([kaMissing.status, kaMissing.json.reason]).toEqual([404, 'LEASE_NOT_FOUND']);
    const noId = await post(app, '/v3/lease/revoke', {});
    expect(noId.json.message).toMatch(/ID is required/);
  });

  it('keepalive/timetolive on a follower are forwarded to the leader, one hop only', async () => {
    const leaderApi = new MemoryKvApi({ memberId: 1 });
    const leader = setup({}, leaderApi).app;
    const url = await leader.listen({ host: '127.0.0.1', port: 0 });
    const lease = await leaderApi.leaseGrant({ TTL: 42 });

    const followerApi = new MemoryKvApi({ memberId: 2 });
    followerApi.leader = false;
    followerApi.leaderURLs = [url];
    const follower = setup({}, followerApi).app;
    const ka = await ok(follower, '/v3/lease/keepalive', { ID: String(lease.ID) });
    expect(ka.result).toMatchObject({ ID: String(lease.ID), TTL: '42', header: { member_id: '1' } });
    const ttl = await ok(follower, '/v3/lease/timetolive', { ID: String(lease.ID) });
    expect(ttl).toMatchObject({ grantedTTL: '42', header: { member_id: '1' } });
    const miss = await post(follower, '/v3/lease/keepalive', { ID: '999' });
    expect([miss.status, miss.json.reason]).toEqual([404, 'LEASE_NOT_FOUND']);

    // A forwarded request is never forwarded again.
    const loop = await follower.inject({ method: 'POST', url: '/v3/lease/keepalive', headers: { 'x-raftkv-forwarded': '1' }, payload: JSON.stringify({ ID: '1' }) });
    expect(loop.statusCode).toBe(503);
    expect(JSON.parse(loop.body).reason).toBe('NOT_LEADER');

    // Leader unknown → 503 NO_LEADER; leader unreachable → 503 NO_LEADER.
    followerApi.leaderURLs = [];
    const none = await post(follower, '/v3/lease/keepalive', { ID: '1' });
    expect([none.status, none.json.reason]).toEqual([503, 'NO_LEADER']);
    await leader.close();
    followerApi.leaderURLs = [url];
    const down = await post(follower, '/v3/lease/keepalive', { ID: '1' });
    expect([down.status, down.json.reason]).toEqual([503, 'NO_LEADER']);
  });
});

describe('cluster and maintenance', () => {
  it('member list/add/remove/promote and their errors', async () => {
    const { app, api } = setup();
    const list = await ok(app, '/v3/cluster/member/list', {});
    expect(list.members).toEqual([{ ID: String(api.memberId), name: 'default', peerURLs: ['http://127.0.0.1:2380'], clientURLs: ['http://127.0.0.1:2379'], isLearner: false }]);
    const add = await ok(app, '/v3/cluster/member/add', { peerURLs: ['http://10.0.0.2:2380'], isLearner: true });
    expect(add.member).toMatchObject({ peerURLs: ['http://10.0.0.2:2380'], isLearner: true, name: '' });
    expect(add.members).toHaveLength(2);
    const dup = await post(app, '/v3/cluster/member/add', { peerURLs: ['http://10.0.0.2:2380'] });
    expect([dup.status, dup.json.code, dup.json.reason]).toEqual([409, 6, 'MEMBER_EXISTS']);
    const noUrls = await post(app, '/v3/cluster/member/add', { peerURLs: [] });
    expect(noUrls.json.message).toMatch(/peerURLs/);
    const pr = await ok(app, '/v3/cluster/member/promote', { ID: add.member.ID });
    expect(pr.members.find((m: any) => m.ID === add.member.ID).isLearner).toBe(false);
    const rm = await ok(app, '/v3/cluster/member/remove', { ID: add.member.ID });
    expect(rm.members).toHaveLength(1);
    const gone = await post(app, '/v3/cluster/member/remove', { ID: add.member.ID });
    expect([gone.status, gone.json.code, gone.json.reason]).toEqual([404, 5, 'MEMBER_NOT_FOUND']);
  });

  it('status, snapshot, health, version, metrics, unknown paths', async () => {
    const { app, api } = setup({ metricsText: async () => 'raftkv_up 1\n' });
    await api.put({ key: Buffer.from('k'), value: Buffer.from('v') });
    const s = await ok(app, '/v3/maintenance/status', {});
    expect(s).toMatchObject({ version: '3.5.0', leader: String(api.memberId), raftTerm: '2', isLearner: false, errors: [] });
    expect(s.dbSize).toMatch(/^\d+$/);
    expect(s.raftIndex).toMatch(/^\d+$/);
    expect(s.raftAppliedIndex).toMatch(/^\d+$/);
    expect(s.header.revision).toBe('2');

    const snap = await app.inject({ method: 'POST', url: '/v3/maintenance/snapshot' });
    expect(snap.headers['content-type']).toBe('application/octet-stream');
    expect(Buffer.compare(snap.rawPayload, Buffer.from(api.store.snapshot()))).toBe(0);
    expect(KvStore.restore(snap.rawPayload).revision).toBe(2);

    const h = await app.inject({ method: 'GET', url: '/health' });
    expect([h.statusCode, h.json()]).toEqual([200, { health: 'true' }]);
    api.noLeader = true;
    const h2 = await app.inject({ method: 'GET', url: '/health' });
    expect([h2.statusCode, h2.json()]).toEqual([503, { health: 'false', reason: 'RAFT NO LEADER' }]);
    api.noLeader = false;

    const v = await app.inject({ method: 'GET', url: '/version' });
    expect(v.json()).toEqual({ etcdserver: '3.5.0-compatible', etcdcluster: '3.5.0', flotilla: '0.1.0' });
    const m = await app.inject({ method: 'GET', url: '/metrics' });
    expect(m.body).toBe('raftkv_up 1\n');
    expect(m.headers['content-type']).toMatch(/^text\/plain/);
    const noMetrics = setup().app;
    expect((await noMetrics.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);

    const u = await post(app, '/v3/kv/nope', {});
    expect(u.status).toBe(404);
    expect(u.json).toMatchObject({ reason: 'INVALID' });
    expect(u.json.message).toContain('/v3/kv/nope');
    expect((await app.inject({ method: 'GET', url: '/v3/kv/range' })).statusCode).toBe(404);
  });

  it('validates its options', () => {
    expect(() => buildHttpApi(new MemoryKvApi(), { bodyLimit: -1 })).toThrow(/bodyLimit/);
    expect(() => buildHttpApi(new MemoryKvApi(), { progressNotifyMs: 0 })).toThrow(/progressNotifyMs/);
  });
});

// ---- watch streaming over a real socket --------------------------------------------------------

interface Stream {
  next(): Promise<any>;
  ended: Promise<void>;
  close(): void;
}

async function openWatch(url: string, body: unknown, agent: Agent): Promise<{ status: number; stream: Stream }> {
  const ac = new AbortController();
  const res = await request(`${url}/v3/watch`, { method: 'POST', body: JSON.stringify(body), dispatcher: agent, signal: ac.signal, bodyTimeout: 0 });
  res.body.setEncoding('utf8');
  const lines: string[] = [];
  const waiters: ((v: any) => void)[] = [];
  let buf = '';
  const ended = (async () => {
    try {
      for await (const chunk of res.body as AsyncIterable<string>) {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          const w = waiters.shift();
          if (w) w(JSON.parse(line));
          else lines.push(line);
        }
      }
    } catch {
      // aborted
    }
    for (const w of waiters.splice(0)) w(undefined);
  })();
  let done = false;
  void ended.then(() => (done = true));
  return {
    status: res.statusCode,
    stream: {
      next: () => {
        const l = lines.shift();
        if (l !== undefined) return Promise.resolve(JSON.parse(l));
        if (done) return Promise.resolve(undefined);
        return new Promise((resolve) => waiters.push(resolve));
      },
      ended,
      close: () => ac.abort(),
    },
  };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('watch streaming', () => {
  async function listen(opts: HttpApiOptions = {}): Promise<{ url: string; api: MemoryKvApi; app: FastifyInstance; agent: Agent }> {
    const { app, api } = setup(opts);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const agent = new Agent();
    agents.push(agent);
    return { url, api, app, agent };
  }

  it('streams created, then PUT and DELETE events with prev_kv, one line per revision', async () => {
    const { url, api, agent } = await listen();
    const { status, stream } = await openWatch(url, { create_request: { key: b64('w/'), range_end: b64('w0'), prev_kv: true } }, agent);
    expect(status).toBe(200);
    const created = await stream.next();
    expect(created.result).toMatchObject({ created: true, header: { revision: '1' } });
    const id = created.result.watch_id;
    await api.put({ key: Buffer.from('w/a'), value: Buffer.from('1') });
    await api.put({ key: Buffer.from('other'), value: Buffer.from('x') });
    await api.put({ key: Buffer.from('w/a'), value: Buffer.from('2') });
    await api.deleteRange({ key: Buffer.from('w/a') });
    const e1 = await stream.next();
    expect(e1.result).toMatchObject({ watch_id: id, header: { revision: '2' }, events: [{ type: 'PUT', kv: { key: b64('w/a'), value: b64('1'), version: '1' } }] });
    expect(e1.result.events[0].prev_kv).toBeUndefined();
    const e2 = await stream.next();
    expect(e2.result.events[0]).toMatchObject({ type: 'PUT', kv: { value: b64('2') }, prev_kv: { value: b64('1') } });
    const e3 = await stream.next();
    expect(e3.result).toMatchObject({ header: { revision: '5' }, events: [{ type: 'DELETE', kv: { key: b64('w/a'), mod_revision: '5' }, prev_kv: { value: b64('2') } }] });
    stream.close();
  });

  it('replays from start_revision, applies filters, accepts a bare create request', async () => {
    const { url, api, agent } = await listen();
    await api.put({ key: Buffer.from('k'), value: Buffer.from('1') });
    await api.deleteRange({ key: Buffer.from('k') });
    await api.put({ key: Buffer.from('k'), value: Buffer.from('2') });
    const { stream } = await openWatch(url, { create_request: { key: b64('k'), start_revision: '2', watch_id: 7 } }, agent);
    expect((await stream.next()).result).toMatchObject({ created: true, watch_id: '7', header: { revision: '4' } });
    expect((await stream.next()).result).toMatchObject({ watch_id: '7', header: { revision: '2' }, events: [{ type: 'PUT' }] });
    expect((await stream.next()).result.events[0].type).toBe('DELETE');
    expect((await stream.next()).result.events[0].kv.value).toBe(b64('2'));
    stream.close();

    const { stream: s2 } = await openWatch(url, { key: b64('k'), start_revision: 2, filters: ['NOPUT'] }, agent);
    expect((await s2.next()).result.created).toBe(true);
    expect((await s2.next()).result.events).toMatchObject([{ type: 'DELETE' }]);
    await api.put({ key: Buffer.from('k'), value: Buffer.from('3') });
    await api.deleteRange({ key: Buffer.from('k') });
    expect((await s2.next()).result).toMatchObject({ header: { revision: '6' }, events: [{ type: 'DELETE' }] });
    s2.close();
  });

  it('bad watch requests are plain 400 errors', async () => {
    const { url, agent } = await listen();
    const res = await request(`${url}/v3/watch`, { method: 'POST', body: JSON.stringify({ create_request: { key: 5 } }), dispatcher: agent });
    expect(res.statusCode).toBe(400);
    expect(((await res.body.json()) as any).message).toContain('create_request.key');
    const c = await request(`${url}/v3/watch`, { method: 'POST', body: JSON.stringify({ cancel_request: { watch_id: 1 } }), dispatcher: agent });
    expect(c.statusCode).toBe(400);
    await c.body.dump();
  });

  it('sends progress notifications to idle watches', async () => {
    const { url, api, agent } = await listen({ progressNotifyMs: 30 });
    await api.put({ key: Buffer.from('p'), value: Buffer.from('1') });
    const { stream } = await openWatch(url, { create_request: { key: b64('p'), progress_notify: true } }, agent);
    expect((await stream.next()).result.created).toBe(true);
    await api.put({ key: Buffer.from('unrelated'), value: Buffer.from('1') });
    let p = await stream.next();
    expect(p.result).toMatchObject({ events: [] });
    // Progress carries the current revision, which includes unrelated writes.
    expect(p.result.header.revision).toBe('3');
    await api.put({ key: Buffer.from('p'), value: Buffer.from('2') });
    do p = await stream.next();
    while (p.result.events.length === 0);
    expect(p.result.events[0].kv.value).toBe(b64('2'));
    expect((await stream.next()).result.events).toEqual([]);
    stream.close();
  });

  it('a compacted start revision gets one canceled result and the stream ends', async () => {
    const { url, api, agent } = await listen();
    for (let i = 0; i < 3; i++) await api.put({ key: Buffer.from('c'), value: Buffer.from(String(i)) });
    await api.compact({ revision: 3 });
    const { status, stream } = await openWatch(url, { create_request: { key: b64('c'), start_revision: 2 } }, agent);
    expect(status).toBe(200);
    expect((await stream.next()).result).toMatchObject({ created: true, canceled: true, compact_revision: '3', cancel_reason: 'mvcc: required revision has been compacted' });
    expect(await stream.next()).toBeUndefined();
    await stream.ended;
    expect(api.store.watchCount).toBe(0);
  });

  it('a watch the member ends (onCancel) gets a canceled result and the stream ends', async () => {
    const { url, api, agent } = await listen();
    const { stream } = await openWatch(url, { create_request: { key: b64('k') } }, agent);
    expect((await stream.next()).result.created).toBe(true);
    api.cancelWatches(new RaftKvError('COMPACTED', 'gone', { compactRevision: 9 }));
    expect((await stream.next()).result).toMatchObject({ canceled: true, compact_revision: '9', cancel_reason: 'mvcc: required revision has been compacted' });
    expect(await stream.next()).toBeUndefined();
    const { stream: s2 } = await openWatch(url, { create_request: { key: b64('k') } }, agent);
    expect((await s2.next()).result.created).toBe(true);
    api.cancelWatches(new RaftKvError('STOPPING', 'member stopping'));
    const r = (await s2.next()).result;
    expect(r).toMatchObject({ canceled: true, cancel_reason: 'member stopping' });
    expect(r.compact_revision).toBeUndefined();
    expect(await s2.next()).toBeUndefined();
  });

  it('client disconnect cancels the watch; server close ends every stream', async () => {
    const { url, api, app, agent } = await listen();
    const streams: Stream[] = [];
    for (let i = 0; i < 200; i++) {
      const { stream } = await openWatch(url, { create_request: { key: b64('m/'), range_end: b64('m0') } }, agent);
      streams.push(stream);
    }
    for (const s of streams) expect((await s.next()).result.created).toBe(true);
    expect(api.store.watchCount).toBe(200);
    await api.put({ key: Buffer.from('m/x'), value: Buffer.from('v') });
    for (const s of streams) expect((await s.next()).result.events[0].kv.key).toBe(b64('m/x'));
    for (const s of streams.slice(0, 100)) s.close();
    await until(() => api.store.watchCount === 100);
    const t = Date.now();
    await app.close();
    expect(Date.now() - t).toBeLessThan(3000);
    expect(api.store.watchCount).toBe(0);
    for (const s of streams.slice(100)) await s.ended;
  });

  it('disconnects a consumer that falls too far behind', async () => {
    const { url, api, agent } = await listen({ watchBufferBytes: 64 * 1024 });
    const { stream } = await openWatch(url, { create_request: { key: b64('s') } }, agent);
    expect((await stream.next()).result.created).toBe(true);
    // Do not read: the socket buffers fill and the server drops the stream.
    const big = Buffer.alloc(256 * 1024, 7);
    for (let i = 0; i < 200 && api.store.watchCount > 0; i++) {
      await api.put({ key: Buffer.from('s'), value: big });
      await new Promise((r) => setImmediate(r));
    }
    await until(() => api.store.watchCount === 0);
    stream.close();
  });
});
