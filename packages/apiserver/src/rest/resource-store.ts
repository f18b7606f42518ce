/**
 * The verbs of one resource, generic over its ResourceDef: get, list, create, update (main and
 * status), patch, delete, deletecollection and watch. Input is what the HTTP layer parsed; output
 * is objects, or an ApiError that becomes the reply's Status. Optimistic concurrency comes from
 * raftkv transactions on the object's revision (see storage/store.ts), so any number of
 * apiserver replicas may serve the same objects at once.
 */
import {
  alreadyExists,
  ApiError,
  apiVersionOf,
  badRequest,
  conflict,
  fieldError,
  forbidden,
  gone,
  invalid,
  isObject,
  notFound,
  type DeleteOptions,
  type KubeObject,
  type StatusCause,
} from '@flotilla/api';
import { qualifiedResource, type ResourceDef } from '../registry/types.js';
import { listPrefix, objectKey, StoreCompactedError, type Store, type StoredEvent, type WriteResult } from '../storage/store.js';
import { TooOldError, WatchCache } from '../storage/watch-cache.js';
import { carryMetadata, generatedName, initMetadata, sameObject, timestamp, validateMetadata } from './metadata.js';

/**
 * How long a write whose precondition the client did not pin keeps retrying against the newer
 * copy a conflict returns. Kubernetes retries such writes without a count limit (each round of
 * conflicting writers has a winner, so a busy object only needs time); a fixed count made the
 * last of a few dozen concurrent writers fail with 409. Bounded by time instead, well inside a
 * client's request timeout.
 */
const RETRY_BUDGET_MS = 10_000;

/** Pause before the next try after `conflicts` conflicts: none at first, then a short random one, so writers that keep colliding fall out of step. */
function retryDelayMs(conflicts: number): number {
  return conflicts < 3 ? 0 : Math.random() * Math.min(2 ** (conflicts - 3), 16);
}

export interface WriteOptions {
  dryRun?: boolean;
}

export interface ListOptions {
  /** Kept objects must match; applied after reading (raftkv has no secondary indexes). */
  filter?: (obj: KubeObject) => boolean;
  limit?: number;
  continueToken?: string;
}

export interface ListPage {
  items: KubeObject[];
  resourceVersion: string;
  continueToken?: string;
  remaining?: number;
}

/** The namespace-lifecycle admission check, given the namespaces resource. */
export type NamespaceCheck = (namespace: string) => Promise<void>;

export class ResourceStore {
  private watchCache: WatchCache | undefined;

  constructor(
    readonly def: ResourceDef,
    private readonly store: Store,
    private readonly clock: () => number,
    private readonly namespaceCheck: NamespaceCheck,
  ) {}

  private subject(name?: string): { resource: string; group: string; name?: string } {
    return name === undefined ? { resource: this.def.resource, group: this.def.group } : { resource: this.def.resource, group: this.def.group, name };
  }

  private key(namespace: string | undefined, name: string): string {
    return objectKey({ qualified: qualifiedResource(this.def), namespaced: this.def.namespaced }, namespace, name);
  }

  private prefix(namespace?: string): string {
    return listPrefix({ qualified: qualifiedResource(this.def), namespaced: this.def.namespaced }, namespace);
  }

  async get(namespace: string | undefined, name: string): Promise<KubeObject> {
    const obj = await this.store.get(this.key(namespace, name));
    if (!obj) throw notFound(this.subject(name));
    return this.typed(obj);
  }

  async list(namespace: string | undefined, opts: ListOptions = {}): Promise<ListPage> {
    let fromKey: string | undefined;
    let revision: number | undefined;
    if (opts.continueToken) ({ fromKey, revision } = decodeContinue(opts.continueToken, this.prefix(namespace)));
    const limit = opts.limit && opts.limit > 0 ? opts.limit : undefined;
    try {
      // With a filter, read everything at one revision and page over what matches: the result
      // is the same as Kubernetes', only computed here rather than in an index.
      const res = await this.store.list(this.prefix(namespace), { fromKey, revision, limit: opts.filter ? undefined : limit });
      let items = res.items.map((o) => this.typed(o));
      if (opts.filter) items = items.filter(opts.filter);
      const page: ListPage = { items, resourceVersion: String(res.revision) };
      if (opts.filter && limit !== undefined && items.length > limit) {
        page.items = items.slice(0, limit);
        page.remaining = items.length - limit;
        const last = page.items[limit - 1];
        page.continueToken = encodeContinue(res.revision, `${this.key(last.metadata.namespace, last.metadata.name ?? '')}\0`);
      } else if (res.nextKey) {
        page.continueToken = encodeContinue(res.revision, res.nextKey);
        if (res.remaining !== undefined) page.remaining = res.remaining;
      }
      return page;
    } catch (err) {
      if (err instanceof StoreCompactedError) throw gone('The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
      throw err;
    }
  }

  /** A list from this replica's watch cache: recent, not necessarily the latest (resourceVersion=0). */
  async listCached(namespace: string | undefined, filter?: (o: KubeObject) => boolean): Promise<ListPage> {
    const snap = await this.cache.snapshot((o) => (namespace === undefined || o.metadata.namespace === namespace) && (!filter || filter(o)));
    return { items: snap.items.map((o) => this.typed(structuredClone(o))), resourceVersion: String(snap.revision) };
  }

  async create(namespace: string | undefined, body: unknown, opts: WriteOptions = {}): Promise<KubeObject> {
    const obj = this.checkBody(body);
    const meta = obj.metadata;
    if (this.def.namespaced) {
      if (meta.namespace && namespace && meta.namespace !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      meta.namespace = namespace ?? meta.namespace;
      if (!meta.namespace) throw badRequest('a namespace is required for namespaced resources');
    } else {
      delete meta.namespace;
    }
    if (!meta.name && meta.generateName) meta.name = generatedName(meta.generateName);
    // Status belongs to the controllers that observe the object, not to whoever creates it.
    if (this.def.subresources?.includes('status')) delete obj.status;
    initMetadata(this.def, obj, this.clock());
    this.def.defaults?.(obj);
    this.validate(obj, []);
    if (this.def.namespaced) await this.namespaceCheck(meta.namespace as string);
    if (opts.dryRun || this.def.virtual) return obj;
    const r = await this.store.create(this.key(meta.namespace, meta.name as string), obj);
    if (!r.ok) throw alreadyExists(this.subject(meta.name));
    return this.typed(r.object);
  }

  /**
   * Replaces an object (PUT). `subresource` "status" changes only the status; the main resource
   * ignores status changes when the kind has a status subresource. A resourceVersion in the body
   * must match the stored one (409 otherwise); without one the write is unconditional.
   */
  async update(namespace: string | undefined, name: string, body: unknown, opts: WriteOptions & { subresource?: 'status' | 'finalize' } = {}): Promise<KubeObject> {
    const incoming = this.checkBody(body);
    if (incoming.metadata.name !== undefined && incoming.metadata.name !== name) {
      throw badRequest(`the name of the object (${incoming.metadata.name}) does not match the name on the URL (${name})`);
    }
    incoming.metadata.name = name;
    const pinned = incoming.metadata.resourceVersion;
    return this.writeLoop(namespace, name, pinned, (current) => {
      const next = structuredClone(incoming);
      if (opts.subresource === 'status') return this.mergeStatus(current, next);
      if (opts.subresource === 'finalize') return this.mergeFinalizers(current, next);
      return this.mergeMain(current, next);
    }, opts);
  }

  /**
   * Binds a pod to a node (pods/binding, what the scheduler POSTs): only a pod that is not yet
   * bound and not being deleted may be, so a pod is never bound twice, even when two schedulers
   * race (the write is conditional on the revision that was checked).
   */
  async bind(namespace: string, name: string, body: unknown): Promise<void> {
    if (!isObject(body) || !isObject(body.target) || typeof body.target.name !== 'string' || body.target.name === '') {
      throw invalid('Binding', { resource: 'bindings', group: '', name }, [fieldError.required('target.name')]);
    }
    const node = body.target.name;
    const pinned = isObject(body.metadata) && typeof body.metadata.resourceVersion === 'string' ? body.metadata.resourceVersion : undefined;
    await this.writeLoop(namespace, name, pinned, (pod) => {
      const spec = isObject(pod.spec) ? pod.spec : (pod.spec = {});
      if (pod.metadata.deletionTimestamp) throw conflict(this.subject(name), 'pod is being deleted, cannot be assigned to a host');
      if (typeof spec.nodeName === 'string' && spec.nodeName !== '') {
        throw conflict(this.subject(name), `pod ${name} is already assigned to node "${spec.nodeName}"`);
      }
      spec.nodeName = node;
      const status = isObject(pod.status) ? pod.status : (pod.status = {});
      const conditions = (Array.isArray(status.conditions) ? status.conditions : []).filter((c) => !(isObject(c) && c.type === 'PodScheduled'));
      conditions.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: timestamp(this.clock()) });
      status.conditions = conditions;
      return pod;
    });
  }

  /**
   * Read-modify-write with `mutate` against the latest copy. `pinned` (a resourceVersion the
   * client insisted on) makes a mismatch a 409; otherwise a concurrent change is retried.
   */
  async writeLoop(
    namespace: string | undefined,
    name: string,
    pinned: string | undefined,
    mutate: (current: KubeObject) => KubeObject,
    opts: WriteOptions = {},
  ): Promise<KubeObject> {
    const deadline = performance.now() + RETRY_BUDGET_MS;
    let current = await this.store.get(this.key(namespace, name));
    for (let conflicts = 0; ; conflicts++) {
      if (!current) throw notFound(this.subject(name));
      if (pinned !== undefined && pinned !== '' && pinned !== current.metadata.resourceVersion) {
        throw conflict(this.subject(name), 'the object has been modified; please apply your changes to the latest version and try again');
      }
      const next = mutate(this.typed(structuredClone(current)));
      next.metadata.name = name;
      // Defaults first, so that a client sending back its original manifest (without the
      // defaults) is not taken for a change of the spec.
      this.def.defaults?.(next);
      carryMetadata(this.def, next, current);
      const extra = this.def.validateUpdate ? this.def.validateUpdate(next, current) : [];
      if (current.metadata.deletionTimestamp) {
        const had = new Set(current.metadata.finalizers ?? []);
        // Deletion must be able to finish: while it is under way finalizers may only go.
        if ((next.metadata.finalizers ?? []).some((f) => !had.has(f))) {
          extra.push(fieldError.forbidden('metadata.finalizers', 'no new finalizers can be added if the object is being deleted'));
        }
      }
      this.validate(next, extra);
      if (sameObject(next, this.typed(current))) return this.typed(current);
      if (opts.dryRun) return next;
      const expected = Number(current.metadata.resourceVersion);
      // A deleting object whose last finalizer was just removed is gone for good.
      const r = next.metadata.deletionTimestamp && this.finalizersOf(next).length === 0 && this.readyToVanish(next)
        ? await this.store.delete(this.key(namespace, name), expected)
        : await this.store.update(this.key(namespace, name), next, expected);
      if (r.ok) return this.typed(r.object);
      if (r.reason === 'missing') throw notFound(this.subject(name));
      if (pinned !== undefined && pinned !== '') {
        throw conflict(this.subject(name), 'the object has been modified; please apply your changes to the latest version and try again');
      }
      current = await this.afterConflict(r, namespace, name, deadline, conflicts);
    }
  }

  /**
   * A conditional write lost to another writer: the copy to try again on (the one the failed
   * transaction returned, so no read is needed), after a pause once conflicts repeat; a 409 once
   * the retry budget is spent.
   */
  private async afterConflict(lost: WriteResult, namespace: string | undefined, name: string, deadline: number, conflicts: number): Promise<KubeObject | undefined> {
    if (performance.now() > deadline) throw conflict(this.subject(name), 'too many concurrent writers; please retry');
    const current = (!lost.ok && lost.current) || (await this.store.get(this.key(namespace, name)));
    const pause = retryDelayMs(conflicts);
    if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
    return current;
  }

  /**
   * DELETE. Objects with finalizers (and pods a kubelet must stop first) are only marked: their
   * deletionTimestamp is set and they stay until whoever owns them finishes.
   */
  async delete(namespace: string | undefined, name: string, opts: Omit<DeleteOptions, 'dryRun'> & WriteOptions = {}): Promise<{ object: KubeObject; deleted: boolean }> {
    const deadline = performance.now() + RETRY_BUDGET_MS;
    let current = await this.store.get(this.key(namespace, name));
    for (let conflicts = 0; ; conflicts++) {
      if (!current) throw notFound(this.subject(name));
      const pre = opts.preconditions;
      if (pre?.uid && pre.uid !== current.metadata.uid) {
        throw conflict(this.subject(name), `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata.uid ?? ''}`);
      }
      if (pre?.resourceVersion && pre.resourceVersion !== current.metadata.resourceVersion) {
        throw conflict(this.subject(name), `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${current.metadata.resourceVersion ?? ''}`);
      }
      const expected = Number(current.metadata.resourceVersion);
      const marked = this.markForDeletion(structuredClone(current), opts);
      let r;
      if (marked) {
        if (opts.dryRun) return { object: this.typed(marked), deleted: false };
        if (sameObject(marked, current)) return { object: this.typed(current), deleted: false };
        r = await this.store.update(this.key(namespace, name), marked, expected);
        if (r.ok) return { object: this.typed(r.object), deleted: false };
      } else {
        if (opts.dryRun) return { object: this.typed(current), deleted: true };
        r = await this.store.delete(this.key(namespace, name), expected);
        if (r.ok) return { object: this.typed(r.object), deleted: true };
      }
      if (r.reason === 'missing') throw notFound(this.subject(name));
      current = await this.afterConflict(r, namespace, name, deadline, conflicts);
    }
  }

  /** Everything that must clear before the object may go: metadata and, for some kinds, spec finalizers. */
  private finalizersOf(obj: KubeObject): string[] {
    const own = obj.metadata.finalizers ?? [];
    const spec = this.def.finalizersInSpec && isObject(obj.spec) && Array.isArray(obj.spec.finalizers) ? (obj.spec.finalizers as string[]) : [];
    return [...own, ...spec];
  }

  /** Returns the object marked as deleting, or undefined when it can go at once. */
  private markForDeletion(obj: KubeObject, opts: Omit<DeleteOptions, 'dryRun'>): KubeObject | undefined {
    const m = obj.metadata;
    const finalizers = [...(m.finalizers ?? [])];
    if (opts.propagationPolicy === 'Foreground' && !finalizers.includes('foregroundDeletion')) finalizers.push('foregroundDeletion');
    if (opts.propagationPolicy === 'Orphan' && !finalizers.includes('orphan')) finalizers.push('orphan');
    const grace = this.graceSeconds(obj, opts);
    if (finalizers.length === 0 && this.finalizersOf({ ...obj, metadata: { ...m, finalizers: [] } }).length === 0 && grace === 0) return undefined;
    m.finalizers = finalizers.length > 0 ? finalizers : undefined;
    if (m.finalizers === undefined) delete m.finalizers;
    if (this.def.finalizersInSpec) obj.status = { ...(isObject(obj.status) ? obj.status : {}), phase: 'Terminating' };
    const now = this.clock();
    if (!m.deletionTimestamp) {
      m.deletionTimestamp = timestamp(now + grace * 1000);
      m.deletionGracePeriodSeconds = grace;
    } else if (grace < (m.deletionGracePeriodSeconds ?? Infinity)) {
      // A second delete may shorten the grace period (kubectl delete --grace-period=0 --force).
      m.deletionTimestamp = timestamp(now + grace * 1000);
      m.deletionGracePeriodSeconds = grace;
    }
    return obj;
  }

  /** Seconds a pod gets to stop; 0 for everything else and for pods no kubelet runs. */
  private graceSeconds(obj: KubeObject, opts: Omit<DeleteOptions, 'dryRun'>): number {
    if (this.def.group !== '' || this.def.resource !== 'pods') return 0;
    const spec = isObject(obj.spec) ? obj.spec : {};
    const status = isObject(obj.status) ? obj.status : {};
    if (!spec.nodeName) return 0; // never scheduled: nothing runs it
    if (status.phase === 'Succeeded' || status.phase === 'Failed') return 0;
    const g = opts.gracePeriodSeconds ?? (typeof spec.terminationGracePeriodSeconds === 'number' ? spec.terminationGracePeriodSeconds : 30);
    return Math.max(0, g);
  }

  /** A deleting object with no finalizers left is removed, unless a kubelet still has to stop it. */
  private readyToVanish(obj: KubeObject): boolean {
    return this.graceSeconds(obj, {}) === 0 || obj.metadata.deletionGracePeriodSeconds === 0;
  }

  async deleteCollection(namespace: string | undefined, opts: ListOptions & Omit<DeleteOptions, 'dryRun'> & WriteOptions): Promise<KubeObject[]> {
    const page = await this.list(namespace, { filter: opts.filter });
    const out: KubeObject[] = [];
    for (const o of page.items) {
      try {
        out.push((await this.delete(o.metadata.namespace, o.metadata.name as string, opts)).object);
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 404)) throw err;
      }
    }
    return out;
  }

  /** This resource's watch cache: every watch is served from it (one raftkv watch per replica). */
  get cache(): WatchCache {
    this.watchCache ??= new WatchCache(this.store, this.prefix(), (o) => `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`);
    return this.watchCache;
  }

  /**
   * A watch from the cache. Without `afterRevision` the current objects come first (returned as
   * `initial`), then changes after them; with it, changes after that revision, or 410 Gone when
   * the cache's window no longer reaches back that far. Only `namespace`'s objects, when given.
   */
  async watch(
    namespace: string | undefined,
    afterRevision: number | undefined,
    onEvents: (events: StoredEvent[], revision: number) => void,
    onError: (err: Error) => void,
  ): Promise<{ initial: KubeObject[]; revision: number; cancel(): void }> {
    const inNs = (o: KubeObject): boolean => namespace === undefined || o.metadata.namespace === namespace;
    let initial: KubeObject[] = [];
    let from = afterRevision;
    if (from === undefined) {
      const snap = await this.cache.snapshot(inNs);
      initial = snap.items.map((o) => this.typed(structuredClone(o)));
      from = snap.revision;
    }
    try {
      const sub = await this.cache.subscribe(from, {
        onEvents: (events, revision) => {
          const mine = events.filter((e) => inNs(e.object)).map((e) => ({ ...e, object: this.typed(structuredClone(e.object)) }));
          if (mine.length > 0 || events.length === 0) onEvents(mine, revision);
        },
        onError,
      });
      return { initial, revision: from, cancel: sub.cancel };
    } catch (err) {
      if (err instanceof TooOldError) throw gone(err.message);
      throw err;
    }
  }

  /** The main resource keeps the stored status when the kind has a status subresource. */
  private mergeMain(current: KubeObject, next: KubeObject): KubeObject {
    if (this.def.subresources?.includes('status')) {
      if (current.status === undefined) delete next.status;
      else next.status = current.status;
    }
    return next;
  }

  /** /finalize changes spec.finalizers only (a terminating namespace's last step). */
  private mergeFinalizers(current: KubeObject, next: KubeObject): KubeObject {
    const out = structuredClone(current);
    const spec = isObject(out.spec) ? out.spec : (out.spec = {});
    spec.finalizers = isObject(next.spec) && Array.isArray(next.spec.finalizers) ? next.spec.finalizers : [];
    return out;
  }

  /** The status subresource changes the status fields only. */
  private mergeStatus(current: KubeObject, next: KubeObject): KubeObject {
    const out = structuredClone(current);
    for (const f of this.def.statusFields ?? ['status']) {
      if (next[f] === undefined) delete out[f];
      else out[f] = next[f];
    }
    return out;
  }

  private checkBody(body: unknown): KubeObject {
    if (!isObject(body)) throw badRequest('the request body must be a JSON or YAML object');
    const d = this.def;
    if (body.kind !== undefined && body.kind !== d.kind) {
      throw badRequest(`the kind of the object (${String(body.kind)}) does not match the kind of the resource (${d.kind})`);
    }
    const av = apiVersionOf(d);
    if (body.apiVersion !== undefined && body.apiVersion !== av) {
      throw badRequest(`the API version of the object (${String(body.apiVersion)}) does not match the API version of the resource (${av})`);
    }
    if (body.metadata !== undefined && !isObject(body.metadata)) throw badRequest('metadata must be an object');
    const obj = structuredClone(body) as KubeObject;
    obj.metadata ??= {};
    obj.apiVersion = av;
    obj.kind = d.kind;
    return obj;
  }

  private validate(obj: KubeObject, extra: StatusCause[]): void {
    const causes = [...validateMetadata(this.def, obj.metadata), ...(this.def.validate?.(obj) ?? []), ...extra];
    if (causes.length > 0) throw invalid(this.def.kind, this.subject(obj.metadata.name ?? obj.metadata.generateName ?? ''), causes);
  }

  /** Stored objects always answer with their kind and apiVersion. */
  private typed(obj: KubeObject): KubeObject {
    obj.apiVersion = apiVersionOf(this.def);
    obj.kind = this.def.kind;
    return obj;
  }

  forbidInTerminating(namespace: string): ApiError {
    return forbidden(`unable to create new content in namespace ${namespace} because it is being terminated`, this.subject());
  }
}

function encodeContinue(revision: number, key: string): string {
  return Buffer.from(JSON.stringify({ v: 1, rv: revision, start: key })).toString('base64url');
}

function decodeContinue(token: string, prefix: string): { fromKey: string; revision: number } {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (isObject(parsed) && typeof parsed.rv === 'number' && typeof parsed.start === 'string' && parsed.start.startsWith(prefix)) {
      return { fromKey: parsed.start, revision: parsed.rv };
    }
  } catch {
    // fall through to the error below
  }
  throw badRequest('continue key is not valid: it was not produced by a list of this resource');
}
