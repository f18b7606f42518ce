/**
 * WAL record framing and payload codecs.
 *
 * Frame (little-endian): [u32 payload length][u32 crc32 of (type byte + payload)][u8 type][payload].
 * The type byte sits right after the checksum so that type and payload are one contiguous range
 * for the CRC. Payloads are fixed binary layouts; entry data is the record's tail, so its length
 * is implied by the frame and no bytes are spent on it.
 *
 *   segmentHeader  u32 magic 'FWAL' | u16 version | u16 zero | u64 seq | u64 firstIndex
 *   entry          u64 term | u64 index | u8 type (0 normal, 1 confChange) | data…
 *   hardState      u64 term | u64 vote | u64 commit
 *   snapshotMarker u64 index | u64 term
 */
import { crc32 } from 'node:zlib';
import type { Entry, EntryType, HardState } from '../raft/types.js';
import { assertU64, readU64, writeU64 } from './binary.js';
import { WalError } from './errors.js';

export const FRAME_BYTES = 9;

const CODE = { segmentHeader: 1, entry: 2, hardState: 3, snapshotMarker: 4 } as const;
type RecordKind = keyof typeof CODE;

export type WalRecord =
  | { readonly kind: 'segmentHeader'; readonly seq: number; readonly firstIndex: number }
  | { readonly kind: 'entry'; readonly entry: Entry }
  | { readonly kind: 'hardState'; readonly hardState: HardState }
  | { readonly kind: 'snapshotMarker'; readonly index: number; readonly term: number };

const SEGMENT_MAGIC = 0x4c415746; // "FWAL" read as a little-endian u32
const FORMAT_VERSION = 1;
const HEADER_PAYLOAD = 24;
const HARD_STATE_PAYLOAD = 24;
const MARKER_PAYLOAD = 16;
const ENTRY_FIXED = 17;

const ENTRY_TYPE_CODE: Record<EntryType, number> = { normal: 0, confChange: 1 };
const ENTRY_TYPES: readonly EntryType[] = ['normal', 'confChange'];

function payloadSize(r: WalRecord): number {
  switch (r.kind) {
    case 'segmentHeader':
      return HEADER_PAYLOAD;
    case 'entry':
      return ENTRY_FIXED + r.entry.data.byteLength;
    case 'hardState':
      return HARD_STATE_PAYLOAD;
    case 'snapshotMarker':
      return MARKER_PAYLOAD;
  }
}

function writePayload(buf: Buffer, off: number, r: WalRecord): void {
  switch (r.kind) {
    case 'segmentHeader':
      buf.writeUInt32LE(SEGMENT_MAGIC, off);
      buf.writeUInt16LE(FORMAT_VERSION, off + 4);
      buf.writeUInt16LE(0, off + 6);
      writeU64(buf, off + 8, r.seq);
      writeU64(buf, off + 16, r.firstIndex);
      return;
    case 'entry': {
      const e = r.entry;
      assertU64(e.term, 'entry term');
      assertU64(e.index, 'entry index');
      const type = ENTRY_TYPE_CODE[e.type];
      if (type === undefined) throw new WalError('WAL_INVALID', `entry ${e.index} has unknown type ${String(e.type)}`);
      if (!(e.data instanceof Uint8Array)) throw new WalError('WAL_INVALID', `entry ${e.index} data is not a Uint8Array`);
      writeU64(buf, off, e.term);
      writeU64(buf, off + 8, e.index);
      buf[off + 16] = type;
      buf.set(e.data, off + ENTRY_FIXED);
      return;
    }
    case 'hardState': {
      const hs = r.hardState;
      assertU64(hs.term, 'hardState term');
      assertU64(hs.vote, 'hardState vote');
      assertU64(hs.commit, 'hardState commit');
      writeU64(buf, off, hs.term);
      writeU64(buf, off + 8, hs.vote);
      writeU64(buf, off + 16, hs.commit);
      return;
    }
    case 'snapshotMarker':
      assertU64(r.index, 'snapshot index');
      assertU64(r.term, 'snapshot term');
      writeU64(buf, off, r.index);
      writeU64(buf, off + 8, r.term);
      return;
  }
}

/** Frames `records` back to back into one buffer (one allocation, one copy of entry data). */
export function encodeRecords(records: readonly WalRecord[]): Buffer {
  let total = 0;
  for (const r of records) total += FRAME_BYTES + payloadSize(r);
  const buf = Buffer.allocUnsafe(total);
  let off = 0;
  for (const r of records) {
    const len = payloadSize(r);
    writePayload(buf, off + FRAME_BYTES, r);
    buf.writeUInt32LE(len, off);
    buf[off + 8] = CODE[r.kind];
    buf.writeUInt32LE(crc32(buf.subarray(off + 8, off + FRAME_BYTES + len)), off + 4);
    off += FRAME_BYTES + len;
  }
  return buf;
}

export type Frame =
  | { readonly kind: 'ok'; readonly code: number; readonly payload: Buffer; readonly end: number }
  /** The frame header or the payload its length announces runs past the end of the buffer. */
  | { readonly kind: 'truncated' }
  | { readonly kind: 'badChecksum'; readonly end: number };

export function readFrame(buf: Buffer, off: number): Frame {
  if (buf.length - off < FRAME_BYTES) return { kind: 'truncated' };
  const len = buf.readUInt32LE(off);
  const end = off + FRAME_BYTES + len;
  if (end > buf.length) return { kind: 'truncated' };
  if (crc32(buf.subarray(off + 8, end)) !== buf.readUInt32LE(off + 4)) return { kind: 'badChecksum', end };
  return { kind: 'ok', code: buf[off + 8], payload: buf.subarray(off + FRAME_BYTES, end), end };
}

/** Decodes a checksummed payload; a string is the reason it is malformed. Entry data is copied. */
export function decodePayload(code: number, p: Buffer): WalRecord | string {
  const kind = kindOf(code);
  if (kind === undefined) return `unknown record type ${code}`;
  if (!lengthFits(kind, p.length)) return `${kind} record has bad length ${p.length}`;
  switch (kind) {
    case 'segmentHeader': {
      if (p.readUInt32LE(0) !== SEGMENT_MAGIC) return 'bad segment magic';
      const version = p.readUInt16LE(4);
      if (version !== FORMAT_VERSION) return `unsupported segment format version ${version}`;
      return checkedNumbers({ kind, seq: readU64(p, 8), firstIndex: readU64(p, 16) }, ['seq', 'firstIndex']);
    }
    case 'entry': {
      const type = ENTRY_TYPES[p[16]];
      if (type === undefined) return `unknown entry type ${p[16]}`;
      const term = readU64(p, 0);
      const index = readU64(p, 8);
      if (Number.isNaN(term) || Number.isNaN(index)) return 'entry index or term out of range';
      // Copied rather than viewed so a returned entry does not pin the whole segment buffer.
      return { kind, entry: { term, index, type, data: new Uint8Array(p.subarray(ENTRY_FIXED)) } };
    }
    case 'hardState': {
      const hardState = { term: readU64(p, 0), vote: readU64(p, 8), commit: readU64(p, 16) };
      if (Object.values(hardState).some(Number.isNaN)) return 'hardState field out of range';
      return { kind, hardState };
    }
    case 'snapshotMarker':
      return checkedNumbers({ kind, index: readU64(p, 0), term: readU64(p, 8) }, ['index', 'term']);
  }
}

function checkedNumbers<R extends WalRecord>(r: R, fields: readonly (keyof R)[]): R | string {
  for (const f of fields) if (Number.isNaN(r[f])) return `${r.kind} ${String(f)} out of range`;
  return r;
}

function kindOf(code: number): RecordKind | undefined {
  for (const k of Object.keys(CODE) as RecordKind[]) if (CODE[k] === code) return k;
  return undefined;
}

function lengthFits(kind: RecordKind, len: number): boolean {
  switch (kind) {
    case 'segmentHeader':
      return len === HEADER_PAYLOAD;
    case 'entry':
      return len >= ENTRY_FIXED;
    case 'hardState':
      return len === HARD_STATE_PAYLOAD;
    case 'snapshotMarker':
      return len === MARKER_PAYLOAD;
  }
}

/**
 * Whether a well-formed, checksummed record starts at any offset in [from, end of buf). Used to
 * tell a torn tail (garbage to the end) from a damaged length field in the middle of a file,
 * which would otherwise look like a record running past EOF and hide the valid records after it.
 * Only starts below `to` are tried: a caller that knows the file is all zeros from some offset on
 * passes it, since a record's type byte is never zero, and scanning 64 MiB of preallocated zeros
 * byte by byte would slow the open for nothing.
 */
export function hasValidFrameAfter(buf: Buffer, from: number, to: number = buf.length): boolean {
  for (let p = from; p < to && p + FRAME_BYTES <= buf.length; p++) {
    const len = buf.readUInt32LE(p);
    if (p + FRAME_BYTES + len > buf.length) continue;
    const kind = kindOf(buf[p + 8]);
    if (kind === undefined || !lengthFits(kind, len)) continue;
    const frame = readFrame(buf, p);
    if (frame.kind === 'ok' && typeof decodePayload(frame.code, frame.payload) !== 'string') return true;
  }
  return false;
}
