/**
 * RaftKvClient: the etcd-v3-style client of a raftkv cluster over its JSON HTTP API.
 *
 * Endpoint choice: requests go to one preferred endpoint, the leader when one of the endpoints
 * is (found via /v3/maintenance/status: header.member_id === leader) — on first use and again
 * after a failure. Any member accepts every request; the leader simply saves a hop.
 *
 * Retries, within a total budget of 2 × timeoutMs (or `retries` attempts), backing off from
 * 50 ms doubling to 500 ms, moving to another endpoint each time — only when it is safe:
 * - the connection failed before the request was sent (refused, unresolvable, connect timeout);
 * - 503 NO_LEADER / NOT_LEADER / STOPPING (the request was not proposed);
 * - for idempotent calls (reads, status, member list, lease keep-alive/TTL, read-only txns) also
 *   after a timeout, a leader change mid-request, or a connection lost mid-request.
 * A write whose outcome is unknown throws RaftKvError TIMEOUT (or LEADER_CHANGED) and is never
 * repeated silently.
 */
import { Buffer } from 'node:buffer';
import { Pool } from 'undici';
import { prefixEnd } from '../kv/keys.js';
import type {
  DeleteRangeResponse,
  LeaseGrantResponse,
  LeaseRevokeResponse,
  PutResponse,
  RangeResponse,
  RequestOp,
  SortOrder,
  SortTarget,
  TxnRequest,
  TxnResponse,
} from '../kv/types.js';
import type { ClusterHeader, LeaseTimeToLive, Member, MemberStatus } from '../server/api.js';
import { RaftKvError } from '../server/api.js';
import type { GatewayRangeRequest, Json, WithHeader } from '../server/http/wire.js';
import {
  decodeDeleteRangeResponse,
  decodeHeader,
  decodeInt,
  decodeMember,
  decodePutResponse,
  decodeRangeResponse,
  decodeStatus,
  decodeTimeToLive,
  decodeTxnResponse,
  encodeDeleteRangeRequest,
  encodePutRequest,
  encodeRangeRequest,
  encodeTxnRequest,
} from '../server/http/wire.js';
import { errorFromResponse, notSent, transportError } from './errors.js';
import type { WatchHandle, WatchHost, WatchOptions } from './watch.js';
import { ClientWatch } from './watch.js';

export type Bytes = string | Uint8Array;

export interface RaftKvClientOptions {
  /** Client URLs of members, e.g. http://127.0.0.1:2379. At least one. */
  endpoints: string[];
  /** Per attempt, ms. Default 5000. The total for one call, retries included, is 2 × this. */
  timeoutMs?: number;
  /** Maximum retries of one call. Default: as many as fit in 2 × timeoutMs. */
  retries?: number;
}

export interface GetOptions {
  /** Every key starting with `key`. */
  prefix?: boolean;
  /** Keys in [key, rangeEnd); "\0" means every key >= key. Overrides prefix. */
  rangeEnd?: Bytes;
  /** Every key >= key (etcdctl --from-key). */
  fromKey?: boolean;
  limit?: number;
  revision?: number;
  /** Read the endpoint's local state without a quorum round (may be stale). */
  serializable?: boolean;
  keysOnly?: boolean;
  countOnly?: boolean;
  sortOrder?: SortOrder;
  sortTarget?: SortTarget;
  minModRevision?: number;
  maxModRevision?: number;
  minCreateRevision?: number;
  maxCreateRevision?: number;
}

export interface PutOptions {
  lease?: number;
  prevKv?: boolean;
  ignoreValue?: boolean;
  ignoreLease?: boolean;
}

export interface DeleteOptions {
  prefix?: boolean;
  rangeEnd?: Bytes;
  fromKey?: boolean;
  prevKv?: boolean;
}

export type { WithHeader };

interface Endpoint {
  readonly url: string;
  readonly pool: Pool;
}

const HEADERS = { 'content-type': 'application/json' };
const RETRYABLE = new Set(['NO_LEADER', 'NOT_LEADER', 'STOPPING']);
/** Probe timeout of leader discovery, ms (capped by timeoutMs). */
const DISCOVERY_TIMEOUT_MS = 1000;

export function toBytes(b: Bytes): Uint8Array {
  return typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
}

function normaliseUrl(u: string): string {
  const s = /^[a-z][a-z0-9+.-]*:\/\//i.test(u) ? u : `http://${u}`;
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new TypeError(`RaftKvClient: invalid endpoint ${JSON.stringify(u)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`RaftKvClient: endpoint ${u} must be http(s)`);
  return url.origin;
}

function rangeEndOf(key: Uint8Array, o: { prefix?: boolean; rangeEnd?: Bytes; fromKey?: boolean }): Uint8Array | undefined {
  if (o.rangeEnd !== undefined) return toBytes(o.rangeEnd);
  if (o.fromKey) return new Uint8Array([0]);
  if (o.prefix) return prefixEnd(key);
  return undefined;
}

function readOnlyTxn(t: TxnRequest): boolean {
  const ro = (op: RequestOp): boolean => 'requestRange' in op || ('requestTxn' in op && readOnlyTxn(op.requestTxn));
  return (t.success ?? []).every(ro) && (t.failure ?? []).every(ro);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface CallOptions {
  idempotent: boolean;
  /** Use exactly this endpoint (no failover). */
  endpoint?: Endpoint;
  binary?: boolean;
}

export class RaftKvClient {
  readonly timeoutMs: number;
  private readonly retries: number | undefined;
  private readonly eps: Endpoint[];
  /** Pools of endpoints reached through status(url) without being in `endpoints`. */
  private readonly extra = new Map<string, Endpoint>();
  private preferred = 0;
  private discovered: boolean;
  private discovery: Promise<void> | undefined;
  private closed = false;
  private readonly watches = new Set<ClientWatch>();

  constructor(opts: RaftKvClientOptions) {
    if (!opts || !Array.isArray(opts.endpoints) || opts.endpoints.length === 0) throw new TypeError('RaftKvClient: endpoints must be a non-empty array');
    const t = opts.timeoutMs ?? 5000;
    if (!Number.isFinite(t) || t <= 0) throw new TypeError(`RaftKvClient: timeoutMs must be a positive number, got ${String(opts.timeoutMs)}`);
    if (opts.retries !== undefined && (!Number.isInteger(opts.retries) || opts.retries < 0)) {
      throw new TypeError(`RaftKvClient: retries must be a non-negative integer, got ${String(opts.retries)}`);
    }
    this.timeoutMs = t;
    this.retries = opts.retries;
    const urls = [...new Set(opts.endpoints.map(normaliseUrl))];
    this.eps = urls.map((url) => this.newEndpoint(url));
    this.discovered = this.eps.length === 1;
  }

  /** The endpoints in use, as origins. */
  get endpoints(): string[] {
    return this.eps.map((e) => e.url);
  }

  private newEndpoint(url: string): Endpoint {
    return {
      url,
      pool: new Pool(url, { pipelining: 1, keepAliveTimeout: 30_000, connectTimeout: Math.min(this.timeoutMs, 10_000) }),
    };
  }

  // ---- KV -------------------------------------------------------------------------------------

  async put(key: Bytes, value: Bytes, opts: PutOptions = {}): Promise<WithHeader<PutResponse>> {
    const j = await this.call('/v3/kv/put', encodePutRequest({ key: toBytes(key), value: toBytes(value), ...opts }), { idempotent: false });
    return decodePutResponse(j);
  }

  async get(key: Bytes, opts: GetOptions = {}): Promise<WithHeader<RangeResponse>> {
    const k = toBytes(key);
    const { prefix: _p, rangeEnd: _r, fromKey: _f, ...rest } = opts;
    const req: GatewayRangeRequest = { key: k, ...rest };
    const re = rangeEndOf(k, opts);
    if (re !== undefined) req.rangeEnd = re;
    return decodeRangeResponse(await this.call('/v3/kv/range', encodeRangeRequest(req), { idempotent: true }));
  }

  async delete(key: Bytes, opts: DeleteOptions = {}): Promise<WithHeader<DeleteRangeResponse>> {
    const k = toBytes(key);
    const body = encodeDeleteRangeRequest({ key: k, rangeEnd: rangeEndOf(k, opts), prevKv: opts.prevKv });
    return decodeDeleteRangeResponse(await this.call('/v3/kv/deleterange', body, { idempotent: false }));
  }

  async txn(req: TxnRequest): Promise<WithHeader<TxnResponse>> {
    return decodeTxnResponse(await this.call('/v3/kv/txn', encodeTxnRequest(req), { idempotent: readOnlyTxn(req) }));
  }

  /** Discards the history before `revision`. Resolves with the response header. */
  async compact(revision: number, opts: { physical?: boolean } = {}): Promise<{ header: ClusterHeader }> {
    const body: Json = { revision: String(revision) };
    if (opts.physical) body.physical = true;
    const j = (await this.call('/v3/kv/compaction', body, { idempotent: false })) as Json;
    return { header: decodeHeader(j.header) };
  }

  /** Starts a watch; see WatchOptions. The watch runs until cancel(), signal, close() or a fatal error. */
  watch(key: Bytes, opts: WatchOptions): WatchHandle {
    if (typeof opts?.onEvents !== 'function') throw new TypeError('RaftKvClient.watch: onEvents is required');
    if (this.closed) throw new RaftKvError('STOPPING', 'client closed');
    const k = toBytes(key);
    const w = new ClientWatch(this.watchHost, k, rangeEndOf(k, opts), opts);
    this.watches.add(w);
    w.start();
    return w;
  }

  // ---- leases ---------------------------------------------------------------------------------

  async leaseGrant(ttlSeconds: number, id = 0): Promise<WithHeader<LeaseGrantResponse>> {
    const body: Json = { TTL: String(ttlSeconds) };
    if (id !== 0) body.ID = String(id);
    const j = (await this.call('/v3/lease/grant', body, { idempotent: false })) as Json;
    return { header: decodeHeader(j.header), ID: decodeInt(j.ID), TTL: decodeInt(j.TTL) };
  }

  async leaseRevoke(id: number): Promise<WithHeader<LeaseRevokeResponse>> {
    const j = (await this.call('/v3/lease/revoke', { ID: String(id) }, { idempotent: false })) as Json;
    return { header: decodeHeader(j.header) };
  }

  /** Resets the lease's TTL once; returns the TTL granted (<= 0: the lease is gone). */
  async leaseKeepAliveOnce(id: number): Promise<{ header: ClusterHeader; ID: number; TTL: number }> {
    const j = (await this.call('/v3/lease/keepalive', { ID: String(id) }, { idempotent: true })) as Json;
    const r = (typeof j.result === 'object' && j.result !== null ? j.result : j) as Json;
    return { header: decodeHeader(r.header), ID: decodeInt(r.ID), TTL: decodeInt(r.TTL) };
  }

  /** TTL -1: the lease does not exist. */
  async leaseTimeToLive(id: number, opts: { keys?: boolean } = {}): Promise<LeaseTimeToLive & { header: ClusterHeader }> {
    const body: Json = { ID: String(id) };
    if (opts.keys) body.keys = true;
    return decodeTimeToLive(await this.call('/v3/lease/timetolive', body, { idempotent: true }));
  }

  async leases(): Promise<{ header: ClusterHeader; leases: { ID: number }[] }> {
    const j = (await this.call('/v3/lease/leases', {}, { idempotent: true })) as Json;
    const list = Array.isArray(j.leases) ? j.leases : [];
    return { header: decodeHeader(j.header), leases: list.map((l) => ({ ID: decodeInt((l as Json).ID) })) };
  }

  // ---- cluster --------------------------------------------------------------------------------

  async memberList(): Promise<{ header: ClusterHeader; members: Member[] }> {
    return this.members(await this.call('/v3/cluster/member/list', {}, { idempotent: true }));
  }

  async memberAdd(peerURLs: string[], opts: { learner?: boolean } = {}): Promise<{ header: ClusterHeader; member: Member; members: Member[] }> {
    const body: Json = { peerURLs };
    if (opts.learner) body.isLearner = true;
    const j = (await this.call('/v3/cluster/member/add', body, { idempotent: false })) as Json;
    return { ...this.members(j), member: decodeMember(j.member) };
  }

  async memberRemove(id: number): Promise<{ header: ClusterHeader; members: Member[] }> {
    return this.members(await this.call('/v3/cluster/member/remove', { ID: String(id) }, { idempotent: false }));
  }

  async memberPromote(id: number): Promise<{ header: ClusterHeader; members: Member[] }> {
    return this.members(await this.call('/v3/cluster/member/promote', { ID: String(id) }, { idempotent: false }));
  }

  private members(v: unknown): { header: ClusterHeader; members: Member[] } {
    const j = v as Json;
    return { header: decodeHeader(j.header), members: (Array.isArray(j.members) ? j.members : []).map(decodeMember) };
  }

  // ---- maintenance ----------------------------------------------------------------------------

  /** Status of `endpoint` (any member's client URL), or of the preferred endpoint. */
  async status(endpoint?: string): Promise<MemberStatus & { endpoint: string }> {
    const ep = endpoint === undefined ? undefined : this.endpointFor(endpoint);
    if (ep !== undefined) return { ...decodeStatus(await this.call('/v3/maintenance/status', {}, { idempotent: true, endpoint: ep })), endpoint: ep.url };
    const i = await this.pick();
    const e = this.eps[i];
    return { ...decodeStatus(await this.call('/v3/maintenance/status', {}, { idempotent: true, endpoint: e })), endpoint: e.url };
  }

  /** GET /health of `endpoint` (or the preferred one): whether it knows a leader. */
  async health(endpoint?: string): Promise<{ health: boolean; reason: string }> {
    const ep = endpoint === undefined ? this.eps[await this.pick()] : this.endpointFor(endpoint);
    let res;
    try {
      res = await ep.pool.request({ path: '/health', method: 'GET', headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs });
    } catch (err) {
      throw transportError(err, ep.url, !notSent(err));
    }
    const text = await res.body.text();
    let j: Json = {};
    try {
      j = JSON.parse(text) as Json;
    } catch {
      // keep {}
    }
    return { health: res.statusCode === 200 && j.health === 'true', reason: typeof j.reason === 'string' ? j.reason : res.statusCode === 200 ? '' : `HTTP ${res.statusCode}` };
  }

  /** The member's current snapshot (KvStore.snapshot bytes). */
  async snapshot(): Promise<Uint8Array> {
    return (await this.call('/v3/maintenance/snapshot', {}, { idempotent: true, binary: true })) as Uint8Array;
  }

  /** Cancels every watch and closes every connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.watches]) w.cancel();
    const pools = [...this.eps, ...this.extra.values()].map((e) => e.pool);
    await Promise.all(pools.map((p) => p.destroy().catch(() => undefined)));
  }

  // ---- request machinery ----------------------------------------------------------------------

  private endpointFor(url: string): Endpoint {
    const u = normaliseUrl(url);
    const known = this.eps.find((e) => e.url === u) ?? this.extra.get(u);
    if (known !== undefined) return known;
    if (this.closed) throw new RaftKvError('STOPPING', 'client closed');
    const ep = this.newEndpoint(u);
    this.extra.set(u, ep);
    return ep;
  }

  /** Index of the endpoint to use now; runs leader discovery first when needed. */
  async pick(): Promise<number> {
    if (!this.discovered) {
      this.discovery ??= this.discover().finally(() => {
        this.discovery = undefined;
      });
      await this.discovery;
    }
    return this.preferred;
  }

  /** Notes a failure of endpoint i: move on (to the leader it named, or the next one) and rediscover. */
  failed(i: number, err?: RaftKvError): void {
    if (this.eps.length === 1) return;
    const hint = err?.leaderClientURLs?.map((u) => this.eps.findIndex((e) => e.url === safeOrigin(u))).find((j) => j >= 0);
    if (hint !== undefined && hint !== i) {
      this.preferred = hint;
      this.discovered = true;
      return;
    }
    if (this.preferred === i) this.preferred = (i + 1) % this.eps.length;
    this.discovered = false;
  }

  private discover(): Promise<void> {
    const t = Math.min(this.timeoutMs, DISCOVERY_TIMEOUT_MS);
    const n = this.eps.length;
    return new Promise<void>((resolve) => {
      let pending = n;
      let firstAnswer = -1;
      let done = false;
      const settle = (i: number, s: MemberStatus | undefined): void => {
        if (done) return;
        pending--;
        if (s !== undefined) {
          if (s.leader !== 0 && s.leader === s.header.memberId) {
            done = true;
            this.preferred = i;
            this.discovered = true;
            resolve();
            return;
          }
          if (firstAnswer < 0) firstAnswer = i;
        }
        if (pending > 0) return;
        // No endpoint is the leader (or none answered): keep to one that answered, if any;
        // without any answer, the next call rediscovers.
        done = true;
        if (firstAnswer >= 0) {
          this.preferred = firstAnswer;
          this.discovered = true;
        }
        resolve();
      };
      for (let k = 0; k < n; k++) {
        const i = (this.preferred + k) % n;
        this.eps[i].pool
          .request({ path: '/v3/maintenance/status', method: 'POST', headers: HEADERS, body: '{}', headersTimeout: t, bodyTimeout: t })
          .then(async (res) => {
            const text = await res.body.text();
            settle(i, res.statusCode === 200 ? decodeStatus(JSON.parse(text)) : undefined);
          })
          .catch(() => settle(i, undefined));
      }
    });
  }

  private async call(path: string, body: Json, opts: CallOptions): Promise<unknown> {
    const payload = JSON.stringify(body);
    const deadline = Date.now() + this.timeoutMs * 2;
    let delay = 50;
    let attempt = 0;
    for (;;) {
      if (this.closed) throw new RaftKvError('STOPPING', 'client closed');
      let i = -1;
      let ep: Endpoint;
      if (opts.endpoint !== undefined) ep = opts.endpoint;
      else {
        i = await this.pick();
        ep = this.eps[i];
      }
      const t = Math.max(1, Math.min(this.timeoutMs, deadline - Date.now()));
      let err: RaftKvError;
      let sent = false;
      try {
        const res = await ep.pool.request({ path, method: 'POST', headers: HEADERS, body: payload, headersTimeout: t, bodyTimeout: t });
        sent = true;
        if (res.statusCode === 200) {
          if (opts.binary) return new Uint8Array(await res.body.arrayBuffer());
          const text = await res.body.text();
          try {
            return JSON.parse(text) as unknown;
          } catch {
            throw new RaftKvError('TIMEOUT', `malformed response from ${ep.url}${path}: ${text.slice(0, 100)}`);
          }
        }
        err = errorFromResponse(res.statusCode, await res.body.text());
        const retry = RETRYABLE.has(err.code) || (opts.idempotent && (err.code === 'TIMEOUT' || err.code === 'LEADER_CHANGED'));
        if (!retry) throw err;
      } catch (e) {
        if (e instanceof RaftKvError) {
          // An error answer (or malformed 200) thrown above: final.
          if (!RETRYABLE.has(e.code) && !(opts.idempotent && e.code === 'TIMEOUT')) throw e;
          err = e;
        } else {
          const before = !sent && notSent(e);
          err = transportError(e, ep.url, !before);
          if (!before && !opts.idempotent) throw err;
        }
      }
      if (i >= 0) this.failed(i, err);
      attempt++;
      if ((this.retries !== undefined && attempt > this.retries) || Date.now() + delay >= deadline || this.closed) throw err;
      await sleep(delay);
      delay = Math.min(delay * 2, 500);
    }
  }

  private readonly watchHost: WatchHost = ((): WatchHost => {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    return {
      get timeoutMs() {
        return self.timeoutMs;
      },
      pick: () => self.pick(),
      endpointAt: (i: number) => self.eps[i],
      failed: (i: number, err?: RaftKvError) => self.failed(i, err),
      removeWatch: (w: ClientWatch) => {
        self.watches.delete(w);
      },
    };
  })();
}

function safeOrigin(u: string): string {
  try {
    return normaliseUrl(u);
  } catch {
    return u;
  }
}
