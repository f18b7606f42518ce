/**
 * POST /v3/watch: one watch per HTTP response, streamed as newline-delimited JSON objects
 * `{"result": WatchResponse}` (etcd's gateway framing). Order on the stream:
 *   1. `{"result":{header, watch_id, created:true}}` — header.revision is the revision the watch
 *      is synchronised to: without a start revision, events after it are reported;
 *   2. `{"result":{header, watch_id, events:[...]}}` — one line per revision, header.revision =
 *      that revision; a line with `events: []` is a progress notification: every event at or
 *      below header.revision has been sent.
 * A start revision at or below the compacted one gets a single
 * `{"result":{header, watch_id, created:true, canceled:true, compact_revision, cancel_reason}}`
 * and the stream ends. When the member ends a watch later (api.watch's onCancel), the stream
 * gets `{"result":{header, watch_id, canceled:true, cancel_reason, compact_revision?}}` and
 * ends. The server ends (or, for a consumer more than `bufferBytes` behind, destroys) a stream
 * when it closes; the client resumes from its last revision + 1.
 *
 * Cost per watch: one subscription, one closure, one close listener. Progress notifications
 * share one interval timer per server. Event JSON is cached per event object, so N watchers of
 * one prefix encode each event once.
 *
 * Contract assumed of RaftKvApi.watch: it throws (RaftKvError/KvError COMPACTED etc.) instead of
 * registering, may call onEvents synchronously (history replay) before returning, and delivers
 * every event of a revision <= header().revision before header() reports it (so a progress
 * notification never claims a revision whose events are still to come).
 */
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { WatchEvent } from '../../kv/types.js';
import type { RaftKvApi, WatchSubscription } from '../api.js';
import { RaftKvError } from '../api.js';
import { asApiError, COMPACTED_MESSAGE } from './errors.js';
import type { Json } from './wire.js';
import { decodeWatchCreate, encodeEvent, encodeHeader } from './wire.js';

export interface WatchStreamOptions {
  /** Interval of progress notifications for watches that ask for them, ms. */
  progressNotifyMs: number;
  /** A consumer with more than this many bytes unsent is disconnected (it resumes itself). */
  bufferBytes: number;
}

interface Stream {
  readonly res: ServerResponse;
  readonly watchId: string;
  readonly progress: boolean;
  sub: WatchSubscription | undefined;
  /** Events sent since the last progress tick (etcd sends progress only to idle watches). */
  busy: boolean;
  closed: boolean;
}

export class WatchStreams {
  private readonly streams = new Set<Stream>();
  private readonly progressStreams = new Set<Stream>();
  private ticker: NodeJS.Timeout | undefined;
  /** Encoded JSON of each event object; the store shares event objects among watchers. */
  private readonly encoded = new WeakMap<WatchEvent, string>();
  private closing = false;

  constructor(
    private readonly api: RaftKvApi,
    private readonly opts: WatchStreamOptions,
  ) {}

  /** Number of open watch streams. */
  get size(): number {
    return this.streams.size;
  }

  /**
   * Starts a watch for `body`. Errors before the stream starts (bad request, NOT_LEADER...)
   * are thrown for the ordinary error handler; COMPACTED is answered in-stream as etcd does.
   */
  handle(body: Json, reply: FastifyReply): void {
    const req = decodeWatchCreate(body);
    // Replayed history may arrive before api.watch returns: keep it until the stream exists.
    const pending: [WatchEvent[], number][] = [];
    let stream: Stream | undefined;
    const onEvents = (events: WatchEvent[], revision: number): void => {
      if (stream === undefined) pending.push([events, revision]);
      else this.write(stream, this.eventsLine(stream.watchId, events, revision), events.length > 0);
    };
    let cancelledEarly: RaftKvError | undefined;
    const onCancel = (err: RaftKvError): void => {
      if (stream === undefined) cancelledEarly = err;
      else this.cancelStream(stream, err);
    };
    let sub: WatchSubscription;
    try {
      sub = this.api.watch(req, onEvents, onCancel);
    } catch (err) {
      const e = asApiError(err);
      if (e?.code === 'COMPACTED') {
        const line = JSON.stringify({
          result: {
            header: encodeHeader(this.api.header()),
            watch_id: String(req.watchId ?? 0),
            created: true,
            canceled: true,
            compact_revision: String(e.compactRevision ?? 0),
            cancel_reason: COMPACTED_MESSAGE,
          },
        });
        void reply.header('content-type', 'application/json').send(line + '\n');
        return;
      }
      throw err;
    }
    if (this.closing) {
      sub.cancel();
      throw new RaftKvError('STOPPING', 'the server is shutting down');
    }
    const watchId = String(req.watchId || sub.id);
    reply.hijack();
    const res = reply.raw;
    const s: Stream = { res, watchId, progress: req.progressNotify === true, sub, busy: false, closed: false };
    // `connection: close`: a watch holds its connection for its lifetime; reuse buys nothing and
    // closing makes a server shutdown (which ends every stream) release the sockets at once.
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache', connection: 'close' });
    res.once('close', () => this.release(s));
    this.streams.add(s);
    if (s.progress) this.addProgress(s);
    const created = JSON.stringify({ result: { header: encodeHeader(this.api.header()), watch_id: s.watchId, created: true } });
    let data = created + '\n';
    for (const [events, revision] of pending) data += this.eventsLine(watchId, events, revision);
    stream = s;
    this.write(s, data, pending.length > 0);
    if (cancelledEarly !== undefined) this.cancelStream(s, cancelledEarly);
    // The client may have gone before the 'close' listener was attached.
    else if (res.destroyed || res.socket?.destroyed === true) this.release(s);
  }

  /** The member ended the watch (api.watch's onCancel): say why, then end the stream. */
  private cancelStream(s: Stream, err: RaftKvError): void {
    if (s.closed) return;
    const result: Json = { header: encodeHeader(this.api.header()), watch_id: s.watchId, canceled: true };
    if (err.code === 'COMPACTED') {
      result.compact_revision = String(err.compactRevision ?? 0);
      result.cancel_reason = COMPACTED_MESSAGE;
    } else {
      result.cancel_reason = err.message;
    }
    this.write(s, JSON.stringify({ result }) + '\n', false);
    this.release(s);
    s.res.end();
  }

  /** Ends every stream (server shutdown); clients resume elsewhere. */
  closeAll(): void {
    this.closing = true;
    for (const s of [...this.streams]) {
      this.release(s);
      s.res.end();
    }
    this.stopTicker();
  }

  private eventsLine(watchId: string, events: WatchEvent[], revision: number): string {
    let evs = '';
    for (let i = 0; i < events.length; i++) {
      const ev = events[i];
      let enc = this.encoded.get(ev);
      if (enc === undefined) {
        enc = JSON.stringify(encodeEvent(ev));
        if (Object.isFrozen(ev)) this.encoded.set(ev, enc);
      }
      evs = i === 0 ? enc : evs + ',' + enc;
    }
    const header = JSON.stringify(encodeHeader(this.api.header(), revision));
    return `{"result":{"header":${header},"watch_id":"${watchId}","events":[${evs}]}}\n`;
  }

  private write(s: Stream, data: string, events: boolean): void {
    if (s.closed) return;
    if (events) s.busy = true;
    s.res.write(data);
    if (s.res.writableLength > this.opts.bufferBytes) {
      // Too far behind: drop the connection rather than buffer without bound. The client
      // resumes from the last revision it received, so nothing is lost or repeated.
      this.release(s);
      s.res.destroy();
    }
  }

  private release(s: Stream): void {
    if (s.closed) return;
    s.closed = true;
    s.sub?.cancel();
    s.sub = undefined;
    this.streams.delete(s);
    if (this.progressStreams.delete(s) && this.progressStreams.size === 0) this.stopTicker();
  }

  private addProgress(s: Stream): void {
    this.progressStreams.add(s);
    if (this.ticker === undefined) {
      this.ticker = setInterval(() => this.tick(), this.opts.progressNotifyMs);
      this.ticker.unref();
    }
  }

  private stopTicker(): void {
    if (this.ticker !== undefined) clearInterval(this.ticker);
    this.ticker = undefined;
  }

  private tick(): void {
    const h = this.api.header();
    const header = JSON.stringify(encodeHeader(h));
    for (const s of this.progressStreams) {
      if (s.busy) {
        s.busy = false;
        continue;
      }
      this.write(s, `{"result":{"header":${header},"watch_id":"${s.watchId}","events":[]}}\n`, false);
    }
  }
}
