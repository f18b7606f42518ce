/**
 * An informer: a local, read-only copy of one kind of object kept current by list+watch, and
 * handlers told of each add, update and delete — what every controller and the scheduler build
 * on. The watch resumes from the last resourceVersion it saw (bookmarks keep that fresh); a 410
 * Gone or a failed resume lists again and reports the difference as events, so handlers never
 * miss a change, only see it later.
 */
import { isObject, type KubeObject, type Status } from '@flotilla/api';
import type { KubeClient, ResourceRef, WatchHandle } from './rest.js';

export type Handler<T> = {
  add: (obj: T) => void;
  update: (old: T, obj: T) => void;
  delete: (obj: T) => void;
};

export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Server-side watch timeout, seconds (the watch is then resumed). Default 300. */
  watchTimeoutSeconds?: number;
  /** Pause before retrying after a failure, ms. Default 500. */
  retryMs?: number;
  onError?: (err: unknown) => void;
}

export function keyOf(obj: KubeObject): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name ?? ''}` : obj.metadata.name ?? '';
}

export class Informer<T extends KubeObject = KubeObject> {
  private readonly store = new Map<string, T>();
  private readonly handlers: Partial<Handler<T>>[] = [];
  private resourceVersion = '';
  private watch: WatchHandle | undefined;
  private stopped = false;
  private synced = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly ref: ResourceRef,
    private readonly opts: InformerOptions = {},
  ) {}

  on(handler: Partial<Handler<T>>): this {
    this.handlers.push(handler);
    return this;
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** The cached objects (shared: never modify them). */
  list(): T[] {
    return [...this.store.values()];
  }

  get(name: string, namespace?: string): T | undefined {
    return this.store.get(namespace ? `${namespace}/${name}` : name);
  }

  /** Lists, delivers the objects as adds, then follows changes. Resolves once the first list is in. */
  async start(): Promise<void> {
    await this.relist();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watch?.stop();
    await this.loop;
  }

  private emit<K extends keyof Handler<T>>(kind: K, ...args: Parameters<Handler<T>[K]>): void {
    for (const h of this.handlers) {
      const f = h[kind] as ((...a: Parameters<Handler<T>[K]>) => void) | undefined;
      try {
        f?.(...args);
      } catch (err) {
        this.opts.onError?.(err);
      }
    }
  }

  /** Replaces the cache with a fresh list, telling handlers what changed since the last one. */
  private async relist(): Promise<void> {
    const list = await this.client.list<T>(this.ref, { namespace: this.opts.namespace, labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector });
    const seen = new Set<string>();
    for (const obj of list.items) {
      const key = keyOf(obj);
      seen.add(key);
      const old = this.store.get(key);
      this.store.set(key, obj);
      if (!old) this.emit('add', obj);
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit('update', old, obj);
    }
    for (const [key, old] of this.store) {
      if (!seen.has(key)) {
        this.store.delete(key);
        this.emit('delete', old);
      }
    }
    this.resourceVersion = list.metadata.resourceVersion ?? '';
    this.synced = true;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let mustRelist = false;
      try {
        this.watch = this.client.watch<T>(this.ref, {
          namespace: this.opts.namespace,
          labelSelector: this.opts.labelSelector,
          fieldSelector: this.opts.fieldSelector,
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: this.opts.watchTimeoutSeconds ?? 300,
        }, (ev) => {
          if (ev.type === 'ERROR') {
            const s = ev.object as Status;
            mustRelist = true; // 410 Gone (or any watch error): the cache can only be trusted again after a list
            this.opts.onError?.(new Error(`watch error ${s.code}: ${s.message ?? ''}`));
            this.watch?.stop();
            return;
          }
          const obj = ev.object as T;
          const rv = isObject(obj.metadata) ? obj.metadata.resourceVersion : undefined;
          if (typeof rv === 'string' && rv !== '') this.resourceVersion = rv;
          if (ev.type === 'BOOKMARK') return;
          const key = keyOf(obj);
          const old = this.store.get(key);
          if (ev.type === 'DELETED') {
            this.store.delete(key);
            this.emit('delete', old ?? obj);
          } else {
            this.store.set(key, obj);
            if (old) this.emit('update', old, obj);
            else this.emit('add', obj);
          }
        });
        await this.watch.done;
      } catch (err) {
        if (this.stopped) return;
        this.opts.onError?.(err);
        mustRelist = true;
        await new Promise((r) => setTimeout(r, this.opts.retryMs ?? 500));
      }
      if (mustRelist && !this.stopped) {
        try {
          await this.relist();
        } catch (err) {
          this.opts.onError?.(err);
          await new Promise((r) => setTimeout(r, this.opts.retryMs ?? 500));
        }
      }
    }
  }
}
