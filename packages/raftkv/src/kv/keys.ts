/**
 * Key encoding and key-range rules shared by range, deleteRange, compares and watches.
 *
 * Inside the store a key is identified by its bytes decoded as 'latin1' (one UTF-16 code unit per
 * byte, 0..255). JavaScript compares strings by code unit, so comparing these ids orders keys
 * exactly like bytewise comparison of the raw bytes (etcd's order), while letting Map and `<` do
 * the work natively.
 */
import { Buffer } from 'node:buffer';

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

/** Bytes as a latin1 string: one char code (0..255) per byte. How the store keeps keys and values. */
export function latin1Of(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** A key's id: its bytes as a latin1 string (see the header). */
export const keyId: (key: Uint8Array) => string = latin1Of;

/** The bytes of a latin1 string (a key id or a stored value), as a plain Uint8Array. */
export function latin1Bytes(s: string): Uint8Array {
  if (s.length === 0) return EMPTY_BYTES;
  const b = Buffer.from(s, 'latin1');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Bytewise order of two latin1 strings (code unit order is byte order). */
export function compareLatin1(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The half-open interval [start, end) of key ids a request covers.
 * `end === undefined` means unbounded (etcd's "\0" range end).
 */
export interface KeyRange {
  readonly start: string;
  readonly end: string | undefined;
  /** No range end given: exactly `start`, served by point lookup. */
  readonly single: boolean;
}

export function keyRange(key: Uint8Array, rangeEnd: Uint8Array | undefined | null): KeyRange {
  const start = keyId(key);
  if (rangeEnd == null || rangeEnd.length === 0) return { start, end: undefined, single: true };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { start, end: undefined, single: false };
  return { start, end: keyId(rangeEnd), single: false };
}

export function inRange(r: KeyRange, id: string): boolean {
  if (r.single) return id === r.start;
  return id >= r.start && (r.end === undefined || id < r.end);
}

/**
 * etcd's GetPrefixRangeEnd: the smallest key greater than every key with this prefix. Increments
 * the last byte below 0xff and drops what follows it; a prefix of only 0xff bytes (or an empty
 * one) has no such key, so the result is "\0", meaning "every key >= prefix".
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i] < 0xff) {
      // Copy before incrementing: Buffer#slice would be a view onto the caller's prefix.
      const end = new Uint8Array(prefix.subarray(0, i + 1));
      end[i]++;
      return end;
    }
  }
  return new Uint8Array([0]);
}

/** Renders a key for error messages: printable ASCII kept, other bytes escaped, long keys cut. */
export function showKey(key: Uint8Array): string {
  let s = '';
  const n = Math.min(key.length, 64);
  for (let i = 0; i < n; i++) {
    const c = key[i];
    s += c >= 0x20 && c < 0x7f && c !== 0x5c && c !== 0x22 ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return `"${s}${key.length > n ? '…' : ''}"`;
}
