/**
 * The sending side towards one peer: a bounded FIFO of messages and at most one dialed,
 * authenticated TCP connection that carries them.
 *
 * Lifecycle: idle → (first send) connecting → open → (error) backoff → connecting → …
 * Once a connection has been tried, the peer is redialled with exponential backoff (50 ms
 * doubling to 2 s, with jitter) until it is removed, so `connectedPeers()` recovers on its own.
 *
 * Contracts:
 * - Messages leave in the order they were enqueued. All messages enqueued in one event-loop turn
 *   go out in one flush: one corked write of as few BATCH frames as the size limits allow.
 * - The queue never holds more than `maxQueue` messages; beyond that new messages are dropped
 *   and the peer reported unreachable. When a connection attempt fails, every queued message
 *   except snapshots is dropped and the peer reported unreachable (Raft retransmits).
 * - Each 'snap' message ends in exactly one `snapshotSent(peer, ok)` report (unless the
 *   transport is stopped first): true once its last chunk has been handed to the kernel.
 * - The socket's buffered bytes stay under SOCKET_BUFFER_LIMIT: beyond it, flushing waits for
 *   'drain' and messages wait in the (bounded) queue.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Message, NodeId } from '../raft/types.js';
import { FrameDecoder, FrameTooLargeError, frameHeader } from './frames.js';
import { drained, untilWritten, write, writeFrame } from './io.js';
import type { SnapMessage, SnapshotBody } from './snapshot-body.js';
import { HANDSHAKE_TIMEOUT_MS, authFrame, checkAuthOk, dialerMac, newChallenge, parseHello } from './handshake.js';
import {
  CHUNK_PAYLOAD_OVERHEAD,
  FrameKind,
  KEEPALIVE_MS,
  MAX_CONTROL_FRAME_BYTES,
  chunkPayloadHeader,
  decode,
  encode,
  encodeBatches,
  encodeSnapBegin,
  estimateBytes,
} from './protocol.js';

export const MIN_BACKOFF_MS = 50;
export const MAX_BACKOFF_MS = 2_000;
export const PING_INTERVAL_MS = 1_000;
/** A connection whose ping has gone unanswered this long (outside snapshot transfers) is closed. */
export const PING_TIMEOUT_MS = 10_000;
/** Bytes buffered in the socket above which flushing waits for 'drain'. */
export const SOCKET_BUFFER_LIMIT = 4 * 1024 * 1024;
/** Estimated bytes of messages packed into one BATCH frame. */
const BATCH_TARGET_BYTES = 1024 * 1024;


/** What an OutboundPeer needs from its transport. */
export interface OutboundContext {
  readonly self: NodeId;
  readonly secret: string;
  readonly maxQueue: number;
  readonly chunkBytes: number;
  log(level: 'info' | 'warn', msg: string, fields: Record<string, unknown>): void;
  /** Deferred and coalesced by the transport; never called synchronously from enqueue(). */
  unreachable(peer: NodeId): void;
  snapshotSent(peer: NodeId, ok: boolean): void;
  rtt(peer: NodeId, seconds: number): void;
  /** The bytes of a snapshot to send (the message's own, unless the transport was given a source). */
  snapshotBody(m: SnapMessage): Promise<SnapshotBody>;
  /** Registers a socket so the transport can close it on stop. */
  track(socket: net.Socket): void;
}

export class OutboundPeer {
  /** FIFO of messages not yet written. Invariant: length <= ctx.maxQueue. */
  private queue: Message[] = [];
  /** The current connection (connecting, handshaking or open), or null. */
  private socket: net.Socket | null = null;
  /** Invariant: open implies socket !== null and the handshake succeeded on it. */
  private open = false;
  /** A snapshot is being written on `socket`; other messages wait behind it. */
  private streaming = false;
  /** Current reconnect backoff; 0 until a connection attempt fails or a short-lived connection ends. */
  private backoffMs = 0;
  /** performance.now() when the current connection opened. */
  private openedAt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private handshakeTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private flushImmediate: NodeJS.Immediate | null = null;
  /** performance.now() of the unanswered ping, or null. */
  private pingSentAt: number | null = null;
  /** Set by close(): the peer was removed or the transport stopped. */
  private closed = false;
  /** Why the last attempt failed, or null after a success; suppresses repeated warnings. */
  private lastFailure: string | null = null;
  private overflowing = false;

  constructor(
    readonly id: NodeId,
    private host: string,
    private port: number,
    private readonly ctx: OutboundContext,
  ) {}

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  isOpen(): boolean {
    return this.open;
  }

  /** Number of queued messages (not yet written to the socket). */
  get queued(): number {
    return this.queue.length;
  }

  /** Points the peer at a new address; an existing connection to the old one is closed. */
  setAddress(host: string, port: number): void {
    if (host === this.host && port === this.port) return;
    const old = this.address;
    this.host = host;
    this.port = port;
    this.ctx.log('info', 'peer address changed', { peer: this.id, from: old, addr: this.address });
    if (this.socket) this.socket.destroy();
    else if (this.reconnectTimer) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
      this.backoffMs = 0;
      this.connect();
    }
  }

  enqueue(m: Message): void {
    if (this.closed) return;
    if (this.queue.length >= this.ctx.maxQueue) {
      if (!this.overflowing) {
        this.overflowing = true;
        this.ctx.log('warn', 'peer send queue full; dropping messages', { peer: this.id, maxQueue: this.ctx.maxQueue });
      }
      this.ctx.unreachable(this.id);
      if (m.type === 'snap') this.ctx.snapshotSent(this.id, false);
      return;
    }
    this.queue.push(m);
    if (this.open) this.scheduleFlush();
    else if (this.socket === null && this.reconnectTimer === null) this.connect();
  }

  /** Closes the connection and clears every timer. Queued snapshots are reported failed when `reportSnapshots`. */
  close(reportSnapshots: boolean): void {
    if (this.closed) return;
    this.closed = true;
    if (reportSnapshots) for (const m of this.queue) if (m.type === 'snap') this.ctx.snapshotSent(this.id, false);
    this.queue = [];
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.flushImmediate) clearImmediate(this.flushImmediate);
    this.reconnectTimer = null;
    this.flushImmediate = null;
    this.clearConnectionTimers();
    this.socket?.destroy();
  }

  private clearConnectionTimers(): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.handshakeTimer = null;
    this.pingTimer = null;
    this.pingSentAt = null;
  }

  private connect(): void {
    const socket = net.connect({ host: this.host, port: this.port });
    this.socket = socket;
    this.open = false;
    this.ctx.track(socket);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_MS);
    const decoder = new FrameDecoder(MAX_CONTROL_FRAME_BYTES);
    const challenge = newChallenge();
    let stage: 'hello' | 'ack' | 'open' = 'hello';
    let failure: { reason: string; fields?: Record<string, unknown> } | null = null;
    const fail = (reason: string, fields?: Record<string, unknown>): false => {
      failure ??= fields ? { reason, fields } : { reason };
      socket.destroy();
      return false;
    };
    this.handshakeTimer = setTimeout(() => fail('handshake timed out'), HANDSHAKE_TIMEOUT_MS);

    const onFrame = (payload: Buffer): boolean => {
      if (socket.destroyed || this.socket !== socket) return false;
      let f: unknown[];
      try {
        f = decode(payload);
      } catch (err) {
        return fail('undecodable frame from peer', { err: String(err) });
      }
      switch (stage) {
        case 'hello': {
          const r = parseHello(f);
          if (!r.ok) return fail(r.reason, r.fields);
          const mac = dialerMac(this.ctx.secret, this.ctx.self, this.id, r.value);
          writeFrame(socket, authFrame(this.ctx.self, this.id, mac, challenge));
          stage = 'ack';
          return true;
        }
        case 'ack': {
          const r = checkAuthOk(f, this.ctx.secret, challenge);
          if (!r.ok) return fail(r.reason, r.fields);
          stage = 'open';
          this.onOpen(socket);
          return true;
        }
        case 'open':
          if (f[0] === FrameKind.PONG) {
            this.onPong();
            return true;
          }
          return fail('unexpected frame from peer', { kind: f[0] });
      }
    };

    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk, onFrame);
      } catch (err) {
        if (err instanceof FrameTooLargeError) fail('oversized frame from peer', { bytes: err.length, max: err.max });
        else fail('frame handling failed', { err: String(err) });
      }
    });
    socket.on('drain', () => {
      if (this.socket === socket) this.scheduleFlush();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      failure ??= { reason: 'socket error', fields: { err: err.code ?? err.message } };
    });
    socket.on('close', () => this.onClose(socket, failure));
  }

  private onOpen(socket: net.Socket): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    this.open = true;
    this.openedAt = performance.now();
    this.lastFailure = null;
    this.ctx.log('info', 'connected to peer', { peer: this.id, addr: this.address });
    this.pingTimer = setInterval(() => this.ping(socket), PING_INTERVAL_MS);
    this.scheduleFlush();
  }

  private onClose(socket: net.Socket, failure: { reason: string; fields?: Record<string, unknown> } | null): void {
    if (this.socket !== socket) return;
    const wasOpen = this.open;
    this.socket = null;
    this.open = false;
    this.clearConnectionTimers();
    if (this.flushImmediate) clearImmediate(this.flushImmediate);
    this.flushImmediate = null;
    if (this.closed) return;
    const fields = { peer: this.id, addr: this.address, reason: failure?.reason ?? 'closed by peer', ...failure?.fields };
    if (wasOpen) {
      // Back off from scratch only after a connection that lasted: a peer that accepts and then
      // drops us at once (e.g. two members configured with one id) must not be redialled in a loop.
      if (performance.now() - this.openedAt > MAX_BACKOFF_MS) this.backoffMs = 0;
      // Whatever was in the socket's buffers may be lost.
      this.ctx.log('warn', 'lost connection to peer', fields);
      this.ctx.unreachable(this.id);
    } else {
      // One warning per streak of failures with the same cause, not one per retry.
      if (this.lastFailure !== fields.reason) this.ctx.log('warn', 'cannot connect to peer', fields);
      this.lastFailure = fields.reason;
      if (this.queue.length > 0) {
        this.queue = this.queue.filter((m) => m.type === 'snap');
        this.ctx.unreachable(this.id);
      }
    }
    this.overflowing = false;
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    this.backoffMs = this.backoffMs === 0 ? MIN_BACKOFF_MS : Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    const delay = this.backoffMs / 2 + Math.random() * (this.backoffMs / 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.closed && this.socket === null) this.connect();
    }, delay);
  }

  private scheduleFlush(): void {
    if (this.flushImmediate !== null || !this.open) return;
    this.flushImmediate = setImmediate(() => {
      this.flushImmediate = null;
      this.flush();
    });
  }

  /** Writes what is queued now rather than at the end of this event-loop turn. */
  flushNow(): void {
    if (this.flushImmediate === null) return;
    clearImmediate(this.flushImmediate);
    this.flushImmediate = null;
    this.flush();
  }

  /** Writes queued messages up to the first snapshot or until the socket buffer is full. */
  private flush(): void {
    const socket = this.socket;
    // A socket destroyed under a failed snapshot stream is open until its 'close' event: leave
    // the queue for the next connection rather than write into it.
    if (socket === null || !this.open || this.streaming || socket.destroyed) return;
    if (socket.writableLength >= SOCKET_BUFFER_LIMIT) return; // 'drain' reschedules
    socket.cork();
    try {
      while (this.queue.length > 0 && this.queue[0].type !== 'snap' && socket.writableLength < SOCKET_BUFFER_LIMIT) {
        const batch = this.takeBatch();
        const payloads = encodeBatches(batch, (m, bytes) => {
          this.ctx.log('warn', 'message too large for a frame; dropped', { peer: this.id, type: m.type, bytes });
          this.ctx.unreachable(this.id);
        });
        for (const p of payloads) writeFrame(socket, p);
      }
    } finally {
      socket.uncork();
    }
    if (this.queue.length < this.ctx.maxQueue) this.overflowing = false;
    const head = this.queue[0];
    if (head !== undefined && head.type === 'snap' && socket.writableLength < SOCKET_BUFFER_LIMIT) {
      this.queue.shift();
      void this.streamSnapshot(socket, head);
    }
  }

  /** Removes and returns the longest prefix of non-snapshot messages within the batch target. */
  private takeBatch(): Message[] {
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length && this.queue[n].type !== 'snap') {
      bytes += estimateBytes(this.queue[n]);
      n++;
      if (bytes >= BATCH_TARGET_BYTES) break;
    }
    if (n === this.queue.length) {
      const all = this.queue;
      this.queue = [];
      return all;
    }
    return this.queue.splice(0, n);
  }

  /**
   * Writes one snapshot as SNAP_BEGIN and SNAP_CHUNK frames, waiting for 'drain' between chunks
   * so at most about one chunk is buffered. Never rejects.
   */
  private async streamSnapshot(socket: net.Socket, m: SnapMessage): Promise<void> {
    this.streaming = true;
    this.pingSentAt = null;
    let ok = false;
    let begun = false;
    let body: SnapshotBody | undefined;
    let failure: unknown;
    try {
      body = await this.ctx.snapshotBody(m);
      if (this.socket !== socket || !this.open) throw new Error('connection closed before the transfer began');
      begun = true;
      let last = writeFrame(socket, encodeSnapBegin(m, body.byteLength));
      let sent = 0;
      for await (const piece of body.pieces(this.ctx.chunkBytes)) {
        if (!last.flushed) await drained(socket);
        if (sent + piece.byteLength > body.byteLength) throw new Error(`snapshot data runs past its announced ${body.byteLength} bytes`);
        socket.cork();
        socket.write(frameHeader(CHUNK_PAYLOAD_OVERHEAD + piece.byteLength));
        socket.write(chunkPayloadHeader(piece.byteLength));
        last = write(socket, piece);
        socket.uncork();
        sent += piece.byteLength;
      }
      if (sent !== body.byteLength) throw new Error(`snapshot data ended after ${sent} of ${body.byteLength} bytes`);
      await untilWritten(socket, last.done);
      ok = this.socket === socket && this.open;
    } catch (err) {
      ok = false;
      failure = err;
      // The peer is waiting for chunks that will not come, and would read the next frame as one:
      // only a new connection resets the stream.
      if (begun) socket.destroy();
    } finally {
      this.streaming = false;
      await body?.close().catch((err: unknown) => this.ctx.log('warn', 'closing a snapshot body failed', { peer: this.id, err: (err as Error).message }));
    }
    const fields = { peer: this.id, index: m.snapshot.metadata.index, bytes: body?.byteLength };
    if (!ok) {
      this.ctx.log('warn', 'snapshot transfer to peer failed', failure instanceof Error ? { ...fields, err: failure.message } : fields);
    } else {
      this.ctx.log('info', 'snapshot sent to peer', fields);
    }
    this.ctx.snapshotSent(this.id, ok);
    // Also when a new connection opened meanwhile: its first flush found us streaming and left
    // the queue alone. scheduleFlush itself waits for an open connection.
    this.scheduleFlush();
  }

  private ping(socket: net.Socket): void {
    if (this.socket !== socket || !this.open) return;
    if (this.streaming) return;
    const now = performance.now();
    if (this.pingSentAt !== null) {
      if (now - this.pingSentAt > PING_TIMEOUT_MS) {
        this.ctx.log('warn', 'peer stopped answering pings; reconnecting', { peer: this.id, addr: this.address });
        socket.destroy();
      }
      return;
    }
    this.pingSentAt = now;
    writeFrame(socket, encode([FrameKind.PING, 0]));
  }

  private onPong(): void {
    if (this.pingSentAt === null) return;
    const seconds = (performance.now() - this.pingSentAt) / 1000;
    this.pingSentAt = null;
    this.ctx.rtt(this.id, seconds);
  }
}
