import { describe, expect, it } from 'vitest';
import { catchProtobufError, concat, fixed32, fixed64, int, str, varint } from './testing.js';
import { ProtobufError, ProtobufReader, WireType } from './wire.js';

const reader = (...bytes: number[]) => new ProtobufReader(Uint8Array.from(bytes));

describe('ProtobufReader varints', () => {
  const cases: [number[], bigint][] = [
    [[0x00], 0n],
    [[0x01], 1n],
    [[0x7f], 127n],
    [[0x80, 0x01], 128n],
    [[0xac, 0x02], 300n],
    [[0xff, 0xff, 0xff, 0xff, 0x0f], 0xffff_ffffn],
    [[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], 0xffff_ffff_ffff_ffffn],
    // Non-canonical (padded) encodings are legal protobuf.
    [[0x81, 0x80, 0x80, 0x00], 1n],
  ];
  for (const [bytes, want] of cases) {
    it(`reads ${want} from ${bytes.map((b) => b.toString(16)).join(' ')}`, () => {
      const r = reader(...bytes);
      expect(r.readVarint()).toBe(want);
      expect(r.atEnd()).toBe(true);
      if (want <= BigInt(Number.MAX_SAFE_INTEGER)) expect(reader(...bytes).readVarintNumber()).toBe(Number(want));
    });
  }

  it('round-trips the test writer, negative numbers as 10-byte two’s complement', () => {
    for (const v of [0n, 1n, 150n, 2n ** 35n, 2n ** 63n, -1n, -(2n ** 31n)]) {
      const bytes = varint(v);
      if (v < 0n) expect(bytes.length).toBe(10);
      expect(new ProtobufReader(bytes).readVarint()).toBe(BigInt.asUintN(64, v));
    }
  });

  it('refuses a varint longer than 10 bytes or wider than 64 bits', () => {
    const eleven = Array<number>(10).fill(0x80).concat([0x00]);
    expect(catchProtobufError(() => reader(...eleven).readVarint()).message).toMatch(/64 bits/);
    expect(catchProtobufError(() => reader(...eleven).readVarintNumber()).message).toMatch(/64 bits/);
    const wide = Array<number>(9).fill(0xff).concat([0x02]);
    expect(catchProtobufError(() => reader(...wide).readVarint()).message).toMatch(/64 bits/);
  });

  it('refuses a truncated varint', () => {
    expect(catchProtobufError(() => reader(0x80, 0x80).readVarint()).message).toMatch(/truncated varint at byte 0/);
    expect(() => reader().readVarintNumber()).toThrow(ProtobufError);
  });
});

describe('ProtobufReader tags', () => {
  it('splits field number and wire type', () => {
    expect(reader(0x0a).readTag()).toEqual({ fieldNumber: 1, wireType: WireType.LengthDelimited });
    expect(new ProtobufReader(varint((2 ** 29 - 1) * 8 + 5)).readTag()).toEqual({
      fieldNumber: 2 ** 29 - 1,
      wireType: WireType.Fixed32,
    });
  });

  it('refuses field number 0, wire types 6 and 7, and tags beyond 32 bits', () => {
    expect(catchProtobufError(() => reader(0x02).readTag()).message).toMatch(/field number 0/);
    expect(catchProtobufError(() => reader(0x0e).readTag()).message).toMatch(/wire type 6/);
    expect(catchProtobufError(() => reader(0x0f).readTag()).message).toMatch(/wire type 7/);
    expect(catchProtobufError(() => new ProtobufReader(varint(2 ** 32 + 8)).readTag()).message).toMatch(/out of range/);
  });
});

describe('ProtobufReader fixed-width and length-delimited values', () => {
  it('reads little-endian fixed32 and fixed64', () => {
    const r = new ProtobufReader(concat(fixed32(1, 0xdeadbeef), fixed64(2, 0x0123_4567_89ab_cdefn)));
    expect(r.readTag().wireType).toBe(WireType.Fixed32);
    expect(r.readFixed32()).toBe(0xdeadbeef);
    expect(r.readTag().wireType).toBe(WireType.Fixed64);
    expect(r.readFixed64()).toBe(0x0123_4567_89ab_cdefn);
    expect(r.atEnd()).toBe(true);
    expect(() => reader(1, 2, 3).readFixed32()).toThrow(ProtobufError);
    expect(() => reader(1, 2, 3, 4, 5, 6, 7).readFixed64()).toThrow(ProtobufError);
  });

  it('returns bytes as a view, without copying', () => {
    const buf = Uint8Array.of(0x03, 1, 2, 3, 9);
    const got = new ProtobufReader(buf).readBytes();
    expect([...got]).toEqual([1, 2, 3]);
    expect(got.buffer).toBe(buf.buffer);
  });

  it('refuses a length beyond the bytes left, however large, before slicing anything', () => {
    expect(catchProtobufError(() => reader(0x04, 1, 2, 3).readBytes()).message).toMatch(
      /length 4 at byte 0 exceeds the 3 bytes left/,
    );
    for (const length of [2 ** 31, 2 ** 53 - 1, 2 ** 62]) {
      expect(() => new ProtobufReader(concat(varint(length), Uint8Array.of(1))).readBytes()).toThrow(ProtobufError);
    }
  });

  it('keeps a sub-reader inside its message', () => {
    // field 1 = a 2-byte message holding a varint field whose last byte lies outside the message
    const r = new ProtobufReader(Uint8Array.of(0x0a, 0x02, 0x08, 0x96, 0x01));
    r.readTag();
    const sub = r.readMessage();
    sub.readTag();
    expect(() => sub.readVarint()).toThrow(/truncated varint/);
    expect(r.remaining).toBe(1);
  });

  it('decodes strings as UTF-8, replacing invalid sequences and keeping a leading BOM', () => {
    expect(new ProtobufReader(str(1, 'héllo ✓').subarray(1)).readString()).toBe('héllo ✓');
    expect(reader(0x03, 0x61, 0xff, 0x62).readString()).toBe('a\ufffdb');
    expect(reader(0x03, 0xef, 0xbb, 0xbf).readString()).toBe('\ufeff');
  });
});

describe('ProtobufReader.skip', () => {
  it('skips every non-group wire type', () => {
    const r = new ProtobufReader(
      concat(int(1, -5), fixed64(2, 7n), str(3, 'xyz'), fixed32(4, 9), int(5, 42)),
    );
    for (let i = 0; i < 4; i++) r.skip(r.readTag().wireType);
    expect(r.readTag().fieldNumber).toBe(5);
    expect(r.readVarint()).toBe(42n);
  });

  it('refuses groups and truncated values', () => {
    expect(catchProtobufError(() => reader().skip(WireType.StartGroup)).message).toMatch(/group/);
    expect(catchProtobufError(() => reader().skip(WireType.EndGroup)).message).toMatch(/group/);
    expect(() => reader(1, 2, 3).skip(WireType.Fixed64)).toThrow(ProtobufError);
    expect(() => reader(0x05, 1).skip(WireType.LengthDelimited)).toThrow(ProtobufError);
  });

  it('ProtobufError carries the code callers match on', () => {
    const err = catchProtobufError(() => reader().readTag());
    expect(err.code).toBe('INVALID_PROTOBUF');
    expect(err.unsupported).toBe(false);
    expect(err.name).toBe('ProtobufError');
  });
});
