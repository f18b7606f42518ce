/**
 * A replica's cache of one resource: one raftkv watch keeps every object and a window of recent
 * changes in memory, and any number of client watches are served from it. A watch may resume
 * from any revision still in the window; an older one is told 410 Gone, as Kubernetes' watch
 * cache does. If the raftkv watch ends (compaction while disconnected, storage trouble) the cache
 * lists again and ends its subscribers, who resume or relist like any client after a dropped watch.
 */
import type { KubeObject } from '@flotilla/api';
import type { WatchHandle } from '@flotilla/raftkv/client';
import type { Store, StoredEvent } from './store.js';

/** How many recent changes a watch can resume from. */
const DEFAULT_WINDOW = 10_000;

export interface Subscriber {
  /** A batch of one revision (or several), in order; an empty batch is a progress notification. */
  onEvents(events: StoredEvent[], revision: number): void;
  /** The cache restarted or the resume point left the window: the subscriber's stream ends. */
  onError(err: Error): void;
}

export class TooOldError extends Error {
  readonly code = 'TOO_OLD';
  constructor(readonly requested: number, readonly oldest: number) {
    super(`too old resource version: ${requested} (${oldest})`);
    this.name = 'TooOldError';
  }
}

export class WatchCache {
  private readonly objects = new Map<string, KubeObject>();
  /** Recent changes, oldest first. */
  private window: StoredEvent[] = [];
  /** Every change at or below this revision is reflected in `objects`. */
  revision = 0;
  /** The revision the window starts after: resuming from it or later is possible. */
  private windowStart = 0;
  private readonly subscribers = new Set<Subscriber>();
  private handle: WatchHandle | undefined;
  private ready: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly prefix: string,
    private readonly keyOf: (o: KubeObject) => string,
    private readonly windowSize = DEFAULT_WINDOW,
  ) {}

  /** Resolves once the first list is in; later calls share it. */
  start(): Promise<void> {
    this.ready ??= this.sync();
    return this.ready;
  }

  private async sync(): Promise<void> {
    const page = await this.store.list(this.prefix);
    this.objects.clear();
    for (const o of page.items) this.objects.set(this.keyOf(o), o);
    this.revision = page.revision;
    this.windowStart = page.revision;
    this.window = [];
    this.handle = this.store.watch(this.prefix, page.revision, (events, revision) => this.apply(events, revision), (err) => this.restart(err));
  }

  private apply(events: StoredEvent[], revision: number): void {
    for (const e of events) {
      const key = this.keyOf(e.object);
      const before = this.objects.get(key);
      if (e.type === 'DELETED') this.objects.delete(key);
      else this.objects.set(key, e.object);
      // The cache knows the previous state itself (raftkv's prevKv is the same object).
      if (e.type === 'MODIFIED' && !e.previous && before) e.previous = before;
      this.window.push(e);
    }
    if (this.window.length > this.windowSize) {
      const drop = this.window.length - this.windowSize;
      this.windowStart = this.window[drop - 1].revision;
      this.window = this.window.slice(drop);
    }
    this.revision = Math.max(this.revision, revision, events.length > 0 ? events[events.length - 1].revision : 0);
    for (const s of [...this.subscribers]) s.onEvents(events, this.revision);
  }

  private restart(err: Error): void {
    for (const s of [...this.subscribers]) s.onError(err);
    this.subscribers.clear();
    this.handle = undefined;
    if (this.stopped) return;
    // The next user waits for a fresh list; failures surface to it.
    this.ready = new Promise<void>((resolve) => setTimeout(resolve, 200)).then(() => this.sync());
    this.ready.catch(() => {
      this.ready = undefined;
    });
  }

  /** The objects as of `revision` (the cache's current one), matching `filter`. */
  async snapshot(filter?: (o: KubeObject) => boolean): Promise<{ items: KubeObject[]; revision: number }> {
    await this.start();
    const items = [...this.objects.values()].filter((o) => !filter || filter(o));
    items.sort((a, b) => (this.keyOf(a) < this.keyOf(b) ? -1 : 1));
    return { items, revision: this.revision };
  }

  /** The objects now, without waiting (empty until the first list is in): for lookups on hot paths. */
  peek(filter: (o: KubeObject) => boolean): KubeObject[] {
    const out: KubeObject[] = [];
    for (const o of this.objects.values()) if (filter(o)) out.push(o);
    return out;
  }

  /**
   * Changes after `afterRevision`: those still in the window at once, then live ones. Throws
   * TooOldError when the window no longer reaches back that far.
   */
  async subscribe(afterRevision: number, s: Subscriber): Promise<{ cancel(): void }> {
    await this.start();
    if (afterRevision < this.windowStart) throw new TooOldError(afterRevision, this.windowStart);
    // The client may have listed from storage a moment ahead of the cache: never repeat what
    // it already has.
    const sub: Subscriber = {
      onEvents: (events, revision) => {
        const fresh = events.filter((e) => e.revision > afterRevision);
        if (fresh.length > 0 || events.length === 0) s.onEvents(fresh, revision);
      },
      onError: (err) => s.onError(err),
    };
    const backlog = this.window.filter((e) => e.revision > afterRevision);
    if (backlog.length > 0) s.onEvents(backlog, this.revision);
    this.subscribers.add(sub);
    return { cancel: () => void this.subscribers.delete(sub) };
  }

  get watchers(): number {
    return this.subscribers.size;
  }

  stop(): void {
    this.stopped = true;
    this.handle?.cancel();
    for (const s of [...this.subscribers]) s.onError(new Error('the apiserver is stopping'));
    this.subscribers.clear();
  }
}
