/**
 * Helpers for this folder's tests, not part of the public API (index.ts does not export them):
 * a tiny protobuf writer to build bodies field by field, and ObjectMeta written the way Go's
 * gogo-protobuf writes it, zero-valued fields included.
 */
import { ProtobufError } from './wire.js';

const utf8 = new TextEncoder();

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Negative values are written as 64-bit two's complement (10 bytes), as Go writes int32/int64. */
export function varint(value: number | bigint): Uint8Array {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v === 0n ? low : low | 0x80);
  } while (v !== 0n);
  return Uint8Array.from(out);
}

export function key(field: number, wireType: number): Uint8Array {
  return varint(field * 8 + wireType);
}

export function int(field: number, value: number | bigint): Uint8Array {
  return concat(key(field, 0), varint(value));
}

export function bool(field: number, value: boolean): Uint8Array {
  return int(field, value ? 1 : 0);
}

export function bytes(field: number, payload: Uint8Array): Uint8Array {
  return concat(key(field, 2), varint(payload.length), payload);
}

export function str(field: number, s: string): Uint8Array {
  return bytes(field, utf8.encode(s));
}

export function msg(field: number, ...parts: Uint8Array[]): Uint8Array {
  return bytes(field, concat(...parts));
}

/** One entry of a map<string, …> field; `value` is the already-encoded field 2 (or nothing). */
export function entry(field: number, k: string, value: Uint8Array = new Uint8Array(0)): Uint8Array {
  return msg(field, str(1, k), value);
}

export function stringMap(field: number, m: Record<string, string>): Uint8Array {
  return concat(...Object.entries(m).map(([k, v]) => entry(field, k, str(2, v))));
}

export function fixed32(field: number, value: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value, true);
  return concat(key(field, 5), b);
}

export function fixed64(field: number, value: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, value, true);
  return concat(key(field, 1), b);
}

export function envelope(
  apiVersion: string,
  kind: string,
  raw: Uint8Array,
  opts: { contentEncoding?: string; contentType?: string } = {},
): Uint8Array {
  return concat(
    Uint8Array.of(0x6b, 0x38, 0x73, 0x00),
    msg(1, str(1, apiVersion), str(2, kind)),
    bytes(2, raw),
    str(3, opts.contentEncoding ?? ''),
    str(4, opts.contentType ?? ''),
  );
}

/**
 * Parses a hex dump written as in kubectl-wire.md: groups of hex digits, and "quoted" ASCII for
 * the strings, e.g. `0a07 "default" 1206 "create"`.
 */
export function dump(text: string): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const token of text.match(/"[^"]*"|[0-9a-fA-F]+/g) ?? []) {
    if (token.startsWith('"')) {
      parts.push(utf8.encode(token.slice(1, -1)));
    } else {
      if (token.length % 2 !== 0) throw new Error(`odd hex group ${token}`);
      parts.push(Uint8Array.from(token.match(/../g) ?? [], (h) => parseInt(h, 16)));
    }
  }
  return concat(...parts);
}

/** ObjectMeta as Go writes it: every non-pointer field, even empty; a zero Time as an empty message. */
export function goObjectMeta(
  field: number,
  m: { name?: string; namespace?: string; labels?: Record<string, string> } = {},
): Uint8Array {
  return msg(
    field,
    str(1, m.name ?? ''),
    str(2, ''),
    str(3, m.namespace ?? ''),
    str(4, ''),
    str(5, ''),
    str(6, ''),
    int(7, 0),
    msg(8),
    stringMap(11, m.labels ?? {}),
  );
}

export function catchProtobufError(f: () => unknown): ProtobufError {
  try {
    f();
  } catch (err) {
    if (err instanceof ProtobufError) return err;
    throw err;
  }
  throw new Error('expected a ProtobufError, nothing was thrown');
}

/** A seeded PRNG, so fuzz cases are the same on every run. */
export { seededRandom as prng } from '@flotilla/raftkv';
