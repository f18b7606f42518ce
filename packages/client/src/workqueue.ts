/**
 * The rate-limited work queue every Flotilla controller drives its reconcile loop from.
 *
 * Controllers put object keys (usually "namespace/name") on the queue from informer events and
 * reconcile them in worker loops. The queue holds keys rather than events so that a burst of
 * changes to one object collapses into a single sync of its latest state, and it guarantees that
 * no key is synced by two workers at once, so a controller never races itself on one object.
 *
 * The behaviour follows client-go's rate-limited work queue:
 * - a key is in at most one of three places — waiting in the FIFO, being processed, or neither —
 *   plus a "dirty" mark meaning "needs a sync that has not started yet";
 * - adding a key that is being processed only marks it dirty; done() puts it back in the FIFO, so
 *   changes seen during a sync are never lost and never cause a concurrent second sync;
 * - delayed adds and per-key exponential back-off feed the same add() when their timer fires.
 */

/** Time source, injectable so tests can advance delays by hand instead of sleeping. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

// Node turns any delay above 2^31-1 ms into 1 ms, which would make an "infinitely" backed-off
// key spin; clamping keeps a huge delay huge (about 24.8 days).
const MAX_TIMER_MS = 2 ** 31 - 1;

export const realClock: Clock = {
  // Monotonic, so a wall-clock step (NTP, manual change) cannot reorder or stall delayed keys.
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, Math.min(Math.max(ms, 0), MAX_TIMER_MS)),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface WorkQueueOptions {
  /** Delay before the first retry of a failing key; doubled on each further failure. Default 5 ms. */
  baseDelayMs?: number;
  /**
   * Upper bound on the back-off. Default 1000 ms — far below client-go's 1000 s, because a
   * Flotilla controller must converge quickly once the cause of a failure (a missing object, a
   * conflict) goes away, and a small cluster can afford the extra retries.
   */
  maxDelayMs?: number;
  clock?: Clock;
  /** Shown in the default error log, to tell controllers' queues apart. */
  name?: string;
}

interface Delayed {
  readyAt: number;
  handle: unknown;
}

type Waiter<K> = (key: K | undefined) => void;

export class WorkQueue<K extends string = string> {
  readonly name: string;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly clock: Clock;

  // FIFO of keys ready to hand out; `head` avoids O(n) Array#shift on every get().
  private queue: K[] = [];
  private head = 0;
  // Keys that need a sync that has not started: every queued key, plus processing keys that were
  // added again. A key is pushed onto `queue` only when it becomes dirty while not processing, or
  // when done() finds it dirty, so `queue` never holds a key twice.
  private readonly dirty = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly delayed = new Map<K, Delayed>();
  private readonly failures = new Map<K, number>();
  private readonly waiters: Waiter<K>[] = [];
  private stopping = false;

  constructor(opts: WorkQueueOptions = {}) {
    this.baseDelayMs = checkDelay('baseDelayMs', opts.baseDelayMs ?? 5);
    this.maxDelayMs = checkDelay('maxDelayMs', opts.maxDelayMs ?? 1000);
    this.clock = opts.clock ?? realClock;
    this.name = opts.name ?? 'workqueue';
  }

  add(key: K): void {
    if (this.stopping || this.dirty.has(key)) return;
    this.dirty.add(key);
    // done() will queue it; queueing now would let a second worker sync it concurrently.
    if (this.processing.has(key)) return;
    this.queue.push(key);
    this.dispatch();
  }

  addAfter(key: K, ms: number): void {
    if (this.stopping) return;
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    const readyAt = this.clock.now() + ms;
    const existing = this.delayed.get(key);
    // One timer per key: the earliest requested time wins, so a short retry is not pushed back
    // by a long one, and repeated addAfter calls never multiply into several adds.
    if (existing) {
      if (existing.readyAt <= readyAt) return;
      this.clock.clearTimeout(existing.handle);
    }
    const handle = this.clock.setTimeout(() => {
      this.delayed.delete(key);
      // add() dedupes, so a key that was queued in the meantime is still synced only once.
      this.add(key);
    }, ms);
    this.delayed.set(key, { readyAt, handle });
  }

  addRateLimited(key: K): void {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    this.addAfter(key, this.backoff(n));
  }

  forget(key: K): void {
    this.failures.delete(key);
  }

  retries(key: K): number {
    return this.failures.get(key) ?? 0;
  }

  get(): Promise<K | undefined> {
    if (this.head < this.queue.length) return Promise.resolve(this.take());
    if (this.drained()) return Promise.resolve(undefined);
    return new Promise<K | undefined>((resolve) => this.waiters.push(resolve));
  }

  done(key: K): void {
    // Ignoring a stray done() matters: for a queued key, re-queueing it would put it in the FIFO
    // twice and break the one-worker-per-key guarantee.
    if (!this.processing.delete(key)) return;
    if (this.dirty.has(key)) {
      this.queue.push(key);
      this.dispatch();
    } else if (this.drained()) {
      this.releaseWaiters();
    }
  }

  get length(): number {
    return this.queue.length - this.head;
  }

  get shuttingDown(): boolean {
    return this.stopping;
  }

  shutDown(): void {
    if (this.stopping) return;
    this.stopping = true;
    for (const { handle } of this.delayed.values()) this.clock.clearTimeout(handle);
    this.delayed.clear();
    if (this.drained()) this.releaseWaiters();
  }

  async run(
    sync: (key: K) => Promise<void>,
    workers = 1,
    onError: (key: K, err: unknown) => void = (key, err) => console.error(`${this.name}: sync of ${key} failed; retrying:`, err),
  ): Promise<void> {
    const loop = async (): Promise<void> => {
      for (let key = await this.get(); key !== undefined; key = await this.get()) {
        try {
          await sync(key);
          this.forget(key);
        } catch (err) {
          // Schedule the retry before reporting, so a throwing onError cannot lose it.
          this.addRateLimited(key);
          try {
            onError(key, err);
          } catch {
            // A broken error reporter must not kill the worker and stall the controller.
          }
        } finally {
          this.done(key);
        }
      }
    };
    const count = Math.max(1, Math.floor(workers));
    await Promise.all(Array.from({ length: count }, loop));
  }

  private backoff(failures: number): number {
    // 0 * 2^1100 would be NaN, and 2^n overflows to Infinity long before failures stop counting.
    if (this.baseDelayMs === 0) return 0;
    return Math.min(this.baseDelayMs * 2 ** failures, this.maxDelayMs);
  }

  private take(): K {
    const key = this.queue[this.head++];
    // Compact once the consumed prefix dominates, keeping memory bounded at amortised O(1).
    if (this.head > 64 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.dirty.delete(key);
    this.processing.add(key);
    return key;
  }

  /** Hands queued keys straight to pending get()s, oldest caller first. */
  private dispatch(): void {
    while (this.waiters.length > 0 && this.head < this.queue.length) {
      this.waiters.shift()!(this.take());
    }
  }

  /**
   * True when nothing more can ever come out: after shutDown no key can be added, so only queued
   * keys and processing keys already marked dirty (which done() will re-queue) remain.
   */
  private drained(): boolean {
    return this.stopping && this.head === this.queue.length && this.dirty.size === 0;
  }

  private releaseWaiters(): void {
    for (const resolve of this.waiters.splice(0)) resolve(undefined);
  }
}

function checkDelay(name: string, ms: number): number {
  if (!(ms >= 0)) throw new RangeError(`WorkQueue: ${name} must be a non-negative number, got ${ms}`);
  return ms;
}
