/**
 * The MVCC key-value state machine: etcd's mvcc store and applier in one synchronous object.
 * The Raft host applies committed commands with `apply` in log order on every replica; the
 * resulting state, and so `snapshot()`, is a function of that sequence alone. See DESIGN.md.
 *
 * Pure by contract: no clock, randomness, I/O, timers or async in this folder.
 */
import type { KeyRange } from './keys.js';
import { compareLatin1, EMPTY_BYTES, inRange, keyId, keyRange, latin1Bytes, latin1Of, showKey } from './keys.js';
import { KeyIndex } from './keyindex.js';
import type { Change, KeyRecord, StoredKv } from './record.js';
import { indexAt, liveKv, previousOf, tombstone, toKeyValue, versionAt } from './record.js';
import { corrupt, encodeSnapshot, SnapshotReader, type SnapshotSource } from './snapshot.js';
import type {
  CompactionRequest,
  CompactionResponse,
  Compare,
  DeleteRangeRequest,
  DeleteRangeResponse,
  KeyValue,
  KvCommand,
  KvCommandResult,
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseInfo,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseHeader,
  ResponseOp,
  SortTarget,
  TxnRequest,
  TxnResponse,
  WatchEvent,
  WatchRequest,
} from './types.js';
import { KvError } from './types.js';
import { opKind, validateCommand, validateRange, validateWatch } from './validate.js';
import type { OnEvents, Watcher } from './watch.js';
import { makeEvent, wants, WatchHub } from './watch.js';

export { prefixEnd } from './keys.js';

export interface WatchHandle {
  readonly id: number;
  /** Stops delivery; idempotent. Safe to call from inside any watch callback. */
  cancel(): void;
}

/** Rough per-version cost beyond key and value bytes, for sizeBytes(). */
const VERSION_OVERHEAD = 48;
const LEASE_OVERHEAD = 32;

/** Read position of a range inside a txn with revision 0: sees the txn's own earlier writes. */
const LATEST = Number.POSITIVE_INFINITY;

interface Lease {
  readonly id: number;
  /** Seconds. */
  readonly ttl: number;
  /** Invariant: exactly the records whose live version has lease === id. */
  readonly keys: Set<KeyRecord>;
}

/** The writes of one command, all at revision `rev`; committed (or dropped when empty) at the end. */
interface WriteCtx {
  readonly rev: number;
  readonly changes: Change[];
}

type TxnCursor = { i: number };

export class KvStore {
  /** etcd's initial revision: the first write makes it 2. */
  private rev = 1;
  private compactRev = 0;
  /** Every key with a retained version, live or tombstoned, by latin1 id. */
  private readonly records = new Map<string, KeyRecord>();
  /** The same records in key order. */
  private readonly index = new KeyIndex<KeyRecord>();
  /** Records compaction could shrink (more than one version, or a tombstone), so compaction does
   *  not have to visit the many keys written once. */
  private readonly compactable = new Set<KeyRecord>();
  /** Every change after compactRev in revision then execution order: logKvs[i] is a version of
   *  logRecs[i]. Serves watch replay and the snapshot. */
  private logKvs: StoredKv[] = [];
  private logRecs: KeyRecord[] = [];
  private readonly leaseMap = new Map<number, Lease>();
  /** Highest lease ID ever granted: automatic IDs are never reused, so a client holding a revoked
   *  lease's ID cannot end up keeping someone else's lease alive. */
  private lastLeaseId = 0;
  private bytes = 0;
  private readonly hub = new WatchHub();
  /** Set while apply or a watch replay runs, to refuse re-entrant apply from a watch callback
   *  (it would interleave revisions in delivery). */
  private busy = false;

  /** Current revision: 1 for an empty store; each mutating command adds exactly one. */
  get revision(): number {
    return this.rev;
  }

  /** 0 until the first compaction. */
  get compactRevision(): number {
    return this.compactRev;
  }

  /** Number of registered watches (for metrics). */
  get watchCount(): number {
    return this.hub.size;
  }

  /**
   * Called when a watch callback throws. The watch is cancelled first: a consumer that failed
   * mid-stream must not continue with a gap. The exception is not rethrown, so one consumer
   * cannot stop the apply loop.
   */
  set onWatchError(fn: ((watchId: number, err: unknown) => void) | undefined) {
    this.hub.onError = fn;
  }

  get onWatchError(): ((watchId: number, err: unknown) => void) | undefined {
    return this.hub.onError;
  }

  static validate(cmd: KvCommand): void {
    validateCommand(cmd);
  }

  apply(cmd: KvCommand): KvCommandResult | KvError {
    if (this.busy) throw new Error('KvStore.apply called re-entrantly (from a watch callback)');
    try {
      validateCommand(cmd);
    } catch (err) {
      if (err instanceof KvError) return err;
      throw err;
    }
    this.busy = true;
    try {
      switch (cmd.op) {
        case 'put':
          return this.applyPut(cmd.req);
        case 'deleteRange':
          return this.applyDeleteRange(cmd.req);
        case 'txn':
          return this.applyTxn(cmd.req);
        case 'compact':
          return this.applyCompact(cmd.req);
        case 'leaseGrant':
          return this.applyLeaseGrant(cmd.req);
        case 'leaseRevoke':
          return this.applyLeaseRevoke(cmd.req);
        default:
          return assertNever(cmd);
      }
    } finally {
      this.busy = false;
    }
  }

  // ---- writes ---------------------------------------------------------------------------------

  private begin(): WriteCtx {
    return { rev: this.rev + 1, changes: [] };
  }

  /** Makes a command's writes current and tells the watchers. A command that changed nothing
   *  leaves the revision alone, as etcd does. */
  private commit(ctx: WriteCtx): void {
    if (ctx.changes.length === 0) return;
    this.rev = ctx.rev;
    for (const c of ctx.changes) {
      this.logKvs.push(c.kv);
      this.logRecs.push(c.rec);
    }
    this.hub.deliver(ctx.rev, ctx.changes);
  }

  private addVersion(rec: KeyRecord, kv: StoredKv): void {
    rec.history.push(kv);
    this.countVersion(rec, kv);
  }

  /** A record whose first version is `kv`. Its history is created holding it: an empty array that
   *  grows by push reserves room for 16 versions, about 130 bytes per key that most keys (written
   *  once between compactions) never use. */
  private newRecord(id: string, kv: StoredKv): KeyRecord {
    const rec: KeyRecord = { id, history: [kv] };
    this.countVersion(rec, kv);
    return rec;
  }

  private countVersion(rec: KeyRecord, kv: StoredKv): void {
    this.bytes += VERSION_OVERHEAD + rec.id.length + kv.value.length;
    if (kv.version === 0 || rec.history.length > 1) this.compactable.add(rec);
  }

  /** State checks for a put; shared by plain puts and the txn pre-check, both run before any write. */
  private checkPut(req: PutRequest): KvError | undefined {
    if (req.ignoreValue || req.ignoreLease) {
      const rec = this.records.get(keyId(req.key));
      if (rec === undefined || liveKv(rec) === undefined) {
        return new KvError('KEY_NOT_FOUND', `put: key ${showKey(req.key)} does not exist (ignoreValue/ignoreLease need one)`);
      }
    }
    const lease = req.lease ?? 0;
    if (lease !== 0 && !this.leaseMap.has(lease)) return new KvError('LEASE_NOT_FOUND', `put: lease ${lease} not found`);
    return undefined;
  }

  private applyPut(req: PutRequest): PutResponse | KvError {
    const err = this.checkPut(req);
    if (err) return err;
    const ctx = this.begin();
    const header = { revision: 0 };
    const resp = this.put(req, ctx, header);
    this.commit(ctx);
    header.revision = this.rev;
    return resp;
  }

  /** Precondition: checkPut passed. */
  private put(req: PutRequest, ctx: WriteCtx, header: ResponseHeader): PutResponse {
    const id = keyId(req.key);
    let rec = this.records.get(id);
    const prev = rec === undefined ? undefined : liveKv(rec);
    if ((req.ignoreValue || req.ignoreLease) && prev === undefined) throw new Error('put: ignore* on a missing key passed the check');
    const lease = req.ignoreLease ? prev!.lease : (req.lease ?? 0);
    const kv: StoredKv = Object.freeze({
      createRevision: prev === undefined ? ctx.rev : prev.createRevision,
      modRevision: ctx.rev,
      version: prev === undefined ? 1 : prev.version + 1,
      value: req.ignoreValue ? prev!.value : latin1Of(req.value),
      lease,
    });
    if (rec === undefined) {
      rec = this.newRecord(id, kv);
      this.records.set(id, rec);
      this.index.insert(rec);
    } else {
      this.addVersion(rec, kv);
    }
    ctx.changes.push({ rec, kv, prev });
    const oldLease = prev === undefined ? 0 : prev.lease;
    if (oldLease !== lease) {
      if (oldLease !== 0) this.leaseMap.get(oldLease)?.keys.delete(rec);
      if (lease !== 0) this.leaseMap.get(lease)!.keys.add(rec);
    }
    return req.prevKv && prev !== undefined ? { header, prevKv: toKeyValue(id, prev) } : { header };
  }

  /** Tombstones a live key; returns the version it replaced. */
  private deleteKey(rec: KeyRecord, ctx: WriteCtx): StoredKv {
    const prev = liveKv(rec)!;
    const kv = tombstone(ctx.rev);
    this.addVersion(rec, kv);
    ctx.changes.push({ rec, kv, prev });
    if (prev.lease !== 0) this.leaseMap.get(prev.lease)?.keys.delete(rec);
    return prev;
  }

  private applyDeleteRange(req: DeleteRangeRequest): DeleteRangeResponse {
    const ctx = this.begin();
    const header = { revision: 0 };
    const resp = this.deleteRange(req, ctx, header);
    this.commit(ctx);
    header.revision = this.rev;
    return resp;
  }

  private deleteRange(req: DeleteRangeRequest, ctx: WriteCtx, header: ResponseHeader): DeleteRangeResponse {
    const victims: KeyRecord[] = [];
    this.scan(keyRange(req.key, req.rangeEnd), (rec) => {
      if (liveKv(rec) !== undefined) victims.push(rec);
    });
    const prevKvs: KeyValue[] = [];
    for (const rec of victims) {
      const prev = this.deleteKey(rec, ctx);
      if (req.prevKv) prevKvs.push(toKeyValue(rec.id, prev));
    }
    return { header, deleted: victims.length, prevKvs };
  }

  // ---- txn ------------------------------------------------------------------------------------

  /**
   * As etcd: every compare on the path, nested ones included, is evaluated against the state
   * before the txn, which fixes the path; the path's ops are then checked (read revisions,
   * leases, ignore* keys) so that a txn either fails without writing or runs to completion. Ops
   * run in order and see the writes of earlier ops; all writes share one new revision, and every
   * header in the response carries the txn's final revision.
   */
  private applyTxn(req: TxnRequest): TxnResponse | KvError {
    const path: boolean[] = [];
    this.choosePath(req, path);
    const err = this.checkPath(req, path, { i: 0 });
    if (err) return err;
    const ctx = this.begin();
    const headers: ResponseHeader[] = [];
    const resp = this.execTxn(req, path, { i: 0 }, ctx, headers);
    this.commit(ctx);
    for (const h of headers) h.revision = this.rev;
    return resp;
  }

  private choosePath(t: TxnRequest, path: boolean[]): void {
    const ok = (t.compare ?? []).every((c) => this.evalCompare(c));
    path.push(ok);
    for (const op of branch(t, ok)) {
      if (opKind(op) === 'txn') this.choosePath(asTxn(op), path);
    }
  }

  private checkPath(t: TxnRequest, path: readonly boolean[], cur: TxnCursor): KvError | undefined {
    const ok = path[cur.i++];
    for (const op of branch(t, ok)) {
      let err: KvError | undefined;
      switch (opKind(op)) {
        case 'range':
          err = this.checkReadRevision(asRange(op).revision ?? 0);
          break;
        case 'put':
          err = this.checkPut(asPut(op));
          break;
        case 'deleteRange':
          break;
        case 'txn':
          err = this.checkPath(asTxn(op), path, cur);
          break;
      }
      if (err) return err;
    }
    return undefined;
  }

  private execTxn(t: TxnRequest, path: readonly boolean[], cur: TxnCursor, ctx: WriteCtx, headers: ResponseHeader[]): TxnResponse {
    const ok = path[cur.i++];
    const header = { revision: 0 };
    headers.push(header);
    const responses: ResponseOp[] = [];
    for (const op of branch(t, ok)) {
      const h = { revision: 0 };
      switch (opKind(op)) {
        case 'range': {
          headers.push(h);
          const r = asRange(op);
          const rev = r.revision ?? 0;
          responses.push({ responseRange: this.readRange(r, rev === 0 ? LATEST : rev, h) });
          break;
        }
        case 'put':
          headers.push(h);
          responses.push({ responsePut: this.put(asPut(op), ctx, h) });
          break;
        case 'deleteRange':
          headers.push(h);
          responses.push({ responseDeleteRange: this.deleteRange(asDelete(op), ctx, h) });
          break;
        case 'txn':
          responses.push({ responseTxn: this.execTxn(asTxn(op), path, cur, ctx, headers) });
          break;
      }
    }
    return { header, succeeded: ok, responses };
  }

  /** etcd's applyCompare: every existing key in the range must satisfy it; with none, a missing
   *  key's zero fields are compared, except that a value comparison then always fails. */
  private evalCompare(c: Compare): boolean {
    let any = false;
    let ok = true;
    this.scan(keyRange(c.key, c.rangeEnd), (rec) => {
      const kv = liveKv(rec);
      if (kv === undefined) return false;
      any = true;
      if (!compareKv(c, kv)) {
        ok = false;
        return true;
      }
      return false;
    });
    if (!any) return c.target === 'value' ? false : compareKv(c, undefined);
    return ok;
  }

  // ---- compaction and leases ------------------------------------------------------------------

  /** Keeps, per key, the version visible at `revision` (dropping it if it is a tombstone) and
   *  everything newer. Does not change the revision. */
  private applyCompact(req: CompactionRequest): CompactionResponse | KvError {
    const rev = req.revision;
    if (rev <= this.compactRev) {
      return new KvError('COMPACTED', `compact: revision ${rev} is already compacted (compact revision ${this.compactRev})`, this.compactRev);
    }
    if (rev > this.rev) return new KvError('FUTURE_REV', `compact: revision ${rev} is newer than the current revision ${this.rev}`);
    this.compactRev = rev;
    for (const rec of this.compactable) {
      const h = rec.history;
      const i = indexAt(h, rev);
      if (i < 0) continue;
      const drop = h[i].version === 0 ? i + 1 : i;
      if (drop === 0) continue;
      for (let j = 0; j < drop; j++) this.bytes -= VERSION_OVERHEAD + rec.id.length + h[j].value.length;
      h.splice(0, drop);
      if (h.length === 0) {
        this.records.delete(rec.id);
        this.index.remove(rec.id);
        this.compactable.delete(rec);
      } else if (h.length === 1 && h[0].version !== 0) {
        this.compactable.delete(rec);
      }
    }
    const n = firstAfter(this.logKvs, rev);
    this.logKvs.splice(0, n);
    this.logRecs.splice(0, n);
    return { header: { revision: this.rev } };
  }

  /** Does not change the revision (as etcd: leases live outside the MVCC keyspace). */
  private applyLeaseGrant(req: LeaseGrantRequest): LeaseGrantResponse | KvError {
    let id = req.ID ?? 0;
    if (id === 0) {
      if (this.lastLeaseId >= Number.MAX_SAFE_INTEGER) return new KvError('INVALID', 'leaseGrant: no automatic lease ID left; pass an explicit ID');
      id = this.lastLeaseId + 1;
    } else if (this.leaseMap.has(id)) {
      return new KvError('LEASE_EXISTS', `leaseGrant: lease ${id} already exists`);
    }
    this.leaseMap.set(id, { id, ttl: req.TTL, keys: new Set() });
    this.bytes += LEASE_OVERHEAD;
    if (id > this.lastLeaseId) this.lastLeaseId = id;
    return { header: { revision: this.rev }, ID: id, TTL: req.TTL };
  }

  /** Deletes the lease's keys in one revision (none if it has no keys). */
  private applyLeaseRevoke(req: LeaseRevokeRequest): LeaseRevokeResponse | KvError {
    const lease = this.leaseMap.get(req.ID);
    if (lease === undefined) return new KvError('LEASE_NOT_FOUND', `leaseRevoke: lease ${req.ID} not found`);
    // Key order fixes the order of the DELETE events within the revision.
    const recs = [...lease.keys].sort(byId);
    const ctx = this.begin();
    for (const rec of recs) this.deleteKey(rec, ctx);
    this.leaseMap.delete(req.ID);
    this.bytes -= LEASE_OVERHEAD;
    this.commit(ctx);
    return { header: { revision: this.rev } };
  }

  leases(): LeaseInfo[] {
    return [...this.leaseMap.keys()].sort((a, b) => a - b).map((id) => leaseInfo(this.leaseMap.get(id)!));
  }

  lease(id: number): LeaseInfo | undefined {
    const l = this.leaseMap.get(id);
    return l === undefined ? undefined : leaseInfo(l);
  }

  // ---- reads ----------------------------------------------------------------------------------

  /** Serves a read at `req.revision` (0: current). The KeyValues returned are the caller's own. */
  range(req: RangeRequest): RangeResponse {
    validateRange(req, 'range');
    const rev = req.revision ?? 0;
    const err = this.checkReadRevision(rev);
    if (err) throw err;
    return this.readRange(req, rev === 0 ? this.rev : rev, { revision: this.rev });
  }

  private checkReadRevision(rev: number): KvError | undefined {
    if (rev > 0 && rev < this.compactRev) {
      return new KvError('COMPACTED', `revision ${rev} has been compacted (compact revision ${this.compactRev})`, this.compactRev);
    }
    if (rev > this.rev) return new KvError('FUTURE_REV', `revision ${rev} is newer than the current revision ${this.rev}`);
    return undefined;
  }

  /**
   * etcd's range semantics: `count` is the number of keys in the range at that revision, before
   * limit and before the min/max revision filters; `more` says the limit cut the (filtered,
   * sorted) result. Sorting by anything but the key is ascending unless asked otherwise; ties keep
   * key order.
   */
  private readRange(req: RangeRequest, atRev: number, header: ResponseHeader): RangeResponse {
    const target = req.sortTarget ?? 'key';
    let order = req.sortOrder ?? 'none';
    if (order === 'none' && target !== 'key') order = 'ascend';
    else if (order === 'ascend' && target === 'key') order = 'none';
    const limit = req.limit ?? 0;
    const minMod = req.minModRevision ?? 0;
    const maxMod = req.maxModRevision ?? 0;
    const minCreate = req.minCreateRevision ?? 0;
    const maxCreate = req.maxCreateRevision ?? 0;
    const filtered = minMod > 0 || maxMod > 0 || minCreate > 0 || maxCreate > 0;
    const countOnly = req.countOnly === true;
    // Without sorting or filters, the first `limit` keys in key order are the answer.
    const collectAll = order !== 'none' || filtered;
    let count = 0;
    const ids: string[] = [];
    const kvs: StoredKv[] = [];
    this.scan(keyRange(req.key, req.rangeEnd), (rec) => {
      const kv = versionAt(rec, atRev);
      if (kv === undefined) return;
      count++;
      if (countOnly || (!collectAll && limit > 0 && kvs.length >= limit)) return;
      if (
        filtered &&
        ((minMod > 0 && kv.modRevision < minMod) ||
          (maxMod > 0 && kv.modRevision > maxMod) ||
          (minCreate > 0 && kv.createRevision < minCreate) ||
          (maxCreate > 0 && kv.createRevision > maxCreate))
      ) {
        return;
      }
      ids.push(rec.id);
      kvs.push(kv);
    });
    let more = false;
    // Sorted results are listed through indices into ids/kvs; unsorted ones are in key order.
    const sorted = order !== 'none' && !countOnly ? sortedIndices(kvs, target, order === 'descend') : undefined;
    let n = kvs.length;
    if (!countOnly && limit > 0) {
      if (!collectAll) more = count > limit;
      else if (n > limit) {
        n = limit;
        more = true;
      }
    }
    const keysOnly = req.keysOnly === true;
    const out: KeyValue[] = new Array<KeyValue>(n);
    for (let i = 0; i < n; i++) {
      const j = sorted === undefined ? i : sorted[i];
      out[i] = toKeyValue(ids[j], kvs[j], keysOnly);
    }
    return { header, kvs: out, more, count };
  }

  private scan(r: KeyRange, fn: (rec: KeyRecord) => boolean | void): void {
    if (r.single) {
      const rec = this.records.get(r.start);
      if (rec !== undefined) fn(rec);
      return;
    }
    if (r.end !== undefined && r.end <= r.start) return;
    this.index.forEach(r.start, r.end, fn);
  }

  // ---- watches --------------------------------------------------------------------------------

  /**
   * Registers a watch. With a startRevision at or below the current revision, the history from it
   * is replayed synchronously, before this returns (so the callback cannot use the handle during
   * the replay); a callback that throws during the replay propagates out of watch() and the watch
   * is not registered. Live events are delivered from inside apply(), after the state change.
   */
  watch(req: WatchRequest, onEvents: OnEvents): WatchHandle | KvError {
    try {
      validateWatch(req);
    } catch (err) {
      if (err instanceof KvError) return err;
      throw err;
    }
    const start = req.startRevision ?? 0;
    if (start > 0 && start <= this.compactRev) {
      return new KvError('COMPACTED', `watch: revision ${start} has been compacted (compact revision ${this.compactRev})`, this.compactRev);
    }
    const filters = req.filters ?? [];
    const w: Watcher = {
      id: this.hub.newId(),
      range: keyRange(req.key, req.rangeEnd),
      prevKv: req.prevKv === true,
      noPut: filters.includes('noput'),
      noDelete: filters.includes('nodelete'),
      onEvents,
      minRev: 0,
      cancelled: false,
    };
    if (start > 0 && start <= this.rev) this.replay(w, start);
    w.minRev = start > this.rev ? start : this.rev + 1;
    this.hub.add(w);
    return { id: w.id, cancel: () => this.hub.remove(w) };
  }

  private replay(w: Watcher, start: number): void {
    const wasBusy = this.busy;
    this.busy = true;
    try {
      const kvs = this.logKvs;
      const recs = this.logRecs;
      let i = firstAfter(kvs, start - 1);
      while (i < kvs.length) {
        const rev = kvs[i].modRevision;
        const events: WatchEvent[] = [];
        for (; i < kvs.length && kvs[i].modRevision === rev; i++) {
          const kv = kvs[i];
          const rec = recs[i];
          if (!inRange(w.range, rec.id) || !wants(w, kv)) continue;
          events.push(makeEvent(rec.id, kv, w.prevKv ? previousOf(rec, kv) : undefined, w.prevKv));
        }
        if (events.length > 0) w.onEvents(events, rev);
      }
    } finally {
      this.busy = wasBusy;
    }
  }

  // ---- snapshots ------------------------------------------------------------------------------

  snapshot(): Uint8Array {
    return encodeSnapshot(this.snapshotSource());
  }

  /**
   * The state as of now, for encodeSnapshotInSlices: the change log is copied (references only),
   * because compaction edits it in place. Everything it refers to is immutable.
   */
  snapshotSource(): SnapshotSource {
    const leases: number[] = [];
    for (const id of [...this.leaseMap.keys()].sort((a, b) => a - b)) leases.push(id, this.leaseMap.get(id)!.ttl);
    const base = { ids: [] as string[], kvs: [] as StoredKv[] };
    const compactRev = this.compactRev;
    if (compactRev > 0) {
      this.index.forEach('', undefined, (rec) => {
        const kv = rec.history[0];
        if (kv.modRevision <= compactRev) {
          base.ids.push(rec.id);
          base.kvs.push(kv);
        }
      });
    }
    const log = { ids: this.logRecs.map((r) => r.id), kvs: this.logKvs.slice() };
    return { header: { revision: this.rev, compactRevision: compactRev, lastLeaseId: this.lastLeaseId, leases }, base, log };
  }

  /** Rebuilds a store from snapshot(); throws (a plain Error) on a corrupt snapshot. */
  static restore(data: Uint8Array): KvStore {
    const r = new SnapshotReader(data);
    const h = r.header();
    const s = new KvStore();
    s.rev = h.revision;
    s.compactRev = h.compactRevision;
    s.lastLeaseId = h.lastLeaseId;
    if (s.compactRev > s.rev) corrupt('compactRevision > revision');
    for (let i = 0; i < h.leases.length; i += 2) {
      const id = h.leases[i];
      const ttl = h.leases[i + 1];
      if (id <= 0 || ttl <= 0 || id > s.lastLeaseId || s.leaseMap.has(id)) corrupt(`bad lease ${id}`);
      s.leaseMap.set(id, { id, ttl, keys: new Set() });
      s.bytes += LEASE_OVERHEAD;
    }
    const next = (): [KeyRecord, StoredKv] => {
      const id = r.keyId();
      let rec = s.records.get(id);
      const kv = r.kvBody();
      const last = rec?.history[rec.history.length - 1];
      if (last !== undefined && last.modRevision >= kv.modRevision) corrupt(`versions of ${showKey(latin1Bytes(id))} out of order`);
      if (kv.modRevision > s.rev) corrupt(`version of ${showKey(latin1Bytes(id))} newer than the revision`);
      if (kv.version === 0 && (kv.createRevision !== 0 || kv.lease !== 0 || kv.value.length !== 0)) corrupt('bad tombstone');
      if (rec === undefined) {
        rec = s.newRecord(id, kv);
        s.records.set(id, rec);
      } else {
        s.addVersion(rec, kv);
      }
      return [rec, kv];
    };
    const nBase = r.uvarint();
    for (let i = 0; i < nBase; i++) {
      const [, kv] = next();
      if (kv.modRevision > s.compactRev || kv.version === 0) corrupt('bad base version');
    }
    const nLog = r.uvarint();
    let lastRev = s.compactRev;
    for (let i = 0; i < nLog; i++) {
      const [rec, kv] = next();
      if (kv.modRevision <= s.compactRev || kv.modRevision < lastRev) corrupt('log out of order');
      lastRev = kv.modRevision;
      s.logKvs.push(kv);
      s.logRecs.push(rec);
    }
    if (!r.done) corrupt('trailing bytes');
    // The default sort compares UTF-16 code units, which for latin1 ids is byte order, and
    // avoids a JS comparator call per comparison.
    const recs = [...s.records.keys()].sort().map((id) => s.records.get(id)!);
    s.index.load(recs);
    for (const rec of recs) {
      const kv = liveKv(rec);
      if (kv === undefined || kv.lease === 0) continue;
      const lease = s.leaseMap.get(kv.lease);
      if (lease === undefined) corrupt(`key ${showKey(latin1Bytes(rec.id))} attached to missing lease ${kv.lease}`);
      lease.keys.add(rec);
    }
    return s;
  }

  /** Approximate bytes of retained versions and leases (not of JS object overhead). */
  sizeBytes(): number {
    return this.bytes;
  }
}

function assertNever(x: never): never {
  throw new Error(`unexpected command ${JSON.stringify(x)}`);
}

function byId(a: KeyRecord, b: KeyRecord): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Index of the first log entry with modRevision > rev. */
function firstAfter(kvs: readonly StoredKv[], rev: number): number {
  let lo = 0;
  let hi = kvs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (kvs[mid].modRevision <= rev) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function leaseInfo(l: Lease): LeaseInfo {
  return { ID: l.id, grantedTTL: l.ttl, keys: [...l.keys].sort(byId).map((r) => latin1Bytes(r.id)) };
}

function branch(t: TxnRequest, ok: boolean): readonly RequestOp[] {
  return (ok ? t.success : t.failure) ?? [];
}

function asRange(op: RequestOp): RangeRequest {
  return (op as { requestRange: RangeRequest }).requestRange;
}
function asPut(op: RequestOp): PutRequest {
  return (op as { requestPut: PutRequest }).requestPut;
}
function asDelete(op: RequestOp): DeleteRangeRequest {
  return (op as { requestDeleteRange: DeleteRangeRequest }).requestDeleteRange;
}
function asTxn(op: RequestOp): TxnRequest {
  return (op as { requestTxn: TxnRequest }).requestTxn;
}

function compareKv(c: Compare, kv: StoredKv | undefined): boolean {
  let r: number;
  switch (c.target) {
    case 'version':
      r = (kv?.version ?? 0) - (c.version ?? 0);
      break;
    case 'create':
      r = (kv?.createRevision ?? 0) - (c.createRevision ?? 0);
      break;
    case 'mod':
      r = (kv?.modRevision ?? 0) - (c.modRevision ?? 0);
      break;
    case 'lease':
      r = (kv?.lease ?? 0) - (c.lease ?? 0);
      break;
    case 'value':
      r = compareLatin1(kv?.value ?? '', latin1Of(c.value ?? EMPTY_BYTES));
      break;
  }
  switch (c.result) {
    case 'equal':
      return r === 0;
    case 'not_equal':
      return r !== 0;
    case 'greater':
      return r > 0;
    case 'less':
      return r < 0;
  }
}

/** The order of a range's results by `target` (ids and kvs arrive in ascending key order). */
function sortedIndices(kvs: readonly StoredKv[], target: SortTarget, descending: boolean): number[] {
  const idx = kvs.map((_, i) => i);
  if (target === 'key') {
    // Already ascending; only descending needs work.
    if (descending) idx.reverse();
    return idx;
  }
  const sign = descending ? -1 : 1;
  const field = (kv: StoredKv): number =>
    target === 'version' ? kv.version : target === 'create' ? kv.createRevision : kv.modRevision;
  // Array#sort is stable, so equal targets stay in key order.
  if (target === 'value') idx.sort((a, b) => sign * compareLatin1(kvs[a].value, kvs[b].value));
  else idx.sort((a, b) => sign * (field(kvs[a]) - field(kvs[b])));
  return idx;
}
