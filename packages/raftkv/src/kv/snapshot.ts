/**
 * Snapshot wire format. A hand-rolled binary layout rather than msgpack: the bytes are a function
 * of the state alone by construction (no encoder heuristics), the size is computed up front so
 * encoding is one allocation and straight copies, and decoding creates no intermediate arrays.
 * With 100k keys that is several times faster than going through msgpackr, which matters because
 * both run on the event loop.
 *
 *   magic    "KVS" 0x01
 *   uvarint  revision, compactRevision, lastLeaseId
 *   uvarint  leaseCount, then per lease (ascending id): uvarint id, uvarint ttl
 *   uvarint  baseCount, then baseCount KVs: each key's version at compactRevision, for keys live
 *            then, in ascending key order (none before the first compaction)
 *   uvarint  logCount, then logCount KVs: every change after compactRevision, in revision then
 *            execution order, tombstones included (this is also the watch replay order)
 *
 *   KV:      uvarint keyLength, key bytes, uvarint createRevision, modRevision, version, lease,
 *            uvarint valueLength, value bytes
 *
 * uvarint is unsigned LEB128 over safe integers (up to 8 bytes). Lease key sets are not stored:
 * they follow from the live keys' lease fields.
 */
import { Buffer } from 'node:buffer';
import type { StoredKv } from './record.js';

const MAGIC = [0x4b, 0x56, 0x53, 0x01]; // "KVS", format 1

export interface SnapshotHeader {
  revision: number;
  compactRevision: number;
  lastLeaseId: number;
  /** Flat [id, ttl, id, ttl, ...], ascending id. */
  leases: number[];
}

export function corrupt(what: string): never {
  throw new Error(`kv snapshot is corrupt: ${what}`);
}

function uvarintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

function kvSize(id: string, kv: StoredKv): number {
  return (
    uvarintSize(id.length) +
    id.length +
    uvarintSize(kv.createRevision) +
    uvarintSize(kv.modRevision) +
    uvarintSize(kv.version) +
    uvarintSize(kv.lease) +
    uvarintSize(kv.value.length) +
    kv.value.length
  );
}

class Writer {
  private readonly b: Buffer;

  constructor(
    readonly buf: Uint8Array,
    private pos = 0,
  ) {
    this.b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  uvarint(n: number): void {
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }

  raw(b: readonly number[]): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A latin1 string (key id or value) as its length and its bytes. */
  latin1(s: string): void {
    this.uvarint(s.length);
    this.pos += this.b.write(s, this.pos, s.length, 'latin1');
  }

  kv(id: string, kv: StoredKv): void {
    this.latin1(id);
    this.uvarint(kv.createRevision);
    this.uvarint(kv.modRevision);
    this.uvarint(kv.version);
    this.uvarint(kv.lease);
    this.latin1(kv.value);
  }

  get offset(): number {
    return this.pos;
  }
}

/** Versions with the ids of their keys (parallel arrays). */
export interface StoredVersions {
  ids: readonly string[];
  kvs: readonly StoredKv[];
}

/** What a snapshot is encoded from: captured at one instant (see KvStore.snapshotSource). */
export interface SnapshotSource {
  header: SnapshotHeader;
  base: StoredVersions;
  log: StoredVersions;
}

export function encodeSnapshot(src: SnapshotSource): Uint8Array {
  const steps = encodeSteps(src, Number.POSITIVE_INFINITY);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * The same bytes as encodeSnapshot, in steps: it yields after about every `sliceBytes` of work
 * (sizes counted, then bytes written) and returns the encoding, so that a host can spread a big
 * store's encoding (100k keys take about 100 ms) over several turns of its event loop. The source
 * must not change meanwhile: its arrays are the caller's own copies.
 *
 * The returned buffer has `reserveBytes` before the encoding and `trailerBytes` after it left
 * for the caller (zeroed), so that a host wrapping the encoding in its own framing need not copy
 * it (it can be as big as the store).
 */
export function* encodeSteps({ header: h, base, log }: SnapshotSource, sliceBytes: number, reserveBytes = 0, trailerBytes = 0): Generator<void, Uint8Array> {
  let size = MAGIC.length + uvarintSize(h.revision) + uvarintSize(h.compactRevision) + uvarintSize(h.lastLeaseId);
  size += uvarintSize(h.leases.length / 2);
  for (const n of h.leases) size += uvarintSize(n);
  size += uvarintSize(base.kvs.length) + uvarintSize(log.kvs.length);
  // Sizing reads no value bytes: it counts against the slice as a sixteenth of its size.
  let budget = sliceBytes;
  for (const { ids, kvs } of [base, log]) {
    for (let i = 0; i < kvs.length; i++) {
      const n = kvSize(ids[i], kvs[i]);
      size += n;
      budget -= 16 + (n >> 4);
      if (budget <= 0) {
        yield;
        budget = sliceBytes;
      }
    }
  }
  const w = new Writer(new Uint8Array(reserveBytes + size + trailerBytes), reserveBytes);
  w.raw(MAGIC);
  w.uvarint(h.revision);
  w.uvarint(h.compactRevision);
  w.uvarint(h.lastLeaseId);
  w.uvarint(h.leases.length / 2);
  for (const n of h.leases) w.uvarint(n);
  for (const { ids, kvs } of [base, log]) {
    w.uvarint(kvs.length);
    for (let i = 0; i < kvs.length; i++) {
      const at = w.offset;
      w.kv(ids[i], kvs[i]);
      budget -= w.offset - at;
      if (budget <= 0) {
        yield;
        budget = sliceBytes;
      }
    }
  }
  if (w.offset !== reserveBytes + size) throw new Error(`snapshot size mismatch: wrote ${w.offset - reserveBytes} of ${size}`);
  return w.buf;
}

/** Sequential reader. Keys and values come out as latin1 strings (copies: nothing keeps the snapshot buffer). */
export class SnapshotReader {
  private pos = 0;
  private readonly view: Buffer;

  constructor(data: Uint8Array) {
    this.view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    for (let i = 0; i < MAGIC.length; i++) if (this.view[i] !== MAGIC[i]) corrupt('bad magic or unknown format');
    this.pos = MAGIC.length;
  }

  get done(): boolean {
    return this.pos === this.view.length;
  }

  uvarint(): number {
    let n = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.view.length) corrupt('truncated');
      const b = this.view[this.pos++];
      n += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (!Number.isSafeInteger(n)) corrupt('number out of range');
        return n;
      }
      mul *= 0x80;
    }
    return corrupt('varint too long');
  }

  private span(): [number, number] {
    const len = this.uvarint();
    const start = this.pos;
    if (start + len > this.view.length) corrupt('truncated');
    this.pos += len;
    return [start, len];
  }

  header(): SnapshotHeader {
    const revision = this.uvarint();
    const compactRevision = this.uvarint();
    const lastLeaseId = this.uvarint();
    const n = this.uvarint();
    const leases: number[] = [];
    for (let i = 0; i < n; i++) leases.push(this.uvarint(), this.uvarint());
    return { revision, compactRevision, lastLeaseId, leases };
  }

  /** Reads a KV's key as an id; then call kvBody for the rest. */
  keyId(): string {
    const [start, len] = this.span();
    if (len === 0) corrupt('empty key');
    return this.view.toString('latin1', start, start + len);
  }

  kvBody(): StoredKv {
    const createRevision = this.uvarint();
    const modRevision = this.uvarint();
    const version = this.uvarint();
    const lease = this.uvarint();
    const [start, len] = this.span();
    return Object.freeze({ createRevision, modRevision, version, value: len === 0 ? '' : this.view.toString('latin1', start, start + len), lease });
  }
}
