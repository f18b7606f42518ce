/**
 * A minimal reader for the protobuf wire format (https://protobuf.dev/programming-guides/encoding/),
 * just enough for the request bodies kubectl sends as `application/vnd.kubernetes.protobuf`.
 *
 * Request bodies come from the network, so every read is bounds-checked against the end of the
 * (sub-)message and throws ProtobufError instead of reading past it; lengths are compared with
 * the bytes actually left before anything is sliced, so a hostile length costs nothing; and every
 * loop over the input consumes at least one byte per turn, so decoding is linear in the body size.
 */

/**
 * The one error type of the protobuf decoder. `code` is always INVALID_PROTOBUF so callers can
 * match it like the other error types of the server; `unsupported` separates "well-formed, but
 * this server cannot decode it" (an unknown kind, a content encoding: kube-apiserver answers
 * 415) from a malformed body (400).
 */
export class ProtobufError extends Error {
  readonly code = 'INVALID_PROTOBUF' as const;
  readonly unsupported: boolean;

  constructor(message: string, options: { unsupported?: boolean } = {}) {
    super(message);
    this.name = 'ProtobufError';
    this.unsupported = options.unsupported ?? false;
  }
}

export function isProtobufError(err: unknown): err is ProtobufError {
  return err instanceof ProtobufError;
}

export const WireType = {
  Varint: 0,
  Fixed64: 1,
  LengthDelimited: 2,
  StartGroup: 3,
  EndGroup: 4,
  Fixed32: 5,
} as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

export interface Tag {
  readonly fieldNumber: number;
  readonly wireType: WireType;
}

/** Field numbers are 29-bit (https://protobuf.dev/programming-guides/proto3/#assigning). */
const MAX_FIELD_NUMBER = 2 ** 29 - 1;
const MAX_VARINT_BYTES = 10;

// Go does not validate UTF-8 in proto2 strings and its JSON encoder replaces invalid sequences
// with U+FFFD; a non-fatal decoder gives the same JSON. ignoreBOM keeps a leading U+FEFF, which
// is data here, not a byte-order mark.
const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

export class ProtobufReader {
  private pos: number;
  private readonly end: number;

  constructor(
    private readonly buf: Uint8Array,
    start = 0,
    end = buf.length,
  ) {
    if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= buf.length)) {
      throw new RangeError(`invalid reader bounds [${start}, ${end}) for ${buf.length} bytes`);
    }
    this.pos = start;
    this.end = end;
  }

  /** Offset of the next byte to read, relative to the whole buffer (for error messages). */
  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  atEnd(): boolean {
    return this.pos >= this.end;
  }

  readTag(): Tag {
    const at = this.pos;
    const tag = this.readVarintNumber();
    if (tag > 0xffff_ffff) throw new ProtobufError(`tag ${tag} at byte ${at} is out of range`);
    const fieldNumber = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (fieldNumber === 0 || fieldNumber > MAX_FIELD_NUMBER) {
      throw new ProtobufError(`invalid field number ${fieldNumber} at byte ${at}`);
    }
    if (wireType > 5) throw new ProtobufError(`invalid wire type ${wireType} at byte ${at}`);
    return { fieldNumber, wireType: wireType as WireType };
  }

  /** A varint as an unsigned 64-bit value; callers reinterpret it (int32, int64, bool). */
  readVarint(): bigint {
    const start = this.pos;
    let result = 0n;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const b = this.byte(start);
      result |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) {
        // The 10th byte holds only bit 63; anything more does not fit in 64 bits.
        if (i === MAX_VARINT_BYTES - 1 && b > 1) break;
        return result;
      }
    }
    throw new ProtobufError(`varint at byte ${start} does not fit in 64 bits`);
  }

  /**
   * A varint as a JS number, for tags and lengths: no BigInt on the hot path. Values beyond 2^53
   * come out as some number ≥ 2^53 (float rounding is monotonic), which every caller rejects.
   */
  readVarintNumber(): number {
    const start = this.pos;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const b = this.byte(start);
      result += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (i === MAX_VARINT_BYTES - 1 && b > 1) break;
        return result;
      }
      scale *= 128;
    }
    throw new ProtobufError(`varint at byte ${start} does not fit in 64 bits`);
  }

  readFixed32(): number {
    const at = this.take(4);
    const b = this.buf;
    return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
  }

  readFixed64(): bigint {
    const lo = BigInt(this.readFixed32());
    const hi = BigInt(this.readFixed32());
    return (hi << 32n) | lo;
  }

  /** The payload of a length-delimited field, as a view into the input (no copy). */
  readBytes(): Uint8Array {
    const length = this.readLength();
    const at = this.take(length);
    return this.buf.subarray(at, at + length);
  }

  readString(): string {
    return utf8.decode(this.readBytes());
  }

  /** A reader over the payload of a length-delimited field (an embedded message or packed list). */
  readMessage(): ProtobufReader {
    const length = this.readLength();
    const at = this.take(length);
    return new ProtobufReader(this.buf, at, at + length);
  }

  /** Skips one field's value; used for fields the schema does not know. */
  skip(wireType: WireType): void {
    switch (wireType) {
      case WireType.Varint:
        this.readVarintNumber();
        return;
      case WireType.Fixed64:
        this.take(8);
        return;
      case WireType.LengthDelimited:
        this.take(this.readLength());
        return;
      case WireType.Fixed32:
        this.take(4);
        return;
      default:
        // Groups were deprecated before Kubernetes existed; no Kubernetes type uses them.
        throw new ProtobufError(`wire type ${wireType} (group) at byte ${this.pos} is not supported`);
    }
  }

  private readLength(): number {
    const at = this.pos;
    const length = this.readVarintNumber();
    if (length > this.remaining) {
      throw new ProtobufError(`length ${length} at byte ${at} exceeds the ${this.remaining} bytes left`);
    }
    return length;
  }

  /** Consumes n bytes and returns where they start. */
  private take(n: number): number {
    if (n > this.remaining) {
      throw new ProtobufError(`truncated: need ${n} bytes at byte ${this.pos}, ${this.remaining} left`);
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private byte(start: number): number {
    if (this.pos >= this.end) throw new ProtobufError(`truncated varint at byte ${start}`);
    return this.buf[this.pos++];
  }
}
