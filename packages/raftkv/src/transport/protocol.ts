/**
 * The peer wire protocol. After the 4-byte length prefix (frames.ts), every payload is a
 * msgpack array whose first element is the frame kind:
 *
 *   acceptor → dialer   [HELLO, version, challenge]                 handshake.ts
 *   dialer → acceptor   [AUTH, from, to, mac, challenge]            handshake.ts
 *   acceptor → dialer   [AUTH_OK, mac]                              handshake.ts
 *   dialer → acceptor   [BATCH, Message[]]                          one flush of messages
 *   dialer → acceptor   [SNAP_BEGIN, snap message without data, dataBytes]
 *   dialer → acceptor   [SNAP_CHUNK, bin]                           until dataBytes have arrived
 *   dialer → acceptor   [PING, n]        acceptor → dialer  [PONG, n]
 *
 * A connection carries messages one way only (dialer → acceptor), like etcd's peer streams: a
 * member sends on the connection it dialed and receives on the ones it accepted. SNAP_CHUNK
 * frames are built by hand (a fixed 7-byte msgpack header followed by a view of the snapshot's
 * bytes) so a large snapshot is written without being copied.
 */
import { Packr, Unpackr } from 'msgpackr';
import { LOCAL_MESSAGES } from '../raft/types.js';
import type { Message } from '../raft/types.js';

export const PROTOCOL_VERSION = 1;

export const FrameKind = {
  HELLO: 1,
  AUTH: 2,
  AUTH_OK: 3,
  BATCH: 4,
  SNAP_BEGIN: 5,
  SNAP_CHUNK: 6,
  PING: 7,
  PONG: 8,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** Largest payload accepted once authenticated: 16 MiB of data plus room for framing. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024 + 64 * 1024;
/** Largest payload accepted before authentication (handshake and pong frames are tiny). */
export const MAX_CONTROL_FRAME_BYTES = 4 * 1024;
/** Largest snapshot chunk: a chunk frame must fit in MAX_FRAME_BYTES. */
export const MAX_CHUNK_BYTES = 16 * 1024 * 1024;
/** TCP keepalive on peer sockets, so half-open connections are eventually noticed. */
export const KEEPALIVE_MS = 10_000;

const packr = new Packr({ useRecords: false });
/** Byte strings come out as fresh Uint8Arrays owned by the message (the frame is not retained). */
const copyingUnpackr = new Unpackr({ useRecords: false, copyBuffers: true });
/** For SNAP_CHUNK: the bytes are copied straight into the reassembly buffer instead. */
const viewUnpackr = new Unpackr({ useRecords: false, copyBuffers: false });

export function encode(frame: readonly unknown[]): Buffer {
  return packr.pack(frame);
}

/**
 * Decodes one payload into [kind, ...fields]. Throws on malformed msgpack or a payload that is
 * not an array starting with a known kind. Byte strings are plain Uint8Arrays; for SNAP_CHUNK
 * the bytes are a view of `payload` (valid only as long as `payload` is).
 */
export function decode(payload: Buffer): [FrameKind, ...unknown[]] {
  const chunk = payload.byteLength > 2 && payload[0] === 0x92 && payload[1] === FrameKind.SNAP_CHUNK;
  // Decode from a plain Uint8Array view so byte strings decode as Uint8Array, not Buffer.
  const src = new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  const v: unknown = (chunk ? viewUnpackr : copyingUnpackr).unpack(src);
  if (!Array.isArray(v) || typeof v[0] !== 'number' || v[0] < FrameKind.HELLO || v[0] > FrameKind.PONG) {
    throw new Error('payload is not a raftkv peer frame');
  }
  return v as [FrameKind, ...unknown[]];
}

/** Header of a SNAP_CHUNK payload of `n` data bytes: fixarray(2), kind, bin32(n). */
export function chunkPayloadHeader(n: number): Buffer {
  const h = Buffer.allocUnsafe(7);
  h[0] = 0x92;
  h[1] = FrameKind.SNAP_CHUNK;
  h[2] = 0xc6;
  h.writeUInt32BE(n, 3);
  return h;
}
export const CHUNK_PAYLOAD_OVERHEAD = 7;

type SnapMessage = Extract<Message, { type: 'snap' }>;

/** SNAP_BEGIN: the message with its snapshot's data left out, and the data's length. */
export function encodeSnapBegin(m: SnapMessage, dataBytes: number): Buffer {
  const head = { ...m, snapshot: { metadata: m.snapshot.metadata } };
  return encode([FrameKind.SNAP_BEGIN, head, dataBytes]);
}

/** Rough encoded size of a message, to cut batches into frames of reasonable size. */
export function estimateBytes(m: Message): number {
  let n = 64;
  if ('entries' in m) for (const e of m.entries) n += 24 + e.data.byteLength;
  if ('context' in m) n += m.context.byteLength;
  return n;
}

/**
 * Packs messages into BATCH payloads of at most MAX_FRAME_BYTES, splitting as needed. A single
 * message too large for any frame is reported to `tooLarge` and left out.
 */
export function encodeBatches(msgs: readonly Message[], tooLarge: (m: Message, bytes: number) => void): Buffer[] {
  const out: Buffer[] = [];
  const pack = (part: readonly Message[]): void => {
    const p = encode([FrameKind.BATCH, part]);
    if (p.byteLength <= MAX_FRAME_BYTES) out.push(p);
    else if (part.length === 1) tooLarge(part[0], p.byteLength);
    else {
      const mid = part.length >>> 1;
      pack(part.slice(0, mid));
      pack(part.slice(mid));
    }
  };
  if (msgs.length > 0) pack(msgs);
  return out;
}

const NETWORK_TYPES: ReadonlySet<string> = new Set<Message['type']>([
  'prop', 'app', 'appResp', 'vote', 'voteResp', 'snap', 'heartbeat', 'heartbeatResp',
  'transferLeader', 'timeoutNow', 'readIndex', 'readIndexResp',
]);

/** True for the message types that travel between members (not the local-only ones). */
export function isNetworkType(type: string): boolean {
  return NETWORK_TYPES.has(type) && !LOCAL_MESSAGES.has(type as Message['type']);
}

/**
 * Why a received value cannot be delivered, or null if it can. Authenticated peers are trusted
 * to send well-formed messages; this guards the envelope only (the Raft core throws on local
 * message types, so a peer must never be able to inject one).
 */
export function rejectReason(v: unknown, peer: number, self: number): string | null {
  if (typeof v !== 'object' || v === null) return 'not an object';
  const m = v as { type?: unknown; from?: unknown; to?: unknown; term?: unknown };
  if (typeof m.type !== 'string' || !isNetworkType(m.type)) return 'not a network message type';
  if (m.from !== peer) return 'from differs from the authenticated peer';
  if (m.to !== self) return 'addressed to another member';
  if (typeof m.term !== 'number') return 'term is not a number';
  return null;
}
