/**
 * The etcd v3 JSON-gateway wire format, both directions, shared by the HTTP API (decodes
 * requests, encodes responses) and the client (encodes requests, decodes responses).
 *
 * Conventions, as etcd's grpc-gateway:
 * - field names are the proto names (snake_case for KV/watch, camelCase where the proto itself
 *   uses it: Member, StatusResponse, lease TTL fields); on input the lowerCamel JSON name is
 *   accepted too (`range_end` or `rangeEnd`), as protojson does;
 * - bytes are standard base64 (URL-safe and unpadded are accepted on input);
 * - int64/uint64 fields are JSON strings on output; numbers or decimal strings on input;
 * - enums are names on output; names or numbers on input.
 * Unlike etcd's gateway, responses carry default values explicitly (`"lease":"0"`, `"kvs":[]`);
 * decoders here accept them missing.
 *
 * Decoders of requests throw RaftKvError INVALID with a message naming the offending field
 * (path from the request root); they check types only — semantic validation (empty key,
 * negative revision, ...) stays with the store/member. Pure: no I/O.
 */
import { Buffer } from 'node:buffer';
import type {
  Compare,
  CompareResult,
  CompareTarget,
  DeleteRangeRequest,
  DeleteRangeResponse,
  KeyValue,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  SortOrder,
  SortTarget,
  TxnRequest,
  TxnResponse,
  WatchEvent,
} from '../../kv/types.js';
import type { ClusterHeader, LeaseTimeToLive, Member, MemberStatus, WatchRequest } from '../api.js';
import { RaftKvError } from '../api.js';

export type Json = Record<string, unknown>;

/** Nesting bound for txn decoding (the store enforces its own, smaller, limit): keeps a hostile
 *  body from overflowing the stack of the recursive decoder. */
export const MAX_DECODE_DEPTH = 64;

/** A RangeRequest as the gateway carries it: `serializable` travels in the request. */
export interface GatewayRangeRequest extends RangeRequest {
  serializable?: boolean;
}

/** A watch create request as the gateway carries it. */
export interface GatewayWatchCreate extends WatchRequest {
  progressNotify?: boolean;
  /** 0: the server picks. */
  watchId?: number;
}

// ---- primitives -------------------------------------------------------------------------------

function invalid(field: string, what: string): never {
  throw new RaftKvError('INVALID', `invalid request: ${field} ${what}`);
}

/** `o[snake]`, else `o[camel]`; null counts as absent. */
function get(o: Json, snake: string, camel: string): unknown {
  const v = o[snake];
  if (v != null) return v;
  const w = o[camel];
  return w == null ? undefined : w;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function requestObject(body: unknown): Json {
  if (body === undefined || body === null) return {};
  if (!isObject(body)) invalid('request body', 'must be a JSON object');
  return body;
}

function obj(v: unknown, field: string): Json {
  if (!isObject(v)) invalid(field, 'must be an object');
  return v;
}

const B64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** base64 → bytes. The result may be a view into Buffer's shared pool: consumers copy what they
 *  keep (the store does). */
function bytes(v: unknown, field: string): Uint8Array | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') invalid(field, 'must be a base64 string');
  if (v.length === 0) return EMPTY;
  if (!B64.test(v) || (v.length & 3) === 1 || (v.includes('=') && (v.length & 3) !== 0)) invalid(field, 'is not valid base64');
  return Buffer.from(v, 'base64');
}

function reqBytes(v: unknown, field: string): Uint8Array {
  const b = bytes(v, field);
  if (b === undefined) invalid(field, 'is required');
  return b;
}

const INT = /^-?\d{1,16}$/;

function int(v: unknown, field: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return v;
    invalid(field, 'must be an integer');
  }
  if (typeof v === 'string') {
    if (INT.test(v)) {
      const n = Number(v);
      if (Number.isSafeInteger(n)) return n;
      invalid(field, 'is out of range (max 2^53-1)');
    }
    invalid(field, 'must be an integer (number or decimal string)');
  }
  invalid(field, 'must be an integer (number or decimal string)');
}

function reqInt(v: unknown, field: string): number {
  const n = int(v, field);
  if (n === undefined) invalid(field, 'is required');
  return n;
}

function bool(v: unknown, field: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') invalid(field, 'must be a boolean');
  return v;
}

function enumOf<T>(v: unknown, names: readonly string[], values: readonly T[], field: string): T | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string') {
    const i = names.indexOf(v.toUpperCase());
    if (i >= 0) return values[i];
  } else if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < values.length) {
    return values[v];
  }
  invalid(field, `must be one of ${names.join(', ')}`);
}

function arr(v: unknown, field: string): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) invalid(field, 'must be an array');
  return v;
}

function strings(v: unknown, field: string): string[] {
  const a = arr(v, field);
  for (let i = 0; i < a.length; i++) if (typeof a[i] !== 'string') invalid(`${field}[${i}]`, 'must be a string');
  return a as string[];
}

const EMPTY: Uint8Array = new Uint8Array(0);

export function b64(u: Uint8Array): string {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('base64');
}

export function fromB64(s: string): Uint8Array {
  return Buffer.from(s, 'base64');
}

// ---- enums ------------------------------------------------------------------------------------

const SORT_ORDER_NAMES = ['NONE', 'ASCEND', 'DESCEND'] as const;
const SORT_ORDERS: readonly SortOrder[] = ['none', 'ascend', 'descend'];
const SORT_TARGET_NAMES = ['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'] as const;
const SORT_TARGETS: readonly SortTarget[] = ['key', 'version', 'create', 'mod', 'value'];
const RESULT_NAMES = ['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'] as const;
const RESULTS: readonly CompareResult[] = ['equal', 'greater', 'less', 'not_equal'];
const TARGET_NAMES = ['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE'] as const;
const TARGETS: readonly CompareTarget[] = ['version', 'create', 'mod', 'value', 'lease'];
const FILTER_NAMES = ['NOPUT', 'NODELETE'] as const;
const FILTERS = ['noput', 'nodelete'] as const;

function upper(s: string): string {
  return s.toUpperCase();
}

// ---- request decoding (server side) -----------------------------------------------------------

export function decodeRangeRequest(o: Json, path = ''): GatewayRangeRequest {
  const r: GatewayRangeRequest = { key: reqBytes(o.key, `${path}key`) };
  const re = bytes(get(o, 'range_end', 'rangeEnd'), `${path}range_end`);
  if (re !== undefined) r.rangeEnd = re;
  const limit = int(o.limit, `${path}limit`);
  if (limit !== undefined) r.limit = limit;
  const rev = int(o.revision, `${path}revision`);
  if (rev !== undefined) r.revision = rev;
  const so = enumOf(get(o, 'sort_order', 'sortOrder'), SORT_ORDER_NAMES, SORT_ORDERS, `${path}sort_order`);
  if (so !== undefined) r.sortOrder = so;
  const st = enumOf(get(o, 'sort_target', 'sortTarget'), SORT_TARGET_NAMES, SORT_TARGETS, `${path}sort_target`);
  if (st !== undefined) r.sortTarget = st;
  const ser = bool(o.serializable, `${path}serializable`);
  if (ser !== undefined) r.serializable = ser;
  const ko = bool(get(o, 'keys_only', 'keysOnly'), `${path}keys_only`);
  if (ko !== undefined) r.keysOnly = ko;
  const co = bool(get(o, 'count_only', 'countOnly'), `${path}count_only`);
  if (co !== undefined) r.countOnly = co;
  const a = int(get(o, 'min_mod_revision', 'minModRevision'), `${path}min_mod_revision`);
  if (a !== undefined) r.minModRevision = a;
  const b = int(get(o, 'max_mod_revision', 'maxModRevision'), `${path}max_mod_revision`);
  if (b !== undefined) r.maxModRevision = b;
  const c = int(get(o, 'min_create_revision', 'minCreateRevision'), `${path}min_create_revision`);
  if (c !== undefined) r.minCreateRevision = c;
  const d = int(get(o, 'max_create_revision', 'maxCreateRevision'), `${path}max_create_revision`);
  if (d !== undefined) r.maxCreateRevision = d;
  return r;
}

export function decodePutRequest(o: Json, path = ''): PutRequest {
  const r: PutRequest = { key: reqBytes(o.key, `${path}key`), value: bytes(o.value, `${path}value`) ?? EMPTY };
  const lease = int(o.lease, `${path}lease`);
  if (lease !== undefined) r.lease = lease;
  const pk = bool(get(o, 'prev_kv', 'prevKv'), `${path}prev_kv`);
  if (pk !== undefined) r.prevKv = pk;
  const iv = bool(get(o, 'ignore_value', 'ignoreValue'), `${path}ignore_value`);
  if (iv !== undefined) r.ignoreValue = iv;
  const il = bool(get(o, 'ignore_lease', 'ignoreLease'), `${path}ignore_lease`);
  if (il !== undefined) r.ignoreLease = il;
  return r;
}

export function decodeDeleteRangeRequest(o: Json, path = ''): DeleteRangeRequest {
  const r: DeleteRangeRequest = { key: reqBytes(o.key, `${path}key`) };
  const re = bytes(get(o, 'range_end', 'rangeEnd'), `${path}range_end`);
  if (re !== undefined) r.rangeEnd = re;
  const pk = bool(get(o, 'prev_kv', 'prevKv'), `${path}prev_kv`);
  if (pk !== undefined) r.prevKv = pk;
  return r;
}

function decodeCompare(o: Json, path: string): Compare {
  // Proto3 defaults: result EQUAL, target VERSION.
  const c: Compare = {
    result: enumOf(o.result, RESULT_NAMES, RESULTS, `${path}result`) ?? 'equal',
    target: enumOf(o.target, TARGET_NAMES, TARGETS, `${path}target`) ?? 'version',
    key: reqBytes(o.key, `${path}key`),
  };
  const re = bytes(get(o, 'range_end', 'rangeEnd'), `${path}range_end`);
  if (re !== undefined) c.rangeEnd = re;
  switch (c.target) {
    case 'version':
      c.version = int(o.version, `${path}version`) ?? 0;
      break;
    case 'create':
      c.createRevision = int(get(o, 'create_revision', 'createRevision'), `${path}create_revision`) ?? 0;
      break;
    case 'mod':
      c.modRevision = int(get(o, 'mod_revision', 'modRevision'), `${path}mod_revision`) ?? 0;
      break;
    case 'value':
      c.value = bytes(o.value, `${path}value`) ?? EMPTY;
      break;
    case 'lease':
      c.lease = int(o.lease, `${path}lease`) ?? 0;
      break;
  }
  return c;
}

function decodeOp(v: unknown, path: string, depth: number): RequestOp {
  const o = obj(v, path);
  const rr = get(o, 'request_range', 'requestRange');
  const rp = get(o, 'request_put', 'requestPut');
  const rd = get(o, 'request_delete_range', 'requestDeleteRange');
  const rt = get(o, 'request_txn', 'requestTxn');
  const n = (rr !== undefined ? 1 : 0) + (rp !== undefined ? 1 : 0) + (rd !== undefined ? 1 : 0) + (rt !== undefined ? 1 : 0);
  if (n !== 1) invalid(path, 'must set exactly one of request_range, request_put, request_delete_range, request_txn');
  if (rr !== undefined) {
    const p = `${path}.request_range`;
    const r = decodeRangeRequest(obj(rr, p), `${p}.`);
    delete r.serializable;
    return { requestRange: r };
  }
  if (rp !== undefined) {
    const p = `${path}.request_put`;
    return { requestPut: decodePutRequest(obj(rp, p), `${p}.`) };
  }
  if (rd !== undefined) {
    const p = `${path}.request_delete_range`;
    return { requestDeleteRange: decodeDeleteRangeRequest(obj(rd, p), `${p}.`) };
  }
  const p = `${path}.request_txn`;
  return { requestTxn: decodeTxnInner(obj(rt, p), `${p}.`, depth + 1) };
}

function decodeTxnInner(o: Json, path: string, depth: number): TxnRequest {
  if (depth > MAX_DECODE_DEPTH) invalid(path || 'txn', `nests transactions deeper than ${MAX_DECODE_DEPTH}`);
  const cmp = arr(o.compare, `${path}compare`);
  const suc = arr(o.success, `${path}success`);
  const fail = arr(o.failure, `${path}failure`);
  const compare: Compare[] = new Array(cmp.length);
  for (let i = 0; i < cmp.length; i++) compare[i] = decodeCompare(obj(cmp[i], `${path}compare[${i}]`), `${path}compare[${i}].`);
  const success: RequestOp[] = new Array(suc.length);
  for (let i = 0; i < suc.length; i++) success[i] = decodeOp(suc[i], `${path}success[${i}]`, depth);
  const failure: RequestOp[] = new Array(fail.length);
  for (let i = 0; i < fail.length; i++) failure[i] = decodeOp(fail[i], `${path}failure[${i}]`, depth);
  return { compare, success, failure };
}

export function decodeTxnRequest(o: Json): TxnRequest {
  return decodeTxnInner(o, '', 0);
}

export function decodeCompactionRequest(o: Json): { revision: number; physical: boolean } {
  return { revision: reqInt(o.revision, 'revision'), physical: bool(o.physical, 'physical') ?? false };
}

/** Accepts `{create_request: {...}}` (etcd's WatchRequest) or the create request itself. */
export function decodeWatchCreate(body: Json): GatewayWatchCreate {
  const inner = get(body, 'create_request', 'createRequest');
  let o: Json;
  let path: string;
  if (inner !== undefined) {
    o = obj(inner, 'create_request');
    path = 'create_request.';
  } else {
    if (get(body, 'cancel_request', 'cancelRequest') !== undefined || get(body, 'progress_request', 'progressRequest') !== undefined) {
      invalid('request', 'on this endpoint must be a create_request: one watch per HTTP stream; close the stream to cancel it');
    }
    o = body;
    path = '';
  }
  const w: GatewayWatchCreate = { key: reqBytes(o.key, `${path}key`) };
  const re = bytes(get(o, 'range_end', 'rangeEnd'), `${path}range_end`);
  if (re !== undefined) w.rangeEnd = re;
  const sr = int(get(o, 'start_revision', 'startRevision'), `${path}start_revision`);
  if (sr !== undefined) w.startRevision = sr;
  const pk = bool(get(o, 'prev_kv', 'prevKv'), `${path}prev_kv`);
  if (pk !== undefined) w.prevKv = pk;
  const pn = bool(get(o, 'progress_notify', 'progressNotify'), `${path}progress_notify`);
  if (pn !== undefined) w.progressNotify = pn;
  const f = arr(o.filters, `${path}filters`);
  if (f.length > 0) {
    w.filters = f.map((x, i) => enumOf(x, FILTER_NAMES, FILTERS, `${path}filters[${i}]`)!);
  }
  const id = int(get(o, 'watch_id', 'watchId'), `${path}watch_id`);
  if (id !== undefined) w.watchId = id;
  return w;
}

export function decodeLeaseGrantRequest(o: Json): { TTL: number; ID: number } {
  return { TTL: reqInt(o.TTL, 'TTL'), ID: int(o.ID, 'ID') ?? 0 };
}

export function decodeId(o: Json, field = 'ID'): number {
  return reqInt(o[field], field);
}

export function decodeTimeToLiveRequest(o: Json): { ID: number; keys: boolean } {
  return { ID: reqInt(o.ID, 'ID'), keys: bool(o.keys, 'keys') ?? false };
}

export function decodeMemberAddRequest(o: Json): { peerURLs: string[]; isLearner: boolean } {
  const urls = strings(get(o, 'peerURLs', 'peer_urls'), 'peerURLs');
  if (urls.length === 0) invalid('peerURLs', 'is required (a non-empty array of URLs)');
  return { peerURLs: urls, isLearner: bool(get(o, 'isLearner', 'is_learner'), 'isLearner') ?? false };
}

// ---- response encoding (server side) ----------------------------------------------------------

export function encodeHeader(h: ClusterHeader, revision: number = h.revision): Json {
  return {
    cluster_id: String(h.clusterId),
    member_id: String(h.memberId),
    revision: String(revision),
    raft_term: String(h.raftTerm),
  };
}

export function encodeKv(kv: KeyValue): Json {
  return {
    key: b64(kv.key),
    create_revision: String(kv.createRevision),
    mod_revision: String(kv.modRevision),
    version: String(kv.version),
    value: b64(kv.value),
    lease: String(kv.lease),
  };
}

function encodeKvs(kvs: readonly KeyValue[]): Json[] {
  const out: Json[] = new Array(kvs.length);
  for (let i = 0; i < kvs.length; i++) out[i] = encodeKv(kvs[i]);
  return out;
}

export function encodeRangeResponse(r: RangeResponse, h: ClusterHeader): Json {
  return { header: encodeHeader(h, r.header.revision), kvs: encodeKvs(r.kvs), more: r.more, count: String(r.count) };
}

export function encodePutResponse(r: PutResponse, h: ClusterHeader): Json {
  const out: Json = { header: encodeHeader(h, r.header.revision) };
  if (r.prevKv !== undefined) out.prev_kv = encodeKv(r.prevKv);
  return out;
}

export function encodeDeleteRangeResponse(r: DeleteRangeResponse, h: ClusterHeader): Json {
  return { header: encodeHeader(h, r.header.revision), deleted: String(r.deleted), prev_kvs: encodeKvs(r.prevKvs) };
}

export function encodeTxnResponse(r: TxnResponse, h: ClusterHeader): Json {
  const responses: Json[] = new Array(r.responses.length);
  for (let i = 0; i < r.responses.length; i++) responses[i] = encodeResponseOp(r.responses[i], h);
  return { header: encodeHeader(h, r.header.revision), succeeded: r.succeeded, responses };
}

function encodeResponseOp(op: ResponseOp, h: ClusterHeader): Json {
  if ('responseRange' in op) return { response_range: encodeRangeResponse(op.responseRange, h) };
  if ('responsePut' in op) return { response_put: encodePutResponse(op.responsePut, h) };
  if ('responseDeleteRange' in op) return { response_delete_range: encodeDeleteRangeResponse(op.responseDeleteRange, h) };
  return { response_txn: encodeTxnResponse(op.responseTxn, h) };
}

export function encodeEvent(e: WatchEvent): Json {
  const out: Json = { type: e.type, kv: encodeKv(e.kv) };
  if (e.prevKv !== undefined) out.prev_kv = encodeKv(e.prevKv);
  return out;
}

export function encodeMember(m: Member): Json {
  return { ID: String(m.id), name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs, isLearner: m.isLearner };
}

export function encodeMembers(ms: readonly Member[]): Json[] {
  return ms.map(encodeMember);
}

export function encodeStatus(s: MemberStatus): Json {
  return {
    header: encodeHeader(s.header),
    version: s.version,
    dbSize: String(s.dbSize),
    leader: String(s.leader),
    raftIndex: String(s.raftIndex),
    raftTerm: String(s.raftTerm),
    raftAppliedIndex: String(s.raftAppliedIndex),
    isLearner: s.isLearner,
    errors: s.errors,
  };
}

export function encodeTimeToLive(t: LeaseTimeToLive, h: ClusterHeader): Json {
  return { header: encodeHeader(h), ID: String(t.ID), TTL: String(t.TTL), grantedTTL: String(t.grantedTTL), keys: t.keys.map(b64) };
}

// ---- request encoding (client side) -----------------------------------------------------------

function putIf(out: Json, name: string, v: unknown): void {
  if (v !== undefined && v !== null && v !== false && v !== 0) out[name] = v;
}

function putInt(out: Json, name: string, v: number | undefined): void {
  if (v !== undefined && v !== null && v !== 0) out[name] = String(v);
}

function putBytes(out: Json, name: string, v: Uint8Array | undefined): void {
  if (v !== undefined && v !== null) out[name] = b64(v);
}

export function encodeRangeRequest(r: GatewayRangeRequest): Json {
  const o: Json = { key: b64(r.key) };
  putBytes(o, 'range_end', r.rangeEnd);
  putInt(o, 'limit', r.limit);
  putInt(o, 'revision', r.revision);
  if (r.sortOrder !== undefined) o.sort_order = upper(r.sortOrder);
  if (r.sortTarget !== undefined) o.sort_target = upper(r.sortTarget);
  putIf(o, 'serializable', r.serializable);
  putIf(o, 'keys_only', r.keysOnly);
  putIf(o, 'count_only', r.countOnly);
  putInt(o, 'min_mod_revision', r.minModRevision);
  putInt(o, 'max_mod_revision', r.maxModRevision);
  putInt(o, 'min_create_revision', r.minCreateRevision);
  putInt(o, 'max_create_revision', r.maxCreateRevision);
  return o;
}

export function encodePutRequest(r: PutRequest): Json {
  const o: Json = { key: b64(r.key), value: b64(r.value ?? EMPTY) };
  putInt(o, 'lease', r.lease);
  putIf(o, 'prev_kv', r.prevKv);
  putIf(o, 'ignore_value', r.ignoreValue);
  putIf(o, 'ignore_lease', r.ignoreLease);
  return o;
}

export function encodeDeleteRangeRequest(r: DeleteRangeRequest): Json {
  const o: Json = { key: b64(r.key) };
  putBytes(o, 'range_end', r.rangeEnd);
  putIf(o, 'prev_kv', r.prevKv);
  return o;
}

function encodeCompare(c: Compare): Json {
  const o: Json = { result: upper(c.result), target: upper(c.target), key: b64(c.key) };
  putBytes(o, 'range_end', c.rangeEnd);
  switch (c.target) {
    case 'version':
      o.version = String(c.version ?? 0);
      break;
    case 'create':
      o.create_revision = String(c.createRevision ?? 0);
      break;
    case 'mod':
      o.mod_revision = String(c.modRevision ?? 0);
      break;
    case 'value':
      o.value = b64(c.value ?? EMPTY);
      break;
    case 'lease':
      o.lease = String(c.lease ?? 0);
      break;
  }
  return o;
}

function encodeRequestOp(op: RequestOp): Json {
  if ('requestRange' in op) return { request_range: encodeRangeRequest(op.requestRange) };
  if ('requestPut' in op) return { request_put: encodePutRequest(op.requestPut) };
  if ('requestDeleteRange' in op) return { request_delete_range: encodeDeleteRangeRequest(op.requestDeleteRange) };
  return { request_txn: encodeTxnRequest(op.requestTxn) };
}

export function encodeTxnRequest(t: TxnRequest): Json {
  return {
    compare: (t.compare ?? []).map(encodeCompare),
    success: (t.success ?? []).map(encodeRequestOp),
    failure: (t.failure ?? []).map(encodeRequestOp),
  };
}

export function encodeWatchCreate(w: GatewayWatchCreate): Json {
  const o: Json = { key: b64(w.key) };
  putBytes(o, 'range_end', w.rangeEnd);
  putInt(o, 'start_revision', w.startRevision);
  putIf(o, 'prev_kv', w.prevKv);
  putIf(o, 'progress_notify', w.progressNotify);
  if (w.filters !== undefined && w.filters.length > 0) o.filters = w.filters.map(upper);
  putInt(o, 'watch_id', w.watchId);
  return { create_request: o };
}

// ---- response decoding (client side): lenient, etcd omits default values -----------------------

function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.length > 0) return Number(v);
  return 0;
}

/** base64 → a plain Uint8Array (a view, not a Buffer: callers get exactly the declared type). */
function raw(v: unknown): Uint8Array {
  if (typeof v !== 'string' || v.length === 0) return new Uint8Array(0);
  const b = Buffer.from(v, 'base64');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function o(v: unknown): Json {
  return isObject(v) ? v : {};
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function decodeHeader(v: unknown): ClusterHeader {
  const h = o(v);
  return { clusterId: num(h.cluster_id), memberId: num(h.member_id), revision: num(h.revision), raftTerm: num(h.raft_term) };
}

export function decodeKv(v: unknown): KeyValue {
  const k = o(v);
  return {
    key: raw(k.key),
    createRevision: num(k.create_revision),
    modRevision: num(k.mod_revision),
    version: num(k.version),
    value: raw(k.value),
    lease: num(k.lease),
  };
}

/** Responses whose header is the full ClusterHeader (a superset of ResponseHeader). */
export type WithHeader<T extends { header: unknown }> = Omit<T, 'header'> & { header: ClusterHeader };

export function decodeRangeResponse(v: unknown): WithHeader<RangeResponse> {
  const j = o(v);
  return { header: decodeHeader(j.header), kvs: list(j.kvs).map(decodeKv), more: j.more === true, count: num(j.count) };
}

export function decodePutResponse(v: unknown): WithHeader<PutResponse> {
  const j = o(v);
  const r: WithHeader<PutResponse> = { header: decodeHeader(j.header) };
  if (isObject(j.prev_kv)) r.prevKv = decodeKv(j.prev_kv);
  return r;
}

export function decodeDeleteRangeResponse(v: unknown): WithHeader<DeleteRangeResponse> {
  const j = o(v);
  return { header: decodeHeader(j.header), deleted: num(j.deleted), prevKvs: list(j.prev_kvs).map(decodeKv) };
}

export function decodeTxnResponse(v: unknown): WithHeader<TxnResponse> {
  const j = o(v);
  return { header: decodeHeader(j.header), succeeded: j.succeeded === true, responses: list(j.responses).map(decodeResponseOp) };
}

function decodeResponseOp(v: unknown): ResponseOp {
  const j = o(v);
  if (j.response_range !== undefined) return { responseRange: decodeRangeResponse(j.response_range) };
  if (j.response_put !== undefined) return { responsePut: decodePutResponse(j.response_put) };
  if (j.response_delete_range !== undefined) return { responseDeleteRange: decodeDeleteRangeResponse(j.response_delete_range) };
  return { responseTxn: decodeTxnResponse(j.response_txn) };
}

export function decodeEvent(v: unknown): WatchEvent {
  const j = o(v);
  // etcd's gateway omits type for PUT (enum value 0).
  const t = j.type;
  const type = t === 'DELETE' || t === 1 ? 'DELETE' : 'PUT';
  const ev: WatchEvent = { type, kv: decodeKv(j.kv) };
  if (isObject(j.prev_kv)) ev.prevKv = decodeKv(j.prev_kv);
  return ev;
}

export function decodeMember(v: unknown): Member {
  const j = o(v);
  return {
    id: num(j.ID),
    name: typeof j.name === 'string' ? j.name : '',
    peerURLs: list(j.peerURLs).map(String),
    clientURLs: list(j.clientURLs).map(String),
    isLearner: j.isLearner === true,
  };
}

export function decodeStatus(v: unknown): MemberStatus {
  const j = o(v);
  return {
    header: decodeHeader(j.header),
    version: typeof j.version === 'string' ? j.version : '',
    dbSize: num(j.dbSize),
    leader: num(j.leader),
    raftIndex: num(j.raftIndex),
    raftTerm: num(j.raftTerm),
    raftAppliedIndex: num(j.raftAppliedIndex),
    isLearner: j.isLearner === true,
    errors: list(j.errors).map(String),
  };
}

export function decodeTimeToLive(v: unknown): LeaseTimeToLive & { header: ClusterHeader } {
  const j = o(v);
  return { header: decodeHeader(j.header), ID: num(j.ID), TTL: num(j.TTL), grantedTTL: num(j.grantedTTL), keys: list(j.keys).map(raw) };
}

export { num as decodeInt };
