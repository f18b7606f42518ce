/**
 * A writer that keeps a cluster busy across member failures: `concurrency` workers each send one
 * request at a time, rotating over the live endpoints; a failure (non-2xx, connection error or
 * client-side timeout) moves the worker on to the next endpoint. After `markEvent()` (e.g. right
 * before a SIGKILL) it reports the time from the event to the first success of a request that was
 * *sent after* the event — the write gap a client sees.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { errorKind, httpErrorKind, type RequestSpec } from './load.js';
import { sleep } from './stats.js';

export interface FailoverWriterOptions {
  endpoints: string[];
  concurrency: number;
  makeRequest: (worker: number, seq: number) => RequestSpec;
  /** Client-side timeout per request: how long a worker waits on a member before trying the next. */
  timeoutMs: number;
  /** Pause once a worker has failed against every live endpoint in a row; default 10 ms. */
  roundBackoffMs?: number;
}

interface Pending {
  at: number;
  resolve: (gapMs: number) => void;
}

export class FailoverWriter {
  private readonly pools = new Map<string, Pool>();
  private live: string[];
  private running = false;
  private workers: Promise<void>[] = [];
  private pending: Pending | undefined;
  ok = 0;
  errors = 0;
  readonly errorKinds = new Map<string, number>();
  lastSuccessAt = 0;

  constructor(private readonly opts: FailoverWriterOptions) {
    this.live = [...opts.endpoints];
  }

  private pool(origin: string): Pool {
    let p = this.pools.get(origin);
    if (!p) {
      p = new Pool(origin, { connections: this.opts.concurrency, pipelining: 1 });
      this.pools.set(origin, p);
    }
    return p;
  }

  /** Stop sending to `origin` (the member was killed) and drop its connections. */
  removeEndpoint(origin: string): void {
    this.live = this.live.filter((o) => o !== origin);
    const p = this.pools.get(origin);
    this.pools.delete(origin);
    if (p) void p.destroy().catch(() => undefined);
  }

  addEndpoint(origin: string): void {
    if (!this.live.includes(origin)) this.live = [...this.live, origin];
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.workers = Array.from({ length: this.opts.concurrency }, (_, w) => this.work(w));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
    await Promise.all([...this.pools.values()].map((p) => p.destroy().catch(() => undefined)));
    this.pools.clear();
  }

  /**
   * Call immediately before the disruptive event. Resolves with the gap in ms (event → first
   * acknowledged request sent after the event), or `undefined` after `timeoutMs`.
   */
  markEvent(timeoutMs: number): { at: number; gap: Promise<number | undefined> } {
    const at = performance.now();
    const gap = new Promise<number | undefined>((resolve) => {
      const timer = setTimeout(() => {
        if (this.pending?.at === at) this.pending = undefined;
        resolve(undefined);
      }, timeoutMs);
      this.pending = {
        at,
        resolve: (g) => {
          clearTimeout(timer);
          resolve(g);
        },
      };
    });
    return { at, gap };
  }

  private async work(w: number): Promise<void> {
    let seq = 0;
    let cursor = w; // spread the workers over the members
    let failuresInRow = 0;
    while (this.running) {
      const live = this.live;
      if (live.length === 0) {
        await sleep(10);
        continue;
      }
      const origin = live[cursor % live.length];
      const spec = this.opts.makeRequest(w, seq++);
      const sentAt = performance.now();
      let success = false;
      try {
        const res = await this.pool(origin).request({
          path: spec.path,
          method: spec.method ?? 'POST',
          headers: spec.headers ?? { 'content-type': 'application/json' },
          body: spec.body,
          headersTimeout: this.opts.timeoutMs,
          bodyTimeout: this.opts.timeoutMs,
        });
        if (res.statusCode >= 200 && res.statusCode < 300) {
          await res.body.dump({ limit: 1 << 20 });
          success = true;
        } else {
          const text = await res.body.text();
          this.bump(httpErrorKind(res.statusCode, text));
        }
      } catch (err) {
        this.bump(errorKind(err));
      }
      const now = performance.now();
      if (success) {
        this.ok++;
        this.lastSuccessAt = now;
        failuresInRow = 0;
        const p = this.pending;
        if (p && sentAt >= p.at) {
          this.pending = undefined;
          p.resolve(now - p.at);
        }
      } else {
        this.errors++;
        cursor++; // retry against the next member
        failuresInRow++;
        if (failuresInRow >= Math.max(1, this.live.length)) {
          failuresInRow = 0;
          await sleep(this.opts.roundBackoffMs ?? 10);
        }
      }
    }
  }

  private bump(kind: string): void {
    this.errorKinds.set(kind, (this.errorKinds.get(kind) ?? 0) + 1);
  }
}
