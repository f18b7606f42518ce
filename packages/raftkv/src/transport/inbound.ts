/**
 * The receiving side of one accepted connection: the acceptor half of the handshake, then
 * decoding of BATCH frames, reassembly of snapshots from SNAP_BEGIN/SNAP_CHUNK frames, and
 * answering pings.
 *
 * Contracts:
 * - Nothing is delivered before the handshake succeeds; a failed handshake closes the socket.
 * - Messages are delivered in the order they arrive on the connection. A message whose `from`
 *   is not the authenticated peer, whose `to` is not this member, or whose type is local-only is
 *   dropped (with one warning per connection and reason).
 * - A snapshot is delivered as one 'snap' message once all its bytes have arrived.
 * - Until authentication only tiny frames are accepted, so an unauthenticated client cannot make
 *   this member allocate a large buffer.
 */
import type net from 'node:net';
import { constants as bufferConstants } from 'node:buffer';
import type { Message, NodeId } from '../raft/types.js';
import { FrameDecoder, FrameTooLargeError } from './frames.js';
import { HANDSHAKE_TIMEOUT_MS, checkAuth, helloFrame, newChallenge } from './handshake.js';
import { writeFrame } from './io.js';
import { FrameKind, KEEPALIVE_MS, MAX_CONTROL_FRAME_BYTES, MAX_FRAME_BYTES, decode, encode, rejectReason } from './protocol.js';

type SnapMessage = Extract<Message, { type: 'snap' }>;

/** What an InboundConnection needs from its transport. */
export interface InboundContext {
  readonly self: NodeId;
  readonly secret: string;
  log(level: 'info' | 'warn', msg: string, fields: Record<string, unknown>): void;
  deliver(m: Message): void;
  /** The connection authenticated as `peer`. */
  authenticated(conn: InboundConnection): void;
  closed(conn: InboundConnection): void;
}

interface Reassembly {
  readonly head: SnapMessage;
  readonly data: Uint8Array;
  filled: number;
}

export class InboundConnection {
  /** The authenticated peer, or null during the handshake. */
  peer: NodeId | null = null;
  private readonly decoder = new FrameDecoder(MAX_CONTROL_FRAME_BYTES);
  private readonly challenge = newChallenge();
  private handshakeTimer: NodeJS.Timeout | null;
  private snapshot: Reassembly | null = null;
  private failure: { reason: string; fields?: Record<string, unknown> } | null = null;
  /** Drop reasons already warned about on this connection. */
  private readonly warned = new Set<string>();
  readonly remote: string;

  constructor(
    readonly socket: net.Socket,
    private readonly ctx: InboundContext,
  ) {
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_MS);
    this.handshakeTimer = setTimeout(() => this.fail('handshake timed out'), HANDSHAKE_TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.decoder.push(chunk, (f) => this.onFrame(f));
      } catch (err) {
        if (err instanceof FrameTooLargeError) this.fail('oversized frame from peer', { bytes: err.length, max: err.max });
        else this.fail('frame handling failed', { err: String(err) });
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.failure ??= { reason: 'socket error', fields: { err: err.code ?? err.message } };
    });
    socket.on('close', () => {
      if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
      this.handshakeTimer = null;
      if (this.failure) {
        this.ctx.log('warn', `closed peer connection: ${this.failure.reason}`, { peer: this.peer ?? undefined, remote: this.remote, ...this.failure.fields });
      }
      this.snapshot = null;
      this.ctx.closed(this);
    });
    writeFrame(socket, helloFrame(this.challenge));
  }

  destroy(): void {
    this.socket.destroy();
  }

  private fail(reason: string, fields?: Record<string, unknown>): false {
    this.failure ??= fields ? { reason, fields } : { reason };
    this.socket.destroy();
    return false;
  }

  private onFrame(payload: Buffer): boolean {
    if (this.socket.destroyed) return false;
    let f: unknown[];
    try {
      f = decode(payload);
    } catch (err) {
      return this.fail('undecodable frame from peer', { err: String(err) });
    }
    if (this.peer === null) return this.onHandshake(f);
    switch (f[0]) {
      case FrameKind.BATCH:
        if (this.snapshot) return this.fail('messages interleaved with a snapshot');
        if (!Array.isArray(f[1])) return this.fail('malformed BATCH');
        for (const m of f[1] as unknown[]) {
          this.receive(m);
          if (this.socket.destroyed) return false;
        }
        return true;
      case FrameKind.SNAP_BEGIN:
        return this.beginSnapshot(f[1], f[2]);
      case FrameKind.SNAP_CHUNK:
        return this.snapshotChunk(f[1]);
      case FrameKind.PING:
        writeFrame(this.socket, encode([FrameKind.PONG, f[1] ?? 0]));
        return true;
      default:
        return this.fail('unexpected frame from peer', { kind: f[0] });
    }
  }

  private onHandshake(f: unknown[]): boolean {
    const r = checkAuth(f, this.ctx.secret, this.ctx.self, this.challenge);
    if (!r.ok) return this.fail(r.reason, r.fields);
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    this.peer = r.value.peer;
    this.decoder.max = MAX_FRAME_BYTES;
    writeFrame(this.socket, r.value.reply);
    this.ctx.authenticated(this);
    return true;
  }

  private receive(m: unknown): void {
    const peer = this.peer as NodeId;
    const why = rejectReason(m, peer, this.ctx.self);
    if (why !== null) {
      if (!this.warned.has(why)) {
        this.warned.add(why);
        const type = typeof m === 'object' && m !== null ? (m as { type?: unknown }).type : undefined;
        this.ctx.log('warn', `dropped message from peer: ${why}`, { peer, type });
      }
      return;
    }
    this.ctx.deliver(m as Message);
  }

  private beginSnapshot(head: unknown, bytes: unknown): boolean {
    if (this.snapshot) return this.fail('snapshot begun inside another');
    const peer = this.peer as NodeId;
    const why = rejectReason(head, peer, this.ctx.self);
    const meta = (head as { type?: unknown; snapshot?: { metadata?: unknown } } | null)?.snapshot?.metadata;
    if (why !== null || (head as { type: string }).type !== 'snap' || typeof meta !== 'object' || meta === null) {
      return this.fail('malformed SNAP_BEGIN', { why });
    }
    if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0 || bytes > bufferConstants.MAX_LENGTH) {
      return this.fail('malformed snapshot size', { bytes });
    }
    let data: Uint8Array;
    try {
      data = new Uint8Array(bytes);
    } catch (err) {
      return this.fail('cannot allocate snapshot buffer', { bytes, err: String(err) });
    }
    const s: Reassembly = { head: head as SnapMessage, data, filled: 0 };
    if (bytes === 0) this.finishSnapshot(s);
    else this.snapshot = s;
    return true;
  }

  private snapshotChunk(piece: unknown): boolean {
    const s = this.snapshot;
    if (s === null) return this.fail('snapshot chunk without SNAP_BEGIN');
    if (!(piece instanceof Uint8Array) || piece.byteLength === 0 || s.filled + piece.byteLength > s.data.byteLength) {
      return this.fail('malformed snapshot chunk');
    }
    s.data.set(piece, s.filled);
    s.filled += piece.byteLength;
    if (s.filled === s.data.byteLength) {
      this.snapshot = null;
      this.finishSnapshot(s);
    }
    return !this.socket.destroyed;
  }

  private finishSnapshot(s: Reassembly): void {
    const m: SnapMessage = { ...s.head, snapshot: { metadata: s.head.snapshot.metadata, data: s.data } };
    this.ctx.deliver(m);
  }
}
