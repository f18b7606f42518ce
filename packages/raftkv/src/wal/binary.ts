/**
 * Little-endian u64 fields for indexes, terms and ids. JavaScript numbers are exact up to 2^53,
 * which Raft indexes never reach; a stored value above that can only be damage, so reads
 * return NaN for it and callers treat that as corruption.
 */
import { WalError } from './errors.js';

const TWO_32 = 2 ** 32;

export function assertU64(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new WalError('WAL_INVALID', `${what} must be a non-negative safe integer, got ${String(n)}`);
  }
}

export function writeU64(buf: Buffer, off: number, n: number): void {
  buf.writeUInt32LE(n % TWO_32, off);
  buf.writeUInt32LE(Math.floor(n / TWO_32), off + 4);
}

/** NaN when the stored value is not a safe integer. */
export function readU64(buf: Buffer, off: number): number {
  const hi = buf.readUInt32LE(off + 4);
  if (hi > 0x1fffff) return NaN;
  return hi * TWO_32 + buf.readUInt32LE(off);
}

/** Zero-padded lowercase hex, so file names sort in numeric order. */
export function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}

export function parseHex16(s: string): number {
  const n = Number.parseInt(s, 16);
  return Number.isSafeInteger(n) ? n : NaN;
}
