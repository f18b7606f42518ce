/**
 * Structural validation of commands and requests: everything that can be decided without looking
 * at the store's state. The HTTP layer runs it before proposing so bad requests fail early with a
 * message naming the field; `KvStore.apply` runs it again because a command read back from the
 * log (decoded from bytes) is not trusted to have the declared shape.
 *
 * `null` is accepted wherever a field is optional, because serialisers may turn `undefined` into
 * `null`; the store reads every optional field with `?? default`.
 */
import { keyId, showKey } from './keys.js';
import type {
  Compare,
  DeleteRangeRequest,
  KvCommand,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
  WatchRequest,
} from './types.js';
import { KvError } from './types.js';

/** etcd's default --max-txn-ops, applied to compare, success and failure separately. */
export const MAX_TXN_OPS = 128;
/** etcd has no explicit bound; this keeps a hostile command from exhausting the stack of every
 *  replica at once. */
export const MAX_TXN_DEPTH = 32;

const SORT_ORDERS: ReadonlySet<string> = new Set(['none', 'ascend', 'descend']);
const SORT_TARGETS: ReadonlySet<string> = new Set(['key', 'version', 'create', 'mod', 'value']);
const COMPARE_TARGETS: ReadonlySet<string> = new Set(['version', 'create', 'mod', 'value', 'lease']);
const COMPARE_RESULTS: ReadonlySet<string> = new Set(['equal', 'greater', 'less', 'not_equal']);
const WATCH_FILTERS: ReadonlySet<string> = new Set(['noput', 'nodelete']);

function invalid(message: string): never {
  throw new KvError('INVALID', message);
}

function checkObject(x: unknown, field: string): void {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) invalid(`${field} must be an object`);
}

function checkKey(x: unknown, field: string): void {
  if (!(x instanceof Uint8Array)) invalid(`${field} must be bytes`);
  if (x.length === 0) invalid(`${field} must not be empty`);
}

function checkOptBytes(x: unknown, field: string): void {
  if (x != null && !(x instanceof Uint8Array)) invalid(`${field} must be bytes`);
}

function checkOptInt(x: unknown, field: string, min: number): void {
  if (x == null) return;
  if (typeof x !== 'number' || !Number.isSafeInteger(x)) invalid(`${field} must be an integer`);
  if (x < min) invalid(`${field} must be >= ${min}`);
}

function checkOptBool(x: unknown, field: string): void {
  if (x != null && typeof x !== 'boolean') invalid(`${field} must be a boolean`);
}

function checkOptEnum(x: unknown, allowed: ReadonlySet<string>, field: string): void {
  if (x == null) return;
  if (typeof x !== 'string' || !allowed.has(x)) invalid(`${field} must be one of ${[...allowed].join(', ')}`);
}

function checkArray(x: unknown, field: string): readonly unknown[] {
  if (x == null) return [];
  if (!Array.isArray(x)) invalid(`${field} must be an array`);
  return x;
}

export function validateCommand(cmd: KvCommand): void {
  checkObject(cmd, 'command');
  const c = cmd as { op?: unknown; req?: unknown };
  checkObject(c.req, 'req');
  switch (c.op) {
    case 'put':
      validatePut(c.req as PutRequest, 'put');
      return;
    case 'deleteRange':
      validateDeleteRange(c.req as DeleteRangeRequest, 'deleteRange');
      return;
    case 'txn':
      validateTxn(c.req as TxnRequest, 'txn', 0);
      return;
    case 'compact': {
      const r = c.req as { revision?: unknown };
      if (r.revision == null) invalid('compact.revision is required');
      checkOptInt(r.revision, 'compact.revision', 0);
      return;
    }
    case 'leaseGrant': {
      const r = c.req as { TTL?: unknown; ID?: unknown };
      if (r.TTL == null) invalid('leaseGrant.TTL is required');
      checkOptInt(r.TTL, 'leaseGrant.TTL', 1);
      checkOptInt(r.ID, 'leaseGrant.ID', 0);
      return;
    }
    case 'leaseRevoke': {
      const r = c.req as { ID?: unknown };
      if (r.ID == null) invalid('leaseRevoke.ID is required');
      checkOptInt(r.ID, 'leaseRevoke.ID', 1);
      return;
    }
    default:
      invalid(`unknown command op ${JSON.stringify(c.op)}`);
  }
}

export function validateRange(r: RangeRequest, field: string): void {
  checkObject(r, field);
  checkKey(r.key, `${field}.key`);
  checkOptBytes(r.rangeEnd, `${field}.rangeEnd`);
  checkOptInt(r.limit, `${field}.limit`, 0);
  checkOptInt(r.revision, `${field}.revision`, 0);
  checkOptEnum(r.sortOrder, SORT_ORDERS, `${field}.sortOrder`);
  checkOptEnum(r.sortTarget, SORT_TARGETS, `${field}.sortTarget`);
  checkOptBool(r.keysOnly, `${field}.keysOnly`);
  checkOptBool(r.countOnly, `${field}.countOnly`);
  checkOptInt(r.minModRevision, `${field}.minModRevision`, 0);
  checkOptInt(r.maxModRevision, `${field}.maxModRevision`, 0);
  checkOptInt(r.minCreateRevision, `${field}.minCreateRevision`, 0);
  checkOptInt(r.maxCreateRevision, `${field}.maxCreateRevision`, 0);
}

function validatePut(r: PutRequest, field: string): void {
  checkObject(r, field);
  checkKey(r.key, `${field}.key`);
  checkOptInt(r.lease, `${field}.lease`, 0);
  checkOptBool(r.prevKv, `${field}.prevKv`);
  checkOptBool(r.ignoreValue, `${field}.ignoreValue`);
  checkOptBool(r.ignoreLease, `${field}.ignoreLease`);
  if (r.ignoreValue) {
    checkOptBytes(r.value, `${field}.value`);
    if (r.value != null && r.value.length > 0) invalid(`${field}.value must be empty when ignoreValue is set`);
  } else if (!(r.value instanceof Uint8Array)) {
    invalid(`${field}.value must be bytes`);
  }
  if (r.ignoreLease && (r.lease ?? 0) !== 0) invalid(`${field}.lease must be 0 when ignoreLease is set`);
}

function validateDeleteRange(r: DeleteRangeRequest, field: string): void {
  checkObject(r, field);
  checkKey(r.key, `${field}.key`);
  checkOptBytes(r.rangeEnd, `${field}.rangeEnd`);
  checkOptBool(r.prevKv, `${field}.prevKv`);
}

function validateCompare(c: Compare, field: string): void {
  checkObject(c, field);
  checkKey(c.key, `${field}.key`);
  checkOptBytes(c.rangeEnd, `${field}.rangeEnd`);
  if (c.target == null) invalid(`${field}.target is required`);
  checkOptEnum(c.target, COMPARE_TARGETS, `${field}.target`);
  if (c.result == null) invalid(`${field}.result is required`);
  checkOptEnum(c.result, COMPARE_RESULTS, `${field}.result`);
  checkOptInt(c.version, `${field}.version`, 0);
  checkOptInt(c.createRevision, `${field}.createRevision`, 0);
  checkOptInt(c.modRevision, `${field}.modRevision`, 0);
  checkOptInt(c.lease, `${field}.lease`, 0);
  checkOptBytes(c.value, `${field}.value`);
}

/** The kind of a RequestOp, after checking that exactly one member is set. */
export type OpKind = 'range' | 'put' | 'deleteRange' | 'txn';

export function opKind(op: RequestOp): OpKind {
  const o = op as { requestRange?: unknown; requestPut?: unknown; requestDeleteRange?: unknown; requestTxn?: unknown };
  if (o.requestRange != null) return 'range';
  if (o.requestPut != null) return 'put';
  if (o.requestDeleteRange != null) return 'deleteRange';
  return 'txn';
}

function validateOp(op: RequestOp, field: string, depth: number): void {
  checkObject(op, field);
  const o = op as { requestRange?: unknown; requestPut?: unknown; requestDeleteRange?: unknown; requestTxn?: unknown };
  const set = [o.requestRange, o.requestPut, o.requestDeleteRange, o.requestTxn].filter((x) => x != null).length;
  if (set !== 1) invalid(`${field} must set exactly one of requestRange, requestPut, requestDeleteRange, requestTxn`);
  if (o.requestRange != null) validateRange(o.requestRange as RangeRequest, `${field}.requestRange`);
  else if (o.requestPut != null) validatePut(o.requestPut as PutRequest, `${field}.requestPut`);
  else if (o.requestDeleteRange != null) validateDeleteRange(o.requestDeleteRange as DeleteRangeRequest, `${field}.requestDeleteRange`);
  else validateTxn(o.requestTxn as TxnRequest, `${field}.requestTxn`, depth + 1);
}

function validateTxn(t: TxnRequest, field: string, depth: number): void {
  checkObject(t, field);
  if (depth >= MAX_TXN_DEPTH) invalid(`${field}: transactions nested deeper than ${MAX_TXN_DEPTH}`);
  const compare = checkArray(t.compare, `${field}.compare`);
  const success = checkArray(t.success, `${field}.success`);
  const failure = checkArray(t.failure, `${field}.failure`);
  for (const [name, list] of [['compare', compare], ['success', success], ['failure', failure]] as const) {
    if (list.length > MAX_TXN_OPS) {
      throw new KvError('TOO_MANY_OPS', `${field}.${name} has ${list.length} entries; the limit is ${MAX_TXN_OPS}`);
    }
  }
  compare.forEach((c, i) => validateCompare(c as Compare, `${field}.compare[${i}]`));
  success.forEach((op, i) => validateOp(op as RequestOp, `${field}.success[${i}]`, depth));
  failure.forEach((op, i) => validateOp(op as RequestOp, `${field}.failure[${i}]`, depth));
  // Only top-level calls check key conflicts: branchWrites recurses into nested txns itself.
  if (depth === 0) {
    branchWrites(success as RequestOp[], `${field}.success`);
    branchWrites(failure as RequestOp[], `${field}.failure`);
  }
}

interface Interval {
  readonly start: string;
  /** Exclusive; undefined: unbounded. */
  readonly end: string | undefined;
  readonly key: Uint8Array;
}

interface Writes {
  /** Keys a branch may put (for a nested txn: the union of both branches). */
  readonly puts: Map<string, Uint8Array>;
  readonly dels: Interval[];
}

function delInterval(r: DeleteRangeRequest): Interval {
  const start = keyId(r.key);
  const re = r.rangeEnd;
  if (re == null || re.length === 0) return { start, end: start + '\0', key: r.key };
  if (re.length === 1 && re[0] === 0) return { start, end: undefined, key: r.key };
  return { start, end: keyId(re), key: r.key };
}

function inInterval(iv: Interval, id: string): boolean {
  return id >= iv.start && (iv.end === undefined || id < iv.end);
}

/**
 * etcd's duplicate-key rule (checkIntervals): within one branch no key may be put twice, and no
 * key may be both put and deleted, counting the writes of nested transactions. A nested txn's
 * success and failure branches never both run, so they may touch the same keys.
 *
 * Stricter than etcd in one corner: etcd does not compare a nested txn's puts with the deletes of
 * a *later* sibling txn. Checking that too guarantees each key changes at most once per revision,
 * which the event log and the per-key history rely on.
 */
function branchWrites(ops: readonly RequestOp[], field: string): Writes {
  const sources: Writes[] = [];
  const own: Writes = { puts: new Map(), dels: [] };
  sources.push(own);
  for (const op of ops) {
    switch (opKind(op)) {
      case 'put': {
        const key = (op as { requestPut: PutRequest }).requestPut.key;
        const id = keyId(key);
        if (own.puts.has(id)) invalid(`${field}: key ${showKey(key)} is put more than once in one branch`);
        own.puts.set(id, key);
        break;
      }
      case 'deleteRange':
        own.dels.push(delInterval((op as { requestDeleteRange: DeleteRangeRequest }).requestDeleteRange));
        break;
      case 'txn': {
        const t = (op as { requestTxn: TxnRequest }).requestTxn;
        const a = branchWrites(t.success ?? [], field);
        const b = branchWrites(t.failure ?? [], field);
        const puts = new Map(a.puts);
        for (const [id, key] of b.puts) puts.set(id, key);
        sources.push({ puts, dels: a.dels.concat(b.dels) });
        break;
      }
      case 'range':
        break;
    }
  }
  const allPuts = new Map<string, { key: Uint8Array; src: number }>();
  sources.forEach((s, src) => {
    for (const [id, key] of s.puts) {
      if (allPuts.has(id)) invalid(`${field}: key ${showKey(key)} is put more than once in one branch`);
      allPuts.set(id, { key, src });
    }
  });
  const dels: Interval[] = [];
  sources.forEach((s, src) => {
    for (const iv of s.dels) {
      for (const [id, p] of allPuts) {
        // A nested txn's own put/delete overlap was checked per branch by the recursive call.
        if ((p.src !== src || src === 0) && inInterval(iv, id)) {
          invalid(`${field}: key ${showKey(p.key)} is both put and deleted in one branch`);
        }
      }
      dels.push(iv);
    }
  });
  const puts = new Map<string, Uint8Array>();
  for (const [id, p] of allPuts) puts.set(id, p.key);
  return { puts, dels };
}

export function validateWatch(r: WatchRequest): void {
  checkObject(r, 'watch');
  checkKey(r.key, 'watch.key');
  checkOptBytes(r.rangeEnd, 'watch.rangeEnd');
  checkOptInt(r.startRevision, 'watch.startRevision', 0);
  checkOptBool(r.prevKv, 'watch.prevKv');
  checkArray(r.filters, 'watch.filters').forEach((f, i) => checkOptEnum(f, WATCH_FILTERS, `watch.filters[${i}]`));
}
