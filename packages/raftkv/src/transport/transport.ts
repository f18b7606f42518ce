/**
 * The peer transport between raftkv members: TCP connections carrying length-prefixed msgpack
 * frames, authenticated with a shared cluster secret. Modelled on etcd's peer streams: each
 * member dials one connection per peer for the messages it sends (outbound.ts) and accepts
 * connections for the messages it receives (inbound.ts). Wire format: protocol.ts; handshake:
 * handshake.ts.
 *
 * Delivery is best effort, as Raft expects: messages may be dropped (queue overflow, connection
 * loss, a peer that is down), and every drop is reported through `onUnreachable` so Raft can
 * slow down and retransmit. Messages to one peer are never reordered.
 *
 * All callbacks run from the event loop, never synchronously inside `send()`/`setPeer()`/
 * `removePeer()`, so a callback may call back into the transport (or into Raft) safely. No
 * callback runs after `stop()` has been called.
 */
import net from 'node:net';
import type { Message, NodeId } from '../raft/types.js';
import { InboundConnection } from './inbound.js';
import type { InboundContext } from './inbound.js';
import { OutboundPeer } from './outbound.js';
import type { OutboundContext } from './outbound.js';
import { MAX_CHUNK_BYTES, isNetworkType } from './protocol.js';
import { messageBody } from './snapshot-body.js';
import type { SnapMessage, SnapshotBody } from './snapshot-body.js';

export interface TransportOptions {
  id: NodeId;
  /** Where to listen for peers, e.g. { host: '127.0.0.1', port: 2380 } (port 0 allowed). */
  listen: { host: string; port: number };
  /** Shared cluster secret; peers without it cannot connect (and cannot vote or append). */
  secret: string;
  /** Called for every message received from an authenticated peer, in arrival order per peer. */
  onMessage: (m: Message) => void;
  /** A send to `to` failed (no connection / queue overflow); Raft uses this to slow down. */
  onUnreachable?: (to: NodeId) => void;
  /** A snapshot to `to` was completely written (ok) or failed. */
  onSnapshotSent?: (to: NodeId, ok: boolean) => void;
  /** Round-trip time to a peer, measured with ping frames about once a second. */
  onRtt?: (peer: NodeId, seconds: number) => void;
  /** Structured warnings (auth failures, reconnects); never include the secret. */
  onLog?: (level: 'info' | 'warn', msg: string, fields: Record<string, unknown>) => void;
  /** Max queued messages per peer before new ones are dropped (Raft retransmits). Default 4096. */
  maxQueue?: number;
  /** Snapshot chunk size in bytes. Default 1 MiB. */
  snapshotChunkBytes?: number;
  /**
   * The bytes of a 'snap' message to send, for a member that keeps its snapshots on disk rather
   * than in the message. Default: the message's own snapshot.data. A rejection fails the transfer.
   */
  snapshotBody?: (m: SnapMessage) => Promise<SnapshotBody>;
}

export const DEFAULT_MAX_QUEUE = 4096;
export const DEFAULT_SNAPSHOT_CHUNK_BYTES = 1024 * 1024;

/** Thrown by the constructor and start() (and parsePeerUrl) for invalid arguments or states. */
export class TransportError extends Error {
  constructor(
    readonly code: 'TRANSPORT_INVALID' | 'TRANSPORT_STATE',
    message: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

function invalid(message: string): TransportError {
  return new TransportError('TRANSPORT_INVALID', message);
}

/** host and port of a peer URL like 'http://10.0.0.1:2380' (the scheme is ignored). */
export function parsePeerUrl(url: string): { host: string; port: number } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw invalid(`invalid peer URL ${JSON.stringify(url)}`);
  }
  const port = Number(u.port);
  if (u.port === '' || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw invalid(`peer URL ${JSON.stringify(url)} has no port`);
  }
  // URL keeps IPv6 literals bracketed; net.connect wants them bare.
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  if (host === '') throw invalid(`peer URL ${JSON.stringify(url)} has no host`);
  return { host, port };
}

type SnapCallback = NonNullable<TransportOptions['onSnapshotSent']>;

export class PeerTransport {
  private readonly id: NodeId;
  private readonly opts: TransportOptions;
  private readonly maxQueue: number;
  private readonly chunkBytes: number;
  private readonly peers = new Map<NodeId, OutboundPeer>();
  private readonly inbound = new Set<InboundConnection>();
  /** Every socket, inbound or outbound, not yet closed. */
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | null = null;
  private stopping: Promise<void> | null = null;
  /** Callbacks deferred to the next turn; unreachable reports are coalesced per peer. */
  private notifyImmediate: NodeJS.Immediate | null = null;
  private readonly pendingUnreachable = new Set<NodeId>();
  private readonly pendingSnapshots: Array<[NodeId, boolean]> = [];
  /** Destinations already warned about (unknown peer, local message types). */
  private readonly warned = new Set<string>();
  private readonly outboundCtx: OutboundContext;
  private readonly inboundCtx: InboundContext;

  constructor(opts: TransportOptions) {
    if (!Number.isSafeInteger(opts.id) || opts.id <= 0) throw invalid(`id must be a positive integer, got ${opts.id}`);
    if (typeof opts.secret !== 'string' || opts.secret.length === 0) throw invalid('secret must be a non-empty string');
    if (typeof opts.listen?.host !== 'string' || !Number.isInteger(opts.listen.port) || opts.listen.port < 0 || opts.listen.port > 65535) {
      throw invalid('listen must be { host, port } with 0 <= port <= 65535');
    }
    this.maxQueue = opts.maxQueue ?? DEFAULT_MAX_QUEUE;
    if (!Number.isSafeInteger(this.maxQueue) || this.maxQueue < 1) throw invalid(`maxQueue must be a positive integer, got ${opts.maxQueue}`);
    this.chunkBytes = opts.snapshotChunkBytes ?? DEFAULT_SNAPSHOT_CHUNK_BYTES;
    if (!Number.isSafeInteger(this.chunkBytes) || this.chunkBytes < 1 || this.chunkBytes > MAX_CHUNK_BYTES) {
      throw invalid(`snapshotChunkBytes must be between 1 and ${MAX_CHUNK_BYTES}, got ${opts.snapshotChunkBytes}`);
    }
    this.id = opts.id;
    this.opts = opts;
    const log = (level: 'info' | 'warn', msg: string, fields: Record<string, unknown>): void => this.log(level, msg, fields);
    this.outboundCtx = {
      self: this.id,
      secret: opts.secret,
      maxQueue: this.maxQueue,
      chunkBytes: this.chunkBytes,
      log,
      unreachable: (peer) => this.deferUnreachable(peer),
      snapshotSent: (peer, ok) => this.deferSnapshotSent(peer, ok),
      rtt: (peer, seconds) => {
        if (!this.stopping) this.guard('onRtt', () => opts.onRtt?.(peer, seconds));
      },
      snapshotBody: (m) => (opts.snapshotBody ? opts.snapshotBody(m) : Promise.resolve(messageBody(m))),
      track: (socket) => this.track(socket),
    };
    this.inboundCtx = {
      self: this.id,
      secret: opts.secret,
      log,
      deliver: (m) => {
        if (this.stopping) return;
        try {
          opts.onMessage(m);
        } catch (err) {
          // Keep the connection and its order intact; the host decides what a bad message means.
          this.log('warn', 'onMessage callback threw', { peer: m.from, type: m.type, err: err instanceof Error ? err.message : String(err) });
        }
      },
      authenticated: (conn) => {
        // A peer has one outbound connection at a time: an older one from it is dead.
        for (const other of this.inbound) {
          if (other !== conn && other.peer === conn.peer) other.destroy();
        }
      },
      closed: (conn) => this.inbound.delete(conn),
    };
  }

  /** Starts listening. Resolves with the bound port (useful with port 0). */
  async start(): Promise<{ port: number }> {
    if (this.stopping) throw new TransportError('TRANSPORT_STATE', 'transport is stopped');
    if (this.server) throw new TransportError('TRANSPORT_STATE', 'transport already started');
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen({ host: this.opts.listen.host, port: this.opts.listen.port }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (err: NodeJS.ErrnoException) => this.log('warn', 'peer listener error', { err: err.code ?? err.message }));
    const addr = server.address() as net.AddressInfo;
    this.log('info', 'listening for peers', { addr: `${addr.address}:${addr.port}` });
    return { port: addr.port };
  }

  /**
   * Sets or replaces the address of peer `id`. An unusable URL or id is logged and ignored rather
   * than thrown: addresses come from replicated membership entries, and a throw there would stop
   * every member replaying them. Validate user input up front with parsePeerUrl().
   */
  setPeer(id: NodeId, url: string): void {
    if (this.stopping || id === this.id) return;
    let addr: { host: string; port: number };
    try {
      if (!Number.isSafeInteger(id) || id <= 0) throw invalid(`peer id must be a positive integer, got ${id}`);
      addr = parsePeerUrl(url);
    } catch (err) {
      this.log('warn', 'ignoring unusable peer address', { peer: id, url, err: (err as Error).message });
      return;
    }
    const { host, port } = addr;
    const peer = this.peers.get(id);
    if (peer) peer.setAddress(host, port);
    else this.peers.set(id, new OutboundPeer(id, host, port, this.outboundCtx));
  }

  /** Forgets peer `id`: closes its connection, drops its queue (queued snapshots are reported failed). */
  removePeer(id: NodeId): void {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.peers.delete(id);
    peer.close(!this.stopping);
  }

  send(msgs: readonly Message[]): void {
    if (this.stopping) return;
    for (const m of msgs) {
      if (!isNetworkType(m.type)) {
        this.warnOnce(`local:${m.type}`, 'refusing to send a local-only message type', { type: m.type });
        continue;
      }
      const peer = m.to === this.id ? undefined : this.peers.get(m.to);
      if (!peer) {
        this.warnOnce(`unknown:${m.to}`, 'no address for peer; message dropped', { peer: m.to, type: m.type });
        this.deferUnreachable(m.to);
        if (m.type === 'snap') this.deferSnapshotSent(m.to, false);
        continue;
      }
      peer.enqueue(m);
    }
  }

  /**
   * Writes every peer's queued messages now instead of at the end of this event-loop turn: for a
   * caller about to block its thread, or whose messages are on a client's critical path.
   */
  flushNow(): void {
    for (const peer of this.peers.values()) peer.flushNow();
  }

  connectedPeers(): NodeId[] {
    const out: NodeId[] = [];
    for (const [id, peer] of this.peers) if (peer.isOpen()) out.push(id);
    return out;
  }

  /** Closes the listener and every connection, clears every timer. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    if (this.notifyImmediate) clearImmediate(this.notifyImmediate);
    this.notifyImmediate = null;
    this.pendingUnreachable.clear();
    this.pendingSnapshots.length = 0;
    for (const peer of this.peers.values()) peer.close(false);
    this.peers.clear();
    for (const conn of this.inbound) conn.destroy();
    const server = this.server;
    const closed = [...this.sockets].map(
      (s) => new Promise<void>((resolve) => (s.closed ? resolve() : s.once('close', () => resolve()))),
    );
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await Promise.all(closed);
  }

  private accept(socket: net.Socket): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    this.track(socket);
    this.inbound.add(new InboundConnection(socket, this.inboundCtx));
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  private deferUnreachable(peer: NodeId): void {
    if (this.stopping || !this.opts.onUnreachable) return;
    this.pendingUnreachable.add(peer);
    this.scheduleNotify();
  }

  private deferSnapshotSent(peer: NodeId, ok: boolean): void {
    if (this.stopping || !this.opts.onSnapshotSent) return;
    this.pendingSnapshots.push([peer, ok]);
    this.scheduleNotify();
  }

  private scheduleNotify(): void {
    this.notifyImmediate ??= setImmediate(() => {
      this.notifyImmediate = null;
      const unreachable = [...this.pendingUnreachable];
      const snaps = this.pendingSnapshots.splice(0);
      this.pendingUnreachable.clear();
      for (const peer of unreachable) {
        if (this.stopping) return;
        this.guard('onUnreachable', () => this.opts.onUnreachable?.(peer));
      }
      const onSnap = this.opts.onSnapshotSent as SnapCallback;
      for (const [peer, ok] of snaps) {
        if (this.stopping) return;
        this.guard('onSnapshotSent', () => onSnap(peer, ok));
      }
    });
  }

  /** Runs a user callback; an exception is logged rather than breaking the connection that called it. */
  private guard(name: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log('warn', `${name} callback threw`, { err: err instanceof Error ? err.message : String(err) });
    }
  }

  private warnOnce(key: string, msg: string, fields: Record<string, unknown>): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.log('warn', msg, fields);
  }

  private log(level: 'info' | 'warn', msg: string, fields: Record<string, unknown>): void {
    const onLog = this.opts.onLog;
    if (!onLog) return;
    try {
      onLog(level, msg, { component: 'transport', node: this.id, ...fields });
    } catch {
      // A logger must not break the transport.
    }
  }
}
