import { Buffer } from 'node:buffer';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
// The server side comes from the raftkv sources (a test double at the API boundary).
import { buildHttpApi } from '../../raftkv/src/server/http.js';
import { MemoryKvApi } from '../../raftkv/src/server/http/memory-api.js';
import { KvStore } from '../../raftkv/src/kv/store.js';
import { kvCommand, type KvIo } from './kv.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(api = new MemoryKvApi()): Promise<{ app: FastifyInstance; api: MemoryKvApi; url: string }> {
  const app = buildHttpApi(api, { progressNotifyMs: 50 });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  api.setClientURLs([url]);
  cleanups.push(() => app.close());
  return { app, api, url };
}

interface Run {
  code: number;
  out: string;
  err: string;
}

function capture(extra: Partial<KvIo> = {}): { io: KvIo; out: () => string; err: () => string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  return {
    io: { out: { write: (s) => out.push(Buffer.from(s)) }, err: { write: (s) => err.push(Buffer.from(s)) }, env: {}, ...extra },
    out: () => Buffer.concat(out).toString('utf8'),
    err: () => Buffer.concat(err).toString('utf8'),
  };
}

async function kv(url: string | undefined, ...args: string[]): Promise<Run> {
  const c = capture();
  const code = await kvCommand(url === undefined ? args : ['--endpoints', url, ...args], c.io);
  return { code, out: c.out(), err: c.err() };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('flotilla kv: put/get/del/compaction', () => {
  it('prints like etcdctl', async () => {
    const { url } = await serve();
    expect(await kv(url, 'put', 'foo', 'bar')).toEqual({ code: 0, out: 'OK\n', err: '' });
    expect((await kv(url, 'put', 'foo', 'baz', '--prev-kv')).out).toBe('OK\nfoo\nbar\n');
    expect((await kv(url, 'get', 'foo')).out).toBe('foo\nbaz\n');
    await kv(url, 'put', 'foo/a', '1');
    await kv(url, 'put', 'foo/b', '2');
    expect((await kv(url, 'get', 'foo/', '--prefix')).out).toBe('foo/a\n1\nfoo/b\n2\n');
    expect((await kv(url, 'get', 'foo/a', 'foo/b')).out).toBe('foo/a\n1\n');
    expect((await kv(url, 'get', 'foo/', '--prefix', '--keys-only')).out).toBe('foo/a\n\nfoo/b\n\n');
    expect((await kv(url, 'get', 'foo/', '--prefix', '--print-value-only')).out).toBe('1\n2\n');
    expect((await kv(url, 'get', 'foo/', '--prefix', '--limit', '1')).out).toBe('foo/a\n1\n');
    expect((await kv(url, 'get', 'foo/', '--prefix', '--count-only')).out).toBe('2\n');
    expect((await kv(url, 'get', 'foo/', '--prefix', '--order', 'DESCEND', '--consistency', 's')).out).toBe('foo/b\n2\nfoo/a\n1\n');
    expect((await kv(url, 'get', 'foo', '--from-key', '--sort-by', 'MODIFY', '--order', 'DESCEND', '--keys-only')).out).toBe('foo/b\n\nfoo/a\n\nfoo\n\n');
    expect((await kv(url, 'get', 'foo', '--rev', '2')).out).toBe('foo\nbar\n');
    expect((await kv(url, 'get', 'nope')).out).toBe('');
    expect((await kv(url, 'del', 'foo/', '--prefix', '--prev-kv')).out).toBe('2\nfoo/a\n1\nfoo/b\n2\n');
    expect((await kv(url, 'del', 'foo')).out).toBe('1\n');
    expect((await kv(url, 'del', 'foo')).out).toBe('0\n');
    expect((await kv(url, 'compaction', '3')).out).toBe('compacted revision 3\n');
    const old = await kv(url, 'get', 'foo', '--rev', '2');
    expect(old.code).toBe(1);
    expect(old.err).toMatch(/^Error: mvcc: required revision has been compacted/);
  });

  it('--write-out json prints the gateway JSON', async () => {
    const { url, api } = await serve();
    const put = JSON.parse((await kv(url, '-w', 'json', 'put', 'k', 'v')).out);
    expect(put.header).toEqual({ cluster_id: String(api.clusterId), member_id: String(api.memberId), revision: '2', raft_term: '2' });
    const get = JSON.parse((await kv(url, 'get', 'k', '--write-out', 'json')).out);
    expect(get).toMatchObject({ count: '1', more: false, kvs: [{ key: Buffer.from('k').toString('base64'), value: Buffer.from('v').toString('base64'), version: '1' }] });
    const del = JSON.parse((await kv(url, 'del', 'k', '-w', 'json')).out);
    expect(del.deleted).toBe('1');
  });

  it('binary-safe values, FLOTILLA_ENDPOINTS, endpoints without a scheme', async () => {
    const { url } = await serve();
    const c = capture({ env: { FLOTILLA_ENDPOINTS: url } });
    expect(await kvCommand(['put', 'k', 'héllo ✓'], c.io)).toBe(0);
    const c2 = capture();
    expect(await kvCommand(['--endpoints', url.replace('http://', ''), 'get', 'k'], c2.io)).toBe(0);
    expect(c2.out()).toBe('k\nhéllo ✓\n');
  });
});

describe('flotilla kv: watch', () => {
  it('prints events as etcdctl until stopped', async () => {
    const { url, api } = await serve();
    await kv(url, 'put', 'w/0', 'old');
    const ac = new AbortController();
    const c = capture({ signal: ac.signal });
    const running = kvCommand(['--endpoints', url, 'watch', 'w/', '--prefix', '--prev-kv'], c.io);
    await until(() => api.store.watchCount === 1);
    await kv(url, 'put', 'w/0', 'new');
    await kv(url, 'put', 'w/1', 'x');
    await kv(url, 'del', 'w/1');
    await until(() => c.out().split('\n').length >= 12);
    ac.abort();
    expect(await running).toBe(0);
    expect(c.out()).toBe('PUT\nw/0\nold\nw/0\nnew\nPUT\nw/1\nx\nDELETE\nw/1\nx\nw/1\n\n');
    await until(() => api.store.watchCount === 0);
  });

  it('replays from --rev; json output; compacted start is an error', async () => {
    const { url, api } = await serve();
    await kv(url, 'put', 'k', '1');
    await kv(url, 'put', 'k', '2');
    const ac = new AbortController();
    const c = capture({ signal: ac.signal });
    const running = kvCommand(['--endpoints', url, '-w', 'json', 'watch', 'k', '--rev', '2'], c.io);
    await until(() => c.out().split('\n').length >= 3);
    ac.abort();
    expect(await running).toBe(0);
    const lines = c.out().trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.revision)).toEqual(['2', '3']);
    expect(lines[1].events[0]).toMatchObject({ type: 'PUT', kv: { value: Buffer.from('2').toString('base64') } });

    await api.compact({ revision: 3 });
    const r = await kv(url, 'watch', 'k', '--rev', '1');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^Error: .*compacted/);
  });
});

describe('flotilla kv: lease', () => {
  it('grant / list / timetolive / keep-alive / revoke with hex ids', async () => {
    const { url } = await serve();
    expect((await kv(url, 'lease', 'grant', '60')).out).toBe('lease 0000000000000001 granted with TTL(60s)\n');
    expect((await kv(url, 'put', 'lk', 'v', '--lease', '0000000000000001')).code).toBe(0);
    expect((await kv(url, 'lease', 'list')).out).toBe('found 1 leases\n0000000000000001\n');
    expect((await kv(url, 'lease', 'timetolive', '1', '--keys')).out).toMatch(/^lease 0000000000000001 granted with TTL\(60s\), remaining\(\d+s\), attached keys\(\[lk\]\)\n$/);
    expect((await kv(url, 'lease', 'keep-alive', '0x1', '--once')).out).toBe('lease 0000000000000001 keepalived with TTL(60)\n');
    expect((await kv(url, 'lease', 'revoke', '1')).out).toBe('lease 0000000000000001 revoked\n');
    expect((await kv(url, 'get', 'lk')).out).toBe('');
    expect((await kv(url, 'lease', 'timetolive', '1')).out).toBe('lease 0000000000000001 already expired\n');
    expect((await kv(url, 'lease', 'keep-alive', '1')).out).toBe('lease 0000000000000001 expired or revoked.\n');
    const r = await kv(url, 'lease', 'revoke', '1');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^Error: .*not found/);
    const g = await kv(url, 'lease', 'grant', '5');
    expect(g.out).toBe('lease 0000000000000002 granted with TTL(5s)\n');
    const ka = JSON.parse((await kv(url, '-w', 'json', 'lease', 'keep-alive', '2', '--once')).out.split('\n')[0]);
    expect(ka.result).toMatchObject({ ID: '2', TTL: '5' });
  });

  it('keep-alive runs until stopped', async () => {
    const { url } = await serve();
    await kv(url, 'lease', 'grant', '1');
    const ac = new AbortController();
    const c = capture({ signal: ac.signal });
    const running = kvCommand(['--endpoints', url, 'lease', 'keep-alive', '1'], c.io);
    await until(() => c.out().split('\n').length >= 3, 5000);
    ac.abort();
    expect(await running).toBe(0);
    expect(c.out()).toMatch(/^(lease 0000000000000001 keepalived with TTL\(1\)\n){2,}$/);
  });
});

describe('flotilla kv: member, endpoint, snapshot', () => {
  it('member list / add / promote / remove', async () => {
    const { url, api } = await serve();
    const id = api.memberId.toString(16);
    expect((await kv(url, 'member', 'list')).out).toBe(`${id}, started, default, http://127.0.0.1:2380, ${url}, false\n`);
    const table = (await kv(url, 'member', 'list', '-w', 'table')).out;
    expect(table).toContain('|    ID    | STATUS  |  NAME   |');
    expect(table).toContain(`| ${id} | started | default | http://127.0.0.1:2380 | ${url} |      false |`);
    const add = await kv(url, 'member', 'add', 'infra2', '--peer-urls', 'http://10.0.0.2:2380', '--learner');
    const newId = (api.memberId + 1).toString(16);
    expect(add.out).toBe(
      `Member ${newId} added to cluster ${api.clusterId.toString(16)}\n\n` +
        'ETCD_NAME="infra2"\n' +
        'ETCD_INITIAL_CLUSTER="default=http://127.0.0.1:2380,infra2=http://10.0.0.2:2380"\n' +
        'ETCD_INITIAL_ADVERTISE_PEER_URLS="http://10.0.0.2:2380"\n' +
        'ETCD_INITIAL_CLUSTER_STATE="existing"\n',
    );
    expect((await kv(url, 'member', 'list')).out).toContain(`${newId}, unstarted, , http://10.0.0.2:2380, , true\n`);
    expect((await kv(url, 'member', 'promote', newId)).out).toBe(`Member ${newId} promoted in cluster ${api.clusterId.toString(16)}\n`);
    expect((await kv(url, 'member', 'remove', newId)).out).toBe(`Member ${newId} removed from cluster ${api.clusterId.toString(16)}\n`);
    const gone = await kv(url, 'member', 'remove', newId);
    expect([gone.code, gone.err]).toEqual([1, 'Error: etcdserver: member not found\n']);
    const dup = await kv(url, 'member', 'add', 'x', '--peer-urls', 'http://127.0.0.1:2380');
    expect(dup.code).toBe(1);
  });

  it('endpoint status (table, simple, json, --cluster) and health', async () => {
    const { url, api } = await serve();
    await kv(url, 'put', 'k', 'v');
    const t = await kv(url, 'endpoint', 'status');
    expect(t.code).toBe(0);
    const lines = t.out.trimEnd().split('\n');
    expect(lines[1]).toMatch(/^\|\s+ENDPOINT\s+\|\s+ID\s+\|\s+VERSION\s+\|\s+DB SIZE\s+\|\s+IS LEADER\s+\|\s+IS LEARNER\s+\|\s+RAFT TERM\s+\|\s+RAFT INDEX\s+\|\s+RAFT APPLIED INDEX\s+\|\s+ERRORS\s+\|$/);
    expect(lines[3]).toMatch(new RegExp(`^\\| ${url} \\| ${api.memberId.toString(16)} \\|   3\\.5\\.0 \\| +\\d+ B \\|      true \\|      false \\|         2 \\| +12 \\| +12 \\| +\\|$`));
    expect(lines).toHaveLength(5);
    const s = await kv(url, '-w', 'simple', 'endpoint', 'status', '--cluster');
    expect(s.out).toMatch(new RegExp(`^${url}, ${api.memberId.toString(16)}, 3\\.5\\.0, \\d+ B, true, false, 2, 12, 12, \\n$`));
    const j = JSON.parse((await kv(url, '-w', 'json', 'endpoint', 'status')).out);
    expect(j[0]).toMatchObject({ Endpoint: url, Status: { version: '3.5.0', leader: String(api.memberId) } });

    const h = await kv(url, 'endpoint', 'health');
    expect(h.code).toBe(0);
    expect(h.out).toMatch(new RegExp(`^${url} is healthy: successfully committed proposal: took = [\\d.]+(ms|µs|s)\\n$`));
    api.noLeader = true;
    const bad = await kv(url, 'endpoint', 'health', '--command-timeout', '500ms');
    expect(bad.code).toBe(1);
    expect(bad.err).toBe(`${url} is unhealthy: failed to commit proposal: RAFT NO LEADER\nError: unhealthy cluster\n`);
  });

  it('endpoint status reports unreachable endpoints and exits 1', async () => {
    const { url } = await serve();
    const r = await kv(`${url},http://127.0.0.1:1`, '--command-timeout', '300ms', 'endpoint', 'status');
    expect(r.code).toBe(1);
    expect(r.out).toContain(url);
    expect(r.err).toMatch(/^Failed to get the status of endpoint http:\/\/127\.0\.0\.1:1 \(.*ECONNREFUSED.*\)\n$/);
  });

  it('snapshot save writes the snapshot atomically', async () => {
    const { url, api } = await serve();
    await kv(url, 'put', 'k', 'v');
    const dir = await mkdtemp(path.join(tmpdir(), 'flotilla-kv-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'snap.db');
    const r = await kv(url, 'snapshot', 'save', file);
    expect(r).toEqual({ code: 0, out: `Snapshot saved at ${file}\n`, err: '' });
    const bytes = await readFile(file);
    expect(Buffer.compare(bytes, Buffer.from(api.store.snapshot()))).toBe(0);
    expect(KvStore.restore(bytes).revision).toBe(2);
    expect(await readdir(dir)).toEqual(['snap.db']);
    const bad = await kv(url, 'snapshot', 'save', path.join(dir, 'missing', 'x.db'));
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^Error: ENOENT/);
  });
});

describe('flotilla kv: usage and errors', () => {
  it('usage errors exit 2 with a helpful message; --help exits 0', async () => {
    for (const args of [
      ['nope'],
      ['get'],
      ['put', 'k'],
      ['lease', 'revoke', 'xyz'],
      ['lease', 'grant', '0'],
      ['-w', 'yaml', 'get', 'k'],
      ['get', 'k', '--limit', '-1'],
      ['get', 'k', 'z', '--prefix'],
      ['member', 'add', 'n'],
      ['--endpoints', 'ftp://x', 'get', 'k'],
      ['--command-timeout', 'soon', 'get', 'k'],
      ['get', 'k', '--consistency', 'x'],
      ['lease'],
    ]) {
      const r = await kv(undefined, ...args);
      expect(r.code, `${args.join(' ')}: ${r.err}`).toBe(2);
      expect(r.err.length, args.join(' ')).toBeGreaterThan(0);
    }
    expect((await kv(undefined, 'lease', 'revoke', 'xyz')).err).toContain('not a hexadecimal id');
    expect((await kv(undefined, 'put', 'k')).err).toBe('Error: put needs a key and a value (or --ignore-value)\n');
    const help = await kv(undefined, '--help');
    expect(help.code).toBe(0);
    expect(help.out).toContain('Usage: flotilla kv');
    expect(help.out).toContain('endpoint');
  });

  it('an unreachable cluster is exit 1 with Error: on stderr', async () => {
    const r = await kv('http://127.0.0.1:1', '--command-timeout', '200ms', 'get', 'k');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^Error: cannot reach http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED/);
    expect(r.out).toBe('');
  });
});
