import { describe, expect, it } from 'vitest';
import { type Clock, WorkQueue, realClock } from './workqueue.js';

/** A clock that only moves when the test says so; due timers fire in deadline order. */
class FakeClock implements Clock {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; seq: number; fn: () => void }>();

  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms, seq: id, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  get pending(): number {
    return this.timers.size;
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; seq: number; fn: () => void }] | undefined;
      for (const e of this.timers) {
        if (e[1].at <= end && (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[1].seq < next[1].seq))) next = e;
      }
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }
}

/** Lets pending promise callbacks (worker loops, get() continuations) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
}

/** Drains whatever is ready right now, marking each key done. */
async function drainNow(q: WorkQueue): Promise<string[]> {
  const out: string[] = [];
  while (q.length > 0) {
    const k = (await q.get())!;
    out.push(k);
    q.done(k);
  }
  return out;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('WorkQueue basics', () => {
  it('hands out distinct keys in FIFO order and dedupes repeated adds', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    for (const k of ['a', 'b', 'a', 'c', 'b', 'a']) q.add(k);
    expect(q.length).toBe(3);
    expect(await drainNow(q)).toEqual(['a', 'b', 'c']);
    expect(q.length).toBe(0);
  });

  it('re-queues a key added during processing exactly once, only after done()', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    q.add('b');
    expect(await q.get()).toBe('a');
    q.add('a');
    q.add('a');
    // Still processing, so it must not be handed to another worker yet.
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('b');
    expect(q.length).toBe(0);
    q.done('a');
    expect(q.length).toBe(1);
    q.add('a');
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
    q.done('a');
    q.done('b');
    expect(q.length).toBe(0);
  });

  it('a key processed without being re-added does not come back', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    expect(await q.get()).toBe('a');
    q.done('a');
    expect(q.length).toBe(0);
  });

  it('ignores done() for a key that is not processing, so it is never queued twice', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.done('x');
    q.add('a');
    q.done('a');
    expect(q.length).toBe(1);
    expect(await drainNow(q)).toEqual(['a']);
  });

  it('wakes a waiting get() on add, waiters served in call order', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    const first = q.get();
    const second = q.get();
    q.add('a');
    q.add('b');
    expect(await first).toBe('a');
    expect(await second).toBe('b');
  });

  it('keeps FIFO order across many keys (exercises queue compaction)', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    const keys = Array.from({ length: 500 }, (_, i) => `k${i}`);
    const got: string[] = [];
    for (const k of keys.slice(0, 300)) q.add(k);
    for (let i = 0; i < 200; i++) {
      const k = (await q.get())!;
      got.push(k);
      q.done(k);
    }
    for (const k of keys.slice(300)) q.add(k);
    got.push(...(await drainNow(q)));
    expect(got).toEqual(keys);
  });

  it('rejects negative or NaN delays in the options', () => {
    expect(() => new WorkQueue({ baseDelayMs: -1 })).toThrow(RangeError);
    expect(() => new WorkQueue({ maxDelayMs: Number.NaN })).toThrow(RangeError);
  });
});

describe('WorkQueue delays', () => {
  it('addAfter adds the key when the clock reaches the delay', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('a', 100);
    expect(q.length).toBe(0);
    clock.advance(99);
    expect(q.length).toBe(0);
    clock.advance(1);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
  });

  it('addAfter with a zero or negative delay adds immediately', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('a', 0);
    q.addAfter('b', -5);
    expect(q.length).toBe(2);
    expect(clock.pending).toBe(0);
  });

  it('addAfter of an already-queued key does not duplicate it', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.add('a');
    q.addAfter('a', 10);
    clock.advance(10);
    expect(q.length).toBe(1);
    expect(await drainNow(q)).toEqual(['a']);
  });

  it('repeated addAfter keeps one timer, at the earliest requested time', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('a', 50);
    q.addAfter('a', 20);
    q.addAfter('a', 80);
    expect(clock.pending).toBe(1);
    clock.advance(20);
    expect(q.length).toBe(1);
    expect(await drainNow(q)).toEqual(['a']);
    clock.advance(1000);
    expect(q.length).toBe(0);
  });

  it('addAfter of a processing key returns it once, after done()', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.add('a');
    expect(await q.get()).toBe('a');
    q.addAfter('a', 5);
    clock.advance(5);
    expect(q.length).toBe(0);
    q.done('a');
    expect(await drainNow(q)).toEqual(['a']);
  });
});

describe('WorkQueue back-off', () => {
  /** Advances to the moment the key shows up and returns how long that took. */
  function delayUntilQueued(clock: FakeClock, q: WorkQueue, max = 100_000): number {
    for (let waited = 0; waited <= max; waited++) {
      if (q.length > 0) return waited;
      clock.advance(1);
    }
    throw new Error('key never became ready');
  }

  it('doubles per failure from the base, caps at the maximum, and forget() resets it', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, baseDelayMs: 5, maxDelayMs: 60 });
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      q.addRateLimited('a');
      expect(q.retries('a')).toBe(i + 1);
      delays.push(delayUntilQueued(clock, q));
      await drainNow(q);
    }
    expect(delays).toEqual([5, 10, 20, 40, 60, 60]);
    q.forget('a');
    expect(q.retries('a')).toBe(0);
    q.addRateLimited('a');
    expect(delayUntilQueued(clock, q)).toBe(5);
  });

  it('tracks failures per key', () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.addRateLimited('a');
    q.addRateLimited('a');
    q.addRateLimited('b');
    expect([q.retries('a'), q.retries('b'), q.retries('c')]).toEqual([2, 1, 0]);
    q.forget('a');
    expect([q.retries('a'), q.retries('b')]).toEqual([0, 1]);
  });

  it('defaults to 5 ms doubling up to 1 s, and never overflows to a bogus delay', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addRateLimited('a');
    expect(delayUntilQueued(clock, q)).toBe(5);
    await drainNow(q);
    for (let i = 0; i < 2000; i++) q.addRateLimited('b');
    // One timer per key: the earliest (5 ms) retry is the one that stands.
    expect(delayUntilQueued(clock, q)).toBe(5);
    await drainNow(q);
    expect(q.retries('b')).toBe(2000);
    q.addRateLimited('b');
    expect(delayUntilQueued(clock, q)).toBe(1000);
  });

  it('a zero base delay retries immediately', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, baseDelayMs: 0 });
    for (let i = 0; i < 1100; i++) q.addRateLimited('a');
    expect(q.length).toBe(1);
    expect(clock.pending).toBe(0);
  });
});

describe('WorkQueue shutDown', () => {
  it('wakes pending get()s with undefined', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    const waiting = [q.get(), q.get()];
    q.shutDown();
    expect(await Promise.all(waiting)).toEqual([undefined, undefined]);
    expect(await q.get()).toBeUndefined();
    expect(q.shuttingDown).toBe(true);
  });

  it('ignores adds afterwards and clears delayed timers', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('a', 10);
    q.addRateLimited('b');
    expect(clock.pending).toBe(2);
    q.shutDown();
    expect(clock.pending).toBe(0);
    q.add('c');
    q.addAfter('d', 10);
    q.addRateLimited('e');
    expect(clock.pending).toBe(0);
    clock.advance(10_000);
    expect(q.length).toBe(0);
    expect(await q.get()).toBeUndefined();
  });

  it('still hands out keys queued before shutDown, then undefined', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    q.add('b');
    q.shutDown();
    expect(await drainNow(q)).toEqual(['a', 'b']);
    expect(await q.get()).toBeUndefined();
  });

  it('a key re-added while processing is still delivered after shutDown, not dropped', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    expect(await q.get()).toBe('a');
    q.add('a');
    const waiter = q.get();
    q.shutDown();
    let result: string | undefined | null = null;
    void waiter.then((k) => (result = k));
    await settle();
    // The waiter must not be told "drained" while 'a' is owed another sync.
    expect(result).toBeNull();
    q.done('a');
    expect(await waiter).toBe('a');
    const last = q.get();
    q.done('a');
    expect(await last).toBeUndefined();
  });
});

describe('WorkQueue.run', () => {
  it('never syncs one key in two workers at once, and syncs a key changed mid-sync once more', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    const active = new Set<string>();
    const syncs = new Map<string, number>();
    let overlap = false;
    let maxParallel = 0;
    const gates = new Map<string, ReturnType<typeof deferred>>();
    const running = q.run(async (key) => {
      if (active.has(key)) overlap = true;
      active.add(key);
      maxParallel = Math.max(maxParallel, active.size);
      syncs.set(key, (syncs.get(key) ?? 0) + 1);
      const gate = deferred();
      gates.set(key, gate);
      await gate.promise;
      active.delete(key);
    }, 4);

    q.add('a');
    q.add('b');
    await settle();
    expect([...active].sort()).toEqual(['a', 'b']);
    // Plenty of idle workers, yet 'a' must wait for its own sync to finish.
    for (let i = 0; i < 5; i++) q.add('a');
    await settle();
    expect(syncs.get('a')).toBe(1);
    gates.get('a')!.resolve();
    await settle();
    expect(syncs.get('a')).toBe(2);
    gates.get('a')!.resolve();
    gates.get('b')!.resolve();
    await settle();
    expect(Object.fromEntries(syncs)).toEqual({ a: 2, b: 1 });
    expect(overlap).toBe(false);
    expect(maxParallel).toBe(2);

    q.shutDown();
    await running;
  });

  it('stress: random adds across workers never overlap per key, and every add is followed by a sync', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    const active = new Set<string>();
    let overlap = false;
    const lastAdd = new Map<string, number>();
    const lastSyncStart = new Map<string, number>();
    let tick = 0;
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const running = q.run(async (key) => {
      if (active.has(key)) overlap = true;
      active.add(key);
      lastSyncStart.set(key, ++tick);
      for (let i = rand(4); i > 0; i--) await Promise.resolve();
      active.delete(key);
    }, 3);
    for (let i = 0; i < 400; i++) {
      const key = `k${rand(6)}`;
      q.add(key);
      lastAdd.set(key, ++tick);
      for (let j = rand(3); j > 0; j--) await Promise.resolve();
    }
    await settle();
    expect(overlap).toBe(false);
    for (const [key, added] of lastAdd) expect(lastSyncStart.get(key)!).toBeGreaterThan(added);
    q.shutDown();
    await running;
  });

  it('retries a failing key with back-off, reports errors via onError, and forgets on success', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, baseDelayMs: 10, maxDelayMs: 1000 });
    const attempts: number[] = [];
    const errors: Array<[string, unknown]> = [];
    let failuresLeft = 3;
    const running = q.run(
      async (key) => {
        attempts.push(clock.now());
        if (key === 'bad' && failuresLeft-- > 0) throw new Error(`boom ${failuresLeft}`);
      },
      3,
      (key, err) => errors.push([key, err]),
    );

    q.add('bad');
    q.add('good');
    await settle();
    expect(attempts).toEqual([0, 0]);
    expect(q.retries('bad')).toBe(1);
    expect(q.retries('good')).toBe(0);
    expect(errors.map(([k, e]) => [k, (e as Error).message])).toEqual([['bad', 'boom 2']]);

    clock.advance(9);
    await settle();
    expect(attempts.length).toBe(2);
    clock.advance(1); // t=10: first retry after the base delay
    await settle();
    clock.advance(20); // t=30: second retry after twice that
    await settle();
    clock.advance(40); // t=70: third retry succeeds
    await settle();
    expect(attempts).toEqual([0, 0, 10, 30, 70]);
    expect(errors.map(([k]) => k)).toEqual(['bad', 'bad', 'bad']);
    expect(q.retries('bad')).toBe(0);
    clock.advance(10_000);
    await settle();
    expect(attempts.length).toBe(5);

    q.shutDown();
    await running;
  });

  it('keeps working when onError throws or sync throws synchronously', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    let calls = 0;
    const running = q.run(
      ((key: string) => {
        calls++;
        if (calls === 1) throw new Error(`sync threw for ${key}`);
        return Promise.resolve();
      }) as (key: string) => Promise<void>,
      1,
      () => {
        throw new Error('reporter broke');
      },
    );
    q.add('a');
    await settle();
    expect(q.retries('a')).toBe(1);
    clock.advance(5);
    await settle();
    expect(calls).toBe(2);
    expect(q.retries('a')).toBe(0);
    q.shutDown();
    await running;
  });

  it('shutDown stops idle workers and lets a busy one finish its sync first', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    const gate = deferred();
    let finished = false;
    const running = q.run(async () => {
      await gate.promise;
      finished = true;
    }, 3);
    let ended = false;
    void running.then(() => (ended = true));
    q.add('a');
    await settle();
    q.shutDown();
    await settle();
    expect(ended).toBe(false);
    gate.resolve();
    await running;
    expect(finished).toBe(true);
  });

  it('resolves at once when the queue is already shut down and empty', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.shutDown();
    let calls = 0;
    await q.run(async () => {
      calls++;
    }, 2);
    expect(calls).toBe(0);
  });
});

describe('realClock', () => {
  it('drives addAfter with real timers', async () => {
    const q = new WorkQueue({ clock: realClock });
    const start = realClock.now();
    q.addAfter('a', 20);
    expect(await q.get()).toBe('a');
    expect(realClock.now() - start).toBeGreaterThanOrEqual(15);
    q.done('a');
    q.addAfter('b', 1_000_000);
    q.shutDown();
    expect(await q.get()).toBeUndefined();
  });
});
