/**
 * Objects in raftkv. One key per object:
 *
 *   /registry/<resource>[.<group>]/<namespace>/<name>    namespaced kinds
 *   /registry/<resource>[.<group>]/<name>                cluster-scoped kinds
 *
 * The value is the object's JSON without metadata.resourceVersion: the resourceVersion *is* the
 * key's raftkv mod revision, filled in on every read, so it can never disagree with storage.
 * Creates, updates and deletes are raftkv transactions conditioned on that revision, which gives
 * optimistic concurrency across any number of apiserver replicas with no coordination between them.
 */
import type { KubeObject } from '@flotilla/api';
import { isObject } from '@flotilla/api';
import type { KeyValue, RaftKvClient, WatchEvent as KvWatchEvent, WatchHandle } from '@flotilla/raftkv/client';
import { isCompacted, prefixEnd } from '@flotilla/raftkv/client';

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface ResourceKeySpace {
  /** "pods" or "deployments.apps". */
  readonly qualified: string;
  readonly namespaced: boolean;
}

export function objectKey(r: ResourceKeySpace, namespace: string | undefined, name: string): string {
  return r.namespaced ? `/registry/${r.qualified}/${namespace ?? ''}/${name}` : `/registry/${r.qualified}/${name}`;
}

/** The prefix of every object of a resource, or of those in one namespace. */
export function listPrefix(r: ResourceKeySpace, namespace?: string): string {
  return r.namespaced && namespace !== undefined ? `/registry/${r.qualified}/${namespace}/` : `/registry/${r.qualified}/`;
}

export type WriteResult =
  | { ok: true; object: KubeObject }
  | { ok: false; reason: 'exists' | 'missing' | 'changed'; current?: KubeObject };

export interface ListResult {
  items: KubeObject[];
  /** The store revision the list reflects (its resourceVersion). */
  revision: number;
  /** Set when `limit` cut the list: the key to continue from. */
  nextKey?: string;
  remaining?: number;
}

export interface StoredEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
  /** The revision of this change (the object's resourceVersion, or the deletion's). */
  revision: number;
  /** For MODIFIED: the object before the change (watch filters send ADDED/DELETED on crossing). */
  previous?: KubeObject;
}

export class StoreCompactedError extends Error {
  readonly code = 'COMPACTED';
  constructor(readonly compactRevision: number | undefined) {
    super('the requested resourceVersion has been compacted');
    this.name = 'StoreCompactedError';
  }
}

export function decodeObject(kv: KeyValue): KubeObject {
  const parsed: unknown = JSON.parse(dec.decode(kv.value));
  if (!isObject(parsed) || !isObject(parsed.metadata)) throw new Error(`stored object at ${dec.decode(kv.key)} is not an object`);
  const obj = parsed as KubeObject;
  obj.metadata.resourceVersion = String(kv.modRevision);
  return obj;
}

function encodeObject(obj: KubeObject): Uint8Array {
  // resourceVersion is derived from the key's revision on read; storing it would only go stale.
  const { resourceVersion: _rv, ...meta } = obj.metadata;
  return enc.encode(JSON.stringify({ ...obj, metadata: meta }));
}

/** Told how long each storage call took (for the storage-latency histogram). */
export type StorageObserver = (operation: 'get' | 'list' | 'create' | 'update' | 'delete', key: string, seconds: number) => void;

export class Store {
  constructor(
    private readonly kv: RaftKvClient,
    private readonly observe: StorageObserver = () => undefined,
  ) {}

  private async timed<T>(operation: Parameters<StorageObserver>[0], key: string, run: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await run();
    } finally {
      this.observe(operation, key, (performance.now() - t0) / 1000);
    }
  }

  get(key: string): Promise<KubeObject | undefined> {
    return this.timed('get', key, async () => {
      const r = await this.kv.get(key);
      return r.kvs.length === 0 ? undefined : decodeObject(r.kvs[0]);
    });
  }

  /**
   * Objects under `prefix` in key order, at the current revision (or at `revision`), starting at
   * `fromKey` when continuing a paged list. Throws StoreCompactedError for a compacted revision.
   */
  list(prefix: string, opts: { limit?: number; fromKey?: string; revision?: number } = {}): Promise<ListResult> {
    return this.timed('list', prefix, () => this.listOnce(prefix, opts));
  }

  private async listOnce(prefix: string, opts: { limit?: number; fromKey?: string; revision?: number }): Promise<ListResult> {
    try {
      const r = await this.kv.get(opts.fromKey ?? prefix, { rangeEnd: prefixEnd(enc.encode(prefix)), limit: opts.limit, revision: opts.revision });
      const items = r.kvs.map(decodeObject);
      const res: ListResult = { items, revision: opts.revision ?? r.header.revision };
      if (r.more && r.kvs.length > 0) {
        res.nextKey = `${dec.decode(r.kvs[r.kvs.length - 1].key)}\0`;
        res.remaining = r.count - r.kvs.length;
      }
      return res;
    } catch (err) {
      if (isCompacted(err)) throw new StoreCompactedError((err as { compactRevision?: number }).compactRevision);
      throw err;
    }
  }

  /** Writes `obj` at `key` only if nothing is there. */
  create(key: string, obj: KubeObject): Promise<WriteResult> {
    return this.timed('create', key, () => this.createOnce(key, obj));
  }

  private async createOnce(key: string, obj: KubeObject): Promise<WriteResult> {
    const r = await this.kv.txn({
      compare: [{ target: 'create', result: 'equal', key: enc.encode(key), createRevision: 0 }],
      success: [{ requestPut: { key: enc.encode(key), value: encodeObject(obj) } }],
      failure: [{ requestRange: { key: enc.encode(key) } }],
    });
    if (!r.succeeded) return { ok: false, reason: 'exists', current: currentOf(r.responses) };
    return { ok: true, object: withRevision(obj, r.header.revision) };
  }

  /** Replaces the object at `key` only if its revision is still `expected`. */
  update(key: string, obj: KubeObject, expected: number): Promise<WriteResult> {
    return this.timed('update', key, () => this.updateOnce(key, obj, expected));
  }

  private async updateOnce(key: string, obj: KubeObject, expected: number): Promise<WriteResult> {
    const r = await this.kv.txn({
      compare: [{ target: 'mod', result: 'equal', key: enc.encode(key), modRevision: expected }],
      success: [{ requestPut: { key: enc.encode(key), value: encodeObject(obj) } }],
      failure: [{ requestRange: { key: enc.encode(key) } }],
    });
    if (!r.succeeded) {
      const current = currentOf(r.responses);
      return current ? { ok: false, reason: 'changed', current } : { ok: false, reason: 'missing' };
    }
    return { ok: true, object: withRevision(obj, r.header.revision) };
  }

  /** Deletes the object at `key` only if its revision is still `expected`. */
  delete(key: string, expected: number): Promise<WriteResult> {
    return this.timed('delete', key, () => this.deleteOnce(key, expected));
  }

  private async deleteOnce(key: string, expected: number): Promise<WriteResult> {
    const r = await this.kv.txn({
      compare: [{ target: 'mod', result: 'equal', key: enc.encode(key), modRevision: expected }],
      success: [{ requestDeleteRange: { key: enc.encode(key), prevKv: true } }],
      failure: [{ requestRange: { key: enc.encode(key) } }],
    });
    if (!r.succeeded) {
      const current = currentOf(r.responses);
      return current ? { ok: false, reason: 'changed', current } : { ok: false, reason: 'missing' };
    }
    const resp = r.responses[0];
    const prev = 'responseDeleteRange' in resp ? resp.responseDeleteRange.prevKvs?.[0] : undefined;
    if (!prev) return { ok: false, reason: 'missing' };
    // The deleted object carries the revision of its deletion, as Kubernetes' DELETED events do.
    return { ok: true, object: withRevision(decodeObject(prev), r.header.revision) };
  }

  /**
   * Every change under `prefix` after `afterRevision`, in revision order, until cancelled. An
   * empty batch is a progress notification: nothing changed up to `revision` (for bookmarks).
   * onError gets StoreCompactedError when afterRevision is compacted (the caller answers 410).
   */
  watch(
    prefix: string,
    afterRevision: number,
    onEvents: (events: StoredEvent[], revision: number) => void,
    onError: (err: Error) => void,
  ): WatchHandle {
    return this.kv.watch(prefix, {
      prefix: true,
      startRevision: afterRevision + 1,
      prevKv: true,
      progressNotify: true,
      onEvents: (events, revision) => onEvents(events.map(toStoredEvent), revision),
      onError: (err) => onError(isCompacted(err) ? new StoreCompactedError((err as { compactRevision?: number }).compactRevision) : err),
    });
  }
}

function withRevision(obj: KubeObject, revision: number): KubeObject {
  return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(revision) } };
}

function currentOf(responses: readonly unknown[]): KubeObject | undefined {
  const first = responses[0];
  if (!isObject(first) || !('responseRange' in first)) return undefined;
  const range = first.responseRange as { kvs: KeyValue[] };
  return range.kvs.length > 0 ? decodeObject(range.kvs[0]) : undefined;
}

function toStoredEvent(e: KvWatchEvent): StoredEvent {
  if (e.type === 'DELETE') {
    if (!e.prevKv) throw new Error('raftkv delete event without its previous value');
    return { type: 'DELETED', object: withRevision(decodeObject(e.prevKv), e.kv.modRevision), revision: e.kv.modRevision };
  }
  const object = decodeObject(e.kv);
  const ev: StoredEvent = { type: e.kv.version === 1 ? 'ADDED' : 'MODIFIED', object, revision: e.kv.modRevision };
  if (e.prevKv && ev.type === 'MODIFIED') ev.previous = decodeObject(e.prevKv);
  return ev;
}
