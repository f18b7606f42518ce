/**
 * A client watch: one POST /v3/watch stream at a time, resumed on another endpoint after a
 * disconnect from `lastRevision + 1`, so the consumer sees every revision's events exactly once
 * and in order.
 *
 * Invariant: every event with revision <= `lastRev` has been handed to `onEvents` (or was before
 * the watch's start). Events at or below it that a resumed stream repeats are dropped.
 */
import type { Pool } from 'undici';
import type { WatchEvent, WatchFilter } from '../kv/types.js';
import { RaftKvError } from '../server/api.js';
import { decodeEvent, decodeHeader, decodeInt, encodeWatchCreate } from '../server/http/wire.js';
import { errorFromResponse, transportError } from './errors.js';

export interface WatchOptions {
  /** Watch every key with `key` as prefix. */
  prefix?: boolean;
  /** Watch [key, rangeEnd) (overrides prefix). */
  rangeEnd?: string | Uint8Array;
  /** First revision to report (0/absent: changes after now). */
  startRevision?: number;
  prevKv?: boolean;
  /** Ask for progress notifications: onEvents([], revision) when idle. */
  progressNotify?: boolean;
  filters?: WatchFilter[];
  /** Events of one revision, in order; an empty list is a progress notification. */
  onEvents: (events: WatchEvent[], revision: number) => void;
  /** The watch stopped for good: COMPACTED (resume point compacted), INVALID, or an
   *  exception thrown by onEvents (then `cause` holds it). Not called after cancel(). */
  onError?: (err: RaftKvError) => void;
  signal?: AbortSignal;
}

export interface WatchHandle {
  cancel(): void;
  /** Resolves when the server has created the watch; rejects if it fails before that. */
  ready: Promise<void>;
}

/** What a watch needs from the client. */
export interface WatchHost {
  readonly timeoutMs: number;
  pick(): Promise<number>;
  endpointAt(i: number): { url: string; pool: Pool };
  failed(i: number, err?: RaftKvError): void;
  removeWatch(w: ClientWatch): void;
}

const HEADERS = { 'content-type': 'application/json' };

export class ClientWatch implements WatchHandle {
  readonly ready: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (err: RaftKvError) => void;
  private created = false;
  private stopped = false;
  private lastRev: number | undefined;
  private ac: AbortController | undefined;
  private wake: (() => void) | undefined;
  private readonly onAbort = (): void => this.cancel();

  constructor(
    private readonly host: WatchHost,
    private readonly key: Uint8Array,
    private readonly rangeEnd: Uint8Array | undefined,
    private readonly opts: WatchOptions,
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // The caller may ignore `ready`; its rejection must not become an unhandled one.
    this.ready.catch(() => undefined);
    if (opts.startRevision !== undefined && opts.startRevision > 0) this.lastRev = opts.startRevision - 1;
  }

  start(): void {
    if (this.opts.signal?.aborted) {
      this.cancel();
      return;
    }
    this.opts.signal?.addEventListener('abort', this.onAbort, { once: true });
    void this.run();
  }

  cancel(): void {
    if (this.stopped) return;
    this.stop();
    this.rejectReady(new RaftKvError('STOPPING', 'watch cancelled'));
  }

  private stop(): void {
    this.stopped = true;
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    this.ac?.abort();
    this.wake?.();
    this.host.removeWatch(this);
  }

  private fail(err: RaftKvError): void {
    if (this.stopped) return;
    this.stop();
    this.rejectReady(err);
    if (this.opts.onError) this.opts.onError(err);
  }

  private async run(): Promise<void> {
    let delay = 50;
    const firstDeadline = Date.now() + this.host.timeoutMs * 2;
    let lastErr: RaftKvError | undefined;
    while (!this.stopped) {
      let i = -1;
      try {
        i = await this.host.pick();
        if (this.stopped) return;
        const progressed = await this.once(i);
        if (progressed) delay = 50;
        lastErr = undefined;
      } catch (err) {
        if (this.stopped) return;
        if (err instanceof RaftKvError && err.code !== 'NO_LEADER' && err.code !== 'NOT_LEADER' && err.code !== 'STOPPING' && err.code !== 'TIMEOUT') {
          this.fail(err);
          return;
        }
        lastErr = err instanceof RaftKvError ? err : transportError(err, i >= 0 ? this.host.endpointAt(i).url : '?', false);
      }
      if (this.stopped) return;
      if (i >= 0) this.host.failed(i, lastErr);
      if (!this.created && Date.now() + delay > firstDeadline) {
        this.fail(lastErr ?? new RaftKvError('NO_LEADER', 'watch: no endpoint answered'));
        return;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
      delay = Math.min(delay * 2, 500);
    }
  }

  /** One stream. Resolves when it ends (true if it delivered anything); throws on failure. */
  private async once(i: number): Promise<boolean> {
    const ep = this.host.endpointAt(i);
    const ac = new AbortController();
    this.ac = ac;
    const start = this.lastRev === undefined ? this.opts.startRevision : this.lastRev + 1;
    const body = JSON.stringify(
      encodeWatchCreate({
        key: this.key,
        rangeEnd: this.rangeEnd,
        startRevision: start,
        prevKv: this.opts.prevKv,
        progressNotify: this.opts.progressNotify,
        filters: this.opts.filters,
      }),
    );
    const res = await ep.pool.request({
      path: '/v3/watch',
      method: 'POST',
      headers: HEADERS,
      body,
      signal: ac.signal,
      headersTimeout: this.host.timeoutMs,
      bodyTimeout: 0,
    });
    if (res.statusCode !== 200) throw errorFromResponse(res.statusCode, await res.body.text());
    res.body.setEncoding('utf8');
    let buf = '';
    let progressed = false;
    for await (const chunk of res.body as AsyncIterable<string>) {
      let from = 0;
      let nl = chunk.indexOf('\n');
      while (nl >= 0) {
        const line = buf.length > 0 ? buf + chunk.slice(from, nl) : chunk.slice(from, nl);
        buf = '';
        from = nl + 1;
        if (line.length > 0) {
          if (!this.handleLine(line)) {
            ac.abort();
            return true;
          }
          progressed = true;
        }
        nl = chunk.indexOf('\n', from);
      }
      if (from < chunk.length) buf += chunk.slice(from);
    }
    return progressed;
  }

  /** Returns false when the stream should be dropped (canceled by the server). */
  private handleLine(line: string): boolean {
    if (this.stopped) return false;
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new RaftKvError('TIMEOUT', `watch: malformed line from server: ${line.slice(0, 100)}`);
    }
    if (msg.error !== undefined && msg.result === undefined) {
      const e = msg.error;
      throw errorFromResponse(0, JSON.stringify(typeof e === 'object' ? e : msg));
    }
    const r = (typeof msg.result === 'object' && msg.result !== null ? msg.result : msg) as Record<string, unknown>;
    const header = decodeHeader(r.header);
    if (r.canceled === true) {
      const compactRevision = decodeInt(r.compact_revision);
      if (compactRevision > 0) {
        const from = this.lastRev === undefined ? this.opts.startRevision ?? 0 : this.lastRev + 1;
        this.fail(
          new RaftKvError('COMPACTED', `watch: revision ${from} has been compacted (compact revision ${compactRevision})`, { compactRevision }),
        );
      }
      return false;
    }
    if (r.created === true) {
      if (this.lastRev === undefined) this.lastRev = header.revision;
      if (!this.created) {
        this.created = true;
        this.resolveReady();
      }
      return true;
    }
    const raw = Array.isArray(r.events) ? r.events : [];
    if (raw.length === 0) {
      // Progress: every event up to header.revision has been sent.
      if (this.lastRev === undefined || header.revision > this.lastRev) this.lastRev = header.revision;
      if (this.opts.progressNotify) this.deliver([], header.revision);
      return true;
    }
    const events: WatchEvent[] = [];
    let rev = this.lastRev ?? 0;
    for (const e of raw) {
      const ev = decodeEvent(e);
      if (this.lastRev !== undefined && ev.kv.modRevision <= this.lastRev) continue;
      events.push(ev);
      if (ev.kv.modRevision > rev) rev = ev.kv.modRevision;
    }
    if (events.length === 0) return true;
    this.lastRev = rev;
    this.deliver(events, rev);
    return true;
  }

  private deliver(events: WatchEvent[], revision: number): void {
    try {
      this.opts.onEvents(events, revision);
    } catch (err) {
      const e = new RaftKvError('INVALID', `watch: onEvents threw: ${err instanceof Error ? err.message : String(err)}`);
      e.cause = err;
      this.fail(e);
    }
  }
}
