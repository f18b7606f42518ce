import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Message, NodeId, Snapshot } from '../raft/types.js';
import { FrameDecoder, frameHeader } from './frames.js';
import { authFrame, dialerMac, helloFrame, newChallenge, parseHello } from './handshake.js';
import { OutboundPeer } from './outbound.js';
import type { OutboundContext } from './outbound.js';
import { FrameKind, decode, encode } from './protocol.js';
import { messageBody } from './snapshot-body.js';
import type { SnapshotBody } from './snapshot-body.js';
import { PeerTransport, parsePeerUrl } from './transport.js';
import type { TransportOptions } from './transport.js';

const HOST = '127.0.0.1';
const SECRET = 'test-cluster-secret-0123456789';

// ---------------------------------------------------------------------------------------------
// Harness: every transport, server and socket a test creates is closed in afterEach.

const transports: PeerTransport[] = [];
const servers: net.Server[] = [];
const sockets: net.Socket[] = [];
const cleanups: Array<() => void> = [];

afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.stop()));
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
  for (const c of cleanups.splice(0)) c();
});

interface LogLine {
  level: 'info' | 'warn';
  msg: string;
  fields: Record<string, unknown>;
}

/** Records a transport's callbacks; `until` resolves as soon as a predicate holds (no polling). */
class Recorder {
  readonly got: Message[] = [];
  readonly unreachable: NodeId[] = [];
  readonly snaps: Array<[NodeId, boolean]> = [];
  readonly rtts: Array<[NodeId, number]> = [];
  readonly logs: LogLine[] = [];
  private waiters: Array<{ pred: () => boolean; resolve: () => void }> = [];

  private changed(): void {
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred()) return true;
      w.resolve();
      return false;
    });
  }

  until(pred: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push({ pred, resolve: done });
    });
  }

  callbacks(): Pick<TransportOptions, 'onMessage' | 'onUnreachable' | 'onSnapshotSent' | 'onRtt' | 'onLog'> {
    return {
      onMessage: (m) => {
        this.got.push(m);
        this.changed();
      },
      onUnreachable: (to) => {
        this.unreachable.push(to);
        this.changed();
      },
      onSnapshotSent: (to, ok) => {
        this.snaps.push([to, ok]);
        this.changed();
      },
      onRtt: (peer, s) => {
        this.rtts.push([peer, s]);
        this.changed();
      },
      onLog: (level, msg, fields) => {
        this.logs.push({ level, msg, fields });
        this.changed();
      },
    };
  }

  warnings(): string[] {
    return this.logs.filter((l) => l.level === 'warn').map((l) => l.msg);
  }
}

interface Node {
  t: PeerTransport;
  rec: Recorder;
  port: number;
  url: string;
}

async function startNode(id: NodeId, opts: Partial<TransportOptions> = {}): Promise<Node> {
  const rec = new Recorder();
  const t = new PeerTransport({ id, listen: { host: HOST, port: 0 }, secret: SECRET, ...rec.callbacks(), ...opts });
  transports.push(t);
  const { port } = await t.start();
  return { t, rec, port, url: `http://${HOST}:${port}` };
}

function mesh(nodes: Node[]): void {
  for (const a of nodes) for (const b of nodes) if (a !== b) a.t.setPeer(idOf(b), b.url);
}

const ids = new WeakMap<Node, NodeId>();
function idOf(n: Node): NodeId {
  return ids.get(n) as NodeId;
}
async function cluster(n: number, opts: Partial<TransportOptions> = {}): Promise<Node[]> {
  const nodes: Node[] = [];
  for (let i = 1; i <= n; i++) {
    const node = await startNode(i, opts);
    ids.set(node, i);
    nodes.push(node);
  }
  mesh(nodes);
  return nodes;
}

/** A port nothing listens on (bound once, then released). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, HOST, () => r()));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));
/**
 * A handle whose 'close' event has fired is released in libuv's close phase, which runs after
 * the check phase (setImmediate) of the same loop iteration: two turns are always enough.
 */
const handlesClosed = async (): Promise<void> => {
  await nextTurn();
  await nextTurn();
};

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);

/** One message of every type that travels between members. */
function everyType(from: NodeId, to: NodeId): Message[] {
  const snapshot: Snapshot = {
    metadata: { index: 42, term: 3, confState: { voters: [1, 2, 3], learners: [4] } },
    data: bytes(9, 8, 7, 6),
  };
  return [
    { type: 'prop', from, to, term: 0, entries: [{ term: 0, index: 0, type: 'normal', data: bytes(1, 2, 3) }] },
    {
      type: 'app', from, to, term: 5, logTerm: 4, index: 10, commit: 9,
      entries: [
        { term: 5, index: 11, type: 'normal', data: bytes(0, 255) },
        { term: 5, index: 12, type: 'confChange', data: bytes() },
      ],
    },
    { type: 'appResp', from, to, term: 5, index: 12, reject: false, rejectHint: 0, logTerm: 0 },
    { type: 'vote', from, to, term: 6, logTerm: 5, index: 12, pre: true, transfer: false },
    { type: 'voteResp', from, to, term: 6, reject: true, pre: false },
    { type: 'snap', from, to, term: 6, snapshot },
    { type: 'heartbeat', from, to, term: 6, commit: 12, context: bytes(1) },
    { type: 'heartbeatResp', from, to, term: 6, context: bytes(1) },
    { type: 'transferLeader', from, to, term: 6 },
    { type: 'timeoutNow', from, to, term: 6 },
    { type: 'readIndex', from, to, term: 6, context: bytes(5, 5) },
    { type: 'readIndexResp', from, to, term: 6, index: 2 ** 40 + 1, context: bytes(5, 5) },
  ];
}

function app(from: NodeId, to: NodeId, index: number, data = bytes(index & 255)): Message {
  return { type: 'app', from, to, term: 1, logTerm: 1, index, commit: 0, entries: [{ term: 1, index: index + 1, type: 'normal', data }] };
}

function snap(from: NodeId, to: NodeId, index: number, data: Uint8Array): Extract<Message, { type: 'snap' }> {
  return { type: 'snap', from, to, term: 2, snapshot: { metadata: { index, term: 2, confState: { voters: [1, 2], learners: [] } }, data } };
}

// ---------------------------------------------------------------------------------------------

describe('PeerTransport', () => {
  it('delivers every message type between three members, equal on arrival', async () => {
    const nodes = await cluster(3);
    for (const a of nodes) for (const b of nodes) if (a !== b) a.t.send(everyType(idOf(a), idOf(b)));
    for (const n of nodes) await n.rec.until(() => n.rec.got.length === 24, `node ${idOf(n)} to receive 24 messages`);
    for (const n of nodes) {
      for (const from of [1, 2, 3].filter((i) => i !== idOf(n))) {
        const got = n.rec.got.filter((m) => m.from === from);
        expect(got).toEqual(everyType(from, idOf(n)));
        // Byte fields arrive as plain Uint8Arrays, not Buffers.
        const a = got.find((m) => m.type === 'app');
        expect(a?.type === 'app' && a.entries[0].data.constructor).toBe(Uint8Array);
      }
    }
    expect(nodes.every((n) => n.t.connectedPeers().sort().join() === [1, 2, 3].filter((i) => i !== idOf(n)).join())).toBe(true);
    for (const n of nodes) expect(n.rec.warnings()).toEqual([]);
  });

  it('keeps per-sender order across 10,000 messages sent in bursts', async () => {
    const [a, b, c] = await cluster(3);
    const N = 10_000;
    for (let i = 0; i < N; ) {
      const burst = 1 + ((i * 7919) % 400); // uneven bursts, one event-loop turn each
      const fromA: Message[] = [];
      const fromC: Message[] = [];
      for (let k = 0; k < burst && i < N; k++, i++) {
        fromA.push(app(1, 2, i));
        fromC.push(app(3, 2, i));
      }
      a.t.send(fromA);
      c.t.send(fromC);
      await nextTurn();
    }
    await b.rec.until(() => b.rec.got.length === 2 * N, 'all 20,000 messages');
    for (const from of [1, 3]) {
      const idx = b.rec.got.filter((m) => m.from === from).map((m) => (m.type === 'app' ? m.index : -1));
      expect(idx).toEqual(Array.from({ length: N }, (_, i) => i));
    }
    expect(a.rec.unreachable).toEqual([]);
  });

  it('refuses a peer with the wrong secret, and never logs a secret', async () => {
    const [b] = await cluster(1);
    const x = await startNode(3, { secret: 'the-wrong-secret' });
    x.t.setPeer(1, b.url);
    x.t.send([app(3, 1, 0)]);
    await b.rec.until(() => b.rec.logs.some((l) => l.level === 'warn' && /authentication/.test(l.msg)), 'auth warning');
    await x.rec.until(() => x.rec.unreachable.includes(1), 'sender told the peer is unreachable');
    expect(b.rec.got).toEqual([]);
    expect(x.t.connectedPeers()).toEqual([]);
    const allLogs = JSON.stringify([...b.rec.logs, ...x.rec.logs]);
    expect(allLogs).not.toContain(SECRET);
    expect(allLogs).not.toContain('the-wrong-secret');
  });

  it('refuses a peer that addresses another member id', async () => {
    const [b] = await cluster(1);
    const x = await startNode(3);
    x.t.setPeer(5, b.url); // x believes member 5 listens at b's address
    x.t.send([app(3, 5, 0)]);
    await b.rec.until(() => b.rec.logs.some((l) => l.level === 'warn' && /another member/.test(l.msg)), 'wrong-to warning');
    await x.rec.until(() => x.rec.unreachable.includes(5), 'sender told the peer is unreachable');
    expect(b.rec.got).toEqual([]);
  });

  it('does not send to an acceptor that cannot prove the secret', async () => {
    // A fake acceptor: sends HELLO, then a bogus AUTH_OK whatever it receives, and records frames.
    const received: unknown[][] = [];
    const server = net.createServer((s) => {
      sockets.push(s);
      const dec = new FrameDecoder(1 << 20);
      s.on('data', (chunk: Buffer) =>
        dec.push(chunk, (f) => {
          const frame = decode(f);
          received.push(frame);
          if (frame[0] === FrameKind.AUTH) writeRaw(s, encode([FrameKind.AUTH_OK, new Uint8Array(32)]));
        }),
      );
      s.on('error', () => {});
      writeRaw(s, helloFrame(newChallenge()));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, HOST, () => r()));
    const a = await startNode(1);
    a.t.setPeer(2, `http://${HOST}:${(server.address() as net.AddressInfo).port}`);
    a.t.send([app(1, 2, 0)]);
    await a.rec.until(() => a.rec.logs.some((l) => l.level === 'warn' && /prove the cluster secret/.test(String(l.fields['reason']))), 'dialer rejects acceptor');
    await a.rec.until(() => a.rec.unreachable.includes(2), 'unreachable');
    expect(received.map((f) => f[0])).toEqual([FrameKind.AUTH]);
    expect(a.t.connectedPeers()).toEqual([]);
  });

  it('drops messages whose from differs from the authenticated peer, and local-only types', async () => {
    const [b] = await cluster(1);
    // A hand-written dialer that authenticates as member 7 (with the right secret).
    const s = net.connect({ host: HOST, port: b.port });
    sockets.push(s);
    s.on('error', () => {});
    const dec = new FrameDecoder(1 << 20);
    const opened = new Promise<void>((resolve) => {
      s.on('data', (chunk: Buffer) =>
        dec.push(chunk, (payload) => {
          const f = decode(payload);
          if (f[0] === FrameKind.HELLO) {
            const r = parseHello(f);
            if (!r.ok) throw new Error(r.reason);
            writeRaw(s, authFrame(7, 1, dialerMac(SECRET, 7, 1, r.value), newChallenge()));
          } else if (f[0] === FrameKind.AUTH_OK) resolve();
        }),
      );
    });
    await opened;
    const spoofed = app(8, 1, 1);
    const hup: Message = { type: 'hup', from: 7, to: 1, term: 9 };
    const misaddressed = app(7, 2, 2);
    const good = app(7, 1, 3);
    writeRaw(s, encode([FrameKind.BATCH, [spoofed, hup, misaddressed, good]]));
    await b.rec.until(() => b.rec.got.length === 1, 'the one valid message');
    expect(b.rec.got).toEqual([good]);
    const w = b.rec.warnings().join('\n');
    expect(w).toMatch(/from differs/);
    expect(w).toMatch(/not a network message type/);
    expect(w).toMatch(/another member/);
  });

  it('closes a connection that announces an oversized frame', async () => {
    const [b] = await cluster(1);
    const s = net.connect({ host: HOST, port: b.port });
    sockets.push(s);
    s.on('error', () => {});
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    s.resume(); // discard HELLO so the peer's close is seen
    await new Promise<void>((r) => s.once('connect', () => r()));
    s.write(frameHeader(64 * 1024 * 1024));
    await closed;
    await b.rec.until(() => b.rec.warnings().some((m) => /oversized/.test(m)), 'oversized warning');
  });

  it('streams a 20 MiB snapshot and delivers it as one message', async () => {
    const [a, b] = await cluster(2);
    const data = new Uint8Array(randomBytes(20 * 1024 * 1024));
    const m = snap(1, 2, 100, data);
    a.t.send([m]);
    await b.rec.until(() => b.rec.got.length === 1, 'snapshot delivered', 30_000);
    await a.rec.until(() => a.rec.snaps.length === 1, 'onSnapshotSent');
    expect(a.rec.snaps).toEqual([[2, true]]);
    const got = b.rec.got[0];
    if (got.type !== 'snap') throw new Error(`expected snap, got ${got.type}`);
    expect(got.snapshot.data.constructor).toBe(Uint8Array);
    expect(Buffer.compare(got.snapshot.data, data)).toBe(0);
    // Everything else equal too (compare without the 20 MiB body, which toEqual walks slowly).
    expect({ ...got, snapshot: { ...got.snapshot, data: null } }).toEqual({ ...m, snapshot: { ...m.snapshot, data: null } });
  });

  it('takes the bytes of a snapshot from snapshotBody, and drops a transfer whose body fails midway', async () => {
    const data = new Uint8Array(randomBytes(300 * 1024));
    const closed: number[] = [];
    // Index 1: the bytes come from the body, not the message (which carries none). Index 2: the
    // body throws after two pieces, as a file read or checksum failure would.
    const bodyFor = (index: number): SnapshotBody => ({
      byteLength: data.byteLength,
      async *pieces(maxBytes: number) {
        for (let off = 0, n = 0; off < data.byteLength; off += maxBytes, n++) {
          if (index === 2 && n === 2) throw new Error('disk read failed');
          yield data.subarray(off, Math.min(off + maxBytes, data.byteLength));
        }
      },
      close: () => {
        closed.push(index);
        return Promise.resolve();
      },
    });
    const [a, b] = await cluster(2, { snapshotChunkBytes: 64 * 1024, snapshotBody: (m) => Promise.resolve(bodyFor(m.snapshot.metadata.index)) });
    a.t.send([snap(1, 2, 2, bytes()), app(1, 2, 7)]);
    await a.rec.until(() => a.rec.snaps.length === 1, 'failed transfer reported');
    expect(a.rec.snaps).toEqual([[2, false]]);
    expect(a.rec.logs.some((l) => l.msg === 'snapshot transfer to peer failed' && l.fields.err === 'disk read failed')).toBe(true);
    // The connection was closed under the half-sent snapshot: the sender redials, and what it sends next arrives intact.
    a.t.send([snap(1, 2, 1, bytes()), app(1, 2, 8)]);
    await b.rec.until(() => b.rec.got.some((m) => m.type === 'app' && m.index === 8), 'messages after the failed transfer');
    await a.rec.until(() => a.rec.snaps.length === 2, 'second transfer reported');
    expect(a.rec.snaps).toEqual([[2, false], [2, true]]);
    const snaps = b.rec.got.filter((m) => m.type === 'snap');
    expect(snaps.map((m) => m.type === 'snap' && m.snapshot.metadata.index)).toEqual([1]);
    const got = snaps[0];
    expect(got.type === 'snap' && Buffer.compare(got.snapshot.data, data)).toBe(0);
    expect(closed).toEqual([2, 1]);
  });

  it('keeps order when snapshots and other messages are queued together', async () => {
    const [a, b] = await cluster(2, { snapshotChunkBytes: 64 * 1024 });
    const big = new Uint8Array(randomBytes(5 * 1024 * 1024));
    const sent: Message[] = [app(1, 2, 0), app(1, 2, 1), snap(1, 2, 10, big), app(1, 2, 2), snap(1, 2, 11, bytes(1, 2, 3)), app(1, 2, 3), snap(1, 2, 12, bytes())];
    a.t.send(sent.slice(0, 4));
    a.t.send(sent.slice(4));
    await nextTurn();
    const later = [app(1, 2, 4), app(1, 2, 5)];
    a.t.send(later); // while the first snapshot is still streaming
    await b.rec.until(() => b.rec.got.length === sent.length + later.length, 'all messages');
    expect(b.rec.got.map((m) => `${m.type}:${m.type === 'snap' ? m.snapshot.metadata.index : m.type === 'app' ? m.index : ''}`)).toEqual([
      'app:0', 'app:1', 'snap:10', 'app:2', 'snap:11', 'app:3', 'snap:12', 'app:4', 'app:5',
    ]);
    const bigGot = b.rec.got[2];
    expect(bigGot.type === 'snap' && Buffer.compare(bigGot.snapshot.data, big) === 0).toBe(true);
    expect(b.rec.got.slice(4)).toEqual([...sent.slice(4), ...later]);
    await a.rec.until(() => a.rec.snaps.length === 3, 'three snapshot reports');
    expect(a.rec.snaps).toEqual([[2, true], [2, true], [2, true]]);
  });

  it('reconnects by itself after the peer restarts on the same port', async () => {
    const [a, b] = await cluster(2);
    a.t.send([app(1, 2, 0)]);
    await b.rec.until(() => b.rec.got.length === 1, 'first message');
    const connectedLogs = (): number => a.rec.logs.filter((l) => l.msg === 'connected to peer').length;
    expect(connectedLogs()).toBe(1);

    await b.t.stop();
    await a.rec.until(() => a.rec.logs.some((l) => l.msg === 'lost connection to peer'), 'sender notices the loss');
    expect(a.t.connectedPeers()).toEqual([]);

    const b2 = await startNode(2, { listen: { host: HOST, port: b.port } });
    await a.rec.until(() => connectedLogs() === 2, 'sender reconnects');
    expect(a.t.connectedPeers()).toEqual([2]);
    a.t.send([app(1, 2, 1), app(1, 2, 2)]);
    await b2.rec.until(() => b2.rec.got.length === 2, 'messages after the restart');
    expect(b2.rec.got).toEqual([app(1, 2, 1), app(1, 2, 2)]);
  });

  it('reports an unreachable peer, keeps the queue bounded, and keeps snapshots for when it comes back', async () => {
    const port = await freePort();
    const a = await startNode(1, { maxQueue: 100 });
    a.t.setPeer(9, `http://${HOST}:${port}`);
    const s = snap(1, 9, 5, bytes(1, 2, 3, 4));
    a.t.send([s]);
    for (let burst = 0; burst < 10; burst++) {
      a.t.send(Array.from({ length: 1000 }, (_, i) => app(1, 9, burst * 1000 + i)));
      await nextTurn();
    }
    await a.rec.until(() => a.rec.unreachable.includes(9), 'onUnreachable');
    await a.rec.until(() => a.rec.logs.some((l) => l.msg === 'cannot connect to peer'), 'failed connect');
    expect(a.rec.snaps).toEqual([]); // the snapshot still waits

    // The peer appears: the sender redials on its own; the old messages were dropped (at most
    // maxQueue could ever have been kept), the snapshot survived.
    const p = await startNode(9, { listen: { host: HOST, port } });
    await a.rec.until(() => a.rec.snaps.length === 1, 'snapshot sent after reconnect');
    expect(a.rec.snaps).toEqual([[9, true]]);
    a.t.send([app(1, 9, 99_999)]);
    await p.rec.until(() => p.rec.got.some((m) => m.type === 'app' && m.index === 99_999), 'new message');
    expect(p.rec.got[0]).toEqual(s);
    expect(p.rec.got.length).toBeLessThanOrEqual(100 + 2);
  });

  it('reports messages for unknown peers as unreachable', async () => {
    const a = await startNode(1);
    a.t.send([app(1, 4, 0), snap(1, 4, 1, bytes(1))]);
    await a.rec.until(() => a.rec.snaps.length === 1 && a.rec.unreachable.length > 0, 'reports');
    expect(a.rec.unreachable).toEqual([4]);
    expect(a.rec.snaps).toEqual([[4, false]]);
  });

  it('measures round-trip time with pings', async () => {
    const [a, b] = await cluster(2);
    a.t.send([app(1, 2, 0)]);
    await a.rec.until(() => a.rec.rtts.length > 0, 'an RTT sample', 5_000);
    const [peer, seconds] = a.rec.rtts[0];
    expect(peer).toBe(2);
    expect(seconds).toBeGreaterThanOrEqual(0);
    expect(seconds).toBeLessThan(1);
    expect(b.rec.got).toHaveLength(1); // pings are not delivered
  });

  it('stop() leaves no sockets or timers behind and is idempotent', async () => {
    const watched = ['TCPSocketWrap', 'TCPServerWrap', 'Timeout', 'Immediate'];
    const count = (): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const r of process.getActiveResourcesInfo()) if (watched.includes(r)) out[r] = (out[r] ?? 0) + 1;
      return out;
    };
    await handlesClosed(); // handles closed by the previous test's afterEach
    const before = count();
    const [a, b] = await cluster(2);
    a.t.setPeer(9, `http://${HOST}:${await freePort()}`); // a peer in reconnect backoff
    a.t.send([app(1, 2, 0), app(1, 9, 0)]);
    b.t.send([app(2, 1, 0)]);
    await b.rec.until(() => b.rec.got.length === 1, 'traffic');
    await a.rec.until(() => a.rec.got.length === 1, 'traffic');
    a.t.send([snap(1, 2, 3, new Uint8Array(8 * 1024 * 1024))]); // stop in the middle of a snapshot
    await nextTurn();
    await Promise.all([a.t.stop(), b.t.stop(), a.t.stop()]);
    await b.t.stop();
    await handlesClosed();
    expect(count()).toEqual(before);
    a.t.send([app(1, 2, 1)]); // ignored after stop
    expect(a.t.connectedPeers()).toEqual([]);
    expect(a.rec.snaps).toEqual([]); // no callbacks after stop
  });

  it('parses peer URLs and ignores unusable ones', async () => {
    expect(parsePeerUrl('http://127.0.0.1:2380')).toEqual({ host: '127.0.0.1', port: 2380 });
    expect(parsePeerUrl('https://[::1]:2381')).toEqual({ host: '::1', port: 2381 });
    expect(() => parsePeerUrl('http://127.0.0.1')).toThrow(/no port/);
    expect(() => parsePeerUrl('nonsense')).toThrow(/invalid peer URL/);
    const a = await startNode(1);
    a.t.setPeer(2, 'nonsense');
    expect(a.rec.warnings()).toEqual(['ignoring unusable peer address']);
  });

  it('validates options at construction', () => {
    const base: TransportOptions = { id: 1, listen: { host: HOST, port: 0 }, secret: SECRET, onMessage: () => {} };
    expect(() => new PeerTransport({ ...base, id: 0 })).toThrow(/id/);
    expect(() => new PeerTransport({ ...base, secret: '' })).toThrow(/secret/);
    expect(() => new PeerTransport({ ...base, maxQueue: 0 })).toThrow(/maxQueue/);
    expect(() => new PeerTransport({ ...base, snapshotChunkBytes: 64 * 1024 * 1024 })).toThrow(/snapshotChunkBytes/);
  });

  it('throughput: 100k small app messages between two members (reported, not asserted)', async () => {
    const [a, b] = await cluster(2, { maxQueue: 100_000 });
    a.t.send([app(1, 2, -1)]);
    await b.rec.until(() => b.rec.got.length === 1, 'warm-up');
    b.rec.got.length = 0;
    const N = 100_000;
    const payload = new Uint8Array(64);
    const t0 = performance.now();
    for (let i = 0; i < N; i += 1000) {
      const burst: Message[] = [];
      for (let k = i; k < i + 1000; k++) burst.push(app(1, 2, k, payload));
      a.t.send(burst);
      await nextTurn();
    }
    await b.rec.until(() => b.rec.got.length === N, 'all messages', 60_000);
    const secs = (performance.now() - t0) / 1000;
    console.log(`[transport throughput] ${N} app messages (1 entry, 64 B) in ${secs.toFixed(3)} s = ${Math.round(N / secs).toLocaleString('en-US')} msg/s`);
    expect(a.rec.unreachable).toEqual([]);
  });
});

describe('OutboundPeer queue', () => {
  it('never holds more than maxQueue messages while the peer is down', async () => {
    const port = await freePort();
    const events: string[] = [];
    let connectFailed!: () => void;
    const failed = new Promise<void>((r) => (connectFailed = r));
    const ctx: OutboundContext = {
      self: 1,
      secret: SECRET,
      maxQueue: 50,
      chunkBytes: 1024,
      log: (_l, msg) => {
        events.push(msg);
        if (msg === 'cannot connect to peer') connectFailed();
      },
      unreachable: () => events.push('unreachable'),
      snapshotSent: (_p, ok) => events.push(`snap:${ok}`),
      rtt: () => {},
      snapshotBody: (m) => Promise.resolve(messageBody(m)),
      track: (s) => sockets.push(s),
    };
    const peer = new OutboundPeer(2, HOST, port, ctx);
    cleanups.push(() => peer.close(false));
    let max = 0;
    for (let i = 0; i < 10_000; i++) {
      peer.enqueue(app(1, 2, i));
      max = Math.max(max, peer.queued);
    }
    expect(max).toBe(50);
    expect(events.filter((e) => e === 'unreachable').length).toBe(10_000 - 50);
    // After the failed connect every queued non-snapshot message is dropped.
    await failed;
    expect(peer.queued).toBe(0);
  });
});

function writeRaw(s: net.Socket, payload: Uint8Array): void {
  s.write(frameHeader(payload.byteLength));
  s.write(payload);
}
