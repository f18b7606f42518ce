import { describe, expect, it } from 'vitest';
import { decodeMessage } from './decode.js';
import type { MessageSchema } from './schema.js';
import { Deployment, ObjectMeta, OwnerReference, ResourceRequirements, RollingUpdateDeployment } from './schema.js';
import {
  bool,
  bytes,
  catchProtobufError,
  concat,
  entry,
  fixed32,
  fixed64,
  int,
  key,
  msg,
  str,
  stringMap,
  varint,
} from './testing.js';

const Inner: MessageSchema = {
  name: 'Inner',
  fields: {
    1: { name: 'a', type: 'string' },
    2: { name: 'b', type: 'int32' },
  },
};

const Sample: MessageSchema = {
  name: 'Sample',
  fields: {
    1: { name: 's', type: 'string' },
    2: { name: 'i32', type: 'int32' },
    3: { name: 'i64', type: 'int64' },
    4: { name: 'flag', type: 'bool' },
    5: { name: 'blob', type: 'bytes' },
    6: { name: 'ptr', type: 'int32', optional: true },
    7: { name: 'ptrFlag', type: 'bool', optional: true },
    8: { name: 'inner', type: 'message', message: Inner },
    9: { name: 'list', type: 'string', repeated: true },
    10: { name: 'nums', type: 'int32', repeated: true },
    11: { name: 'items', type: 'message', message: Inner, repeated: true },
    12: { name: 'labels', type: 'map<string,string>' },
    13: { name: 'bin', type: 'map<string,bytes>' },
    14: { name: 'byName', type: 'map<string,message>', message: Inner },
  },
};

const decode = (...parts: Uint8Array[]) => decodeMessage(concat(...parts), Sample);

describe('decodeMessage: scalars', () => {
  it('decodes each scalar type; bytes become base64', () => {
    expect(decode(str(1, 'x'), int(2, -7), int(3, 2 ** 40), bool(4, true), bytes(5, Uint8Array.of(0, 0xff, 0x10)))).toEqual({
      s: 'x',
      i32: -7,
      i64: 2 ** 40,
      flag: true,
      blob: 'AP8Q',
    });
  });

  it('drops zero values of plain fields, as omitempty JSON would', () => {
    expect(decode(str(1, ''), int(2, 0), int(3, 0), bool(4, false), bytes(5, new Uint8Array(0)))).toEqual({});
  });

  it('keeps zero values of optional (pointer) fields', () => {
    expect(decode(int(6, 0), bool(7, false))).toEqual({ ptr: 0, ptrFlag: false });
  });

  it('lets a later occurrence replace an earlier one, even with a zero value', () => {
    expect(decode(str(1, 'a'), str(1, 'b'))).toEqual({ s: 'b' });
    expect(decode(str(1, 'a'), str(1, ''))).toEqual({});
  });

  it('takes the low 32 bits of an int32 varint, as Go does', () => {
    expect(decode(int(2, 2 ** 32 + 5))).toEqual({ i32: 5 });
    expect(decode(int(2, -(2 ** 31)))).toEqual({ i32: -(2 ** 31) });
  });

  it('refuses int64 values JSON numbers cannot hold exactly', () => {
    expect(decode(int(3, Number.MAX_SAFE_INTEGER))).toEqual({ i64: Number.MAX_SAFE_INTEGER });
    expect(decode(int(3, -Number.MAX_SAFE_INTEGER))).toEqual({ i64: -Number.MAX_SAFE_INTEGER });
    expect(catchProtobufError(() => decode(int(3, 2n ** 53n))).message).toMatch(/Sample\.i64/);
  });

  it('refuses a known field with the wrong wire type', () => {
    expect(catchProtobufError(() => decode(int(1, 5))).message).toBe('Sample.s: wire type 0, expected 2');
    expect(catchProtobufError(() => decode(str(2, 'x'))).message).toBe('Sample.i32: wire type 2, expected 0');
    expect(() => decode(int(8, 1))).toThrow(/Sample\.inner/);
    expect(() => decode(int(12, 1))).toThrow(/Sample\.labels/);
  });
});

describe('decodeMessage: repeated fields', () => {
  it('collects elements in order, keeping empty ones', () => {
    expect(decode(str(9, 'a'), str(9, ''), str(9, 'c'))).toEqual({ list: ['a', '', 'c'] });
  });

  it('accepts numbers both unpacked and packed', () => {
    const packed = bytes(10, concat(varint(1), varint(300), varint(-1)));
    expect(decode(int(10, 0), packed, int(10, 4))).toEqual({ nums: [0, 1, 300, -1, 4] });
  });

  it('refuses a packed run that ends inside a number', () => {
    expect(() => decode(bytes(10, Uint8Array.of(0x96)))).toThrow(/truncated varint/);
  });

  it('decodes repeated messages, empty ones as {}', () => {
    expect(decode(msg(11, str(1, 'x')), msg(11))).toEqual({ items: [{ a: 'x' }, {}] });
  });
});

describe('decodeMessage: messages', () => {
  it('writes a present but empty message as {}', () => {
    expect(decode(msg(8))).toEqual({ inner: {} });
    expect(decode(msg(8, str(1, ''), int(2, 0)))).toEqual({ inner: {} });
  });

  it('merges repeated occurrences of a singular message, as protobuf does', () => {
    expect(decode(msg(8, str(1, 'x')), msg(8, int(2, 3)))).toEqual({ inner: { a: 'x', b: 3 } });
  });

  it('skips unknown fields of every wire type, nested messages included', () => {
    const unknown = concat(
      int(50, 1),
      fixed64(51, 2n),
      str(52, 'ignored'),
      fixed32(53, 3),
      msg(54, msg(1, str(1, 'deep'))),
    );
    expect(decode(unknown, str(1, 'kept'), msg(8, unknown, int(2, 9)))).toEqual({ s: 'kept', inner: { b: 9 } });
  });

  it('refuses groups, even in unknown fields', () => {
    expect(catchProtobufError(() => decode(key(50, 3), key(50, 4))).message).toMatch(/group/);
  });

  it('bounds nesting, so a self-referencing schema cannot exhaust the stack', () => {
    const Node: MessageSchema = { name: 'Node', fields: { 1: { name: 'child', type: 'message', message: () => Node } } };
    let body: Uint8Array = new Uint8Array(0);
    for (let i = 0; i < 10; i++) body = msg(1, body);
    expect(decodeMessage(body, Node, { maxDepth: 10 })).toEqual({
      child: { child: { child: { child: { child: { child: { child: { child: { child: { child: {} } } } } } } } } },
    });
    expect(catchProtobufError(() => decodeMessage(body, Node, { maxDepth: 9 })).message).toMatch(/nest deeper than 9/);

    // The default limit holds against a body nested thousands deep.
    let deep: Uint8Array = new Uint8Array(0);
    for (let i = 0; i < 5000; i++) deep = msg(1, deep);
    expect(() => decodeMessage(deep, Node)).toThrow(/nest deeper than 64/);
  });
});

describe('decodeMessage: maps', () => {
  it('decodes string, bytes and message values; empty keys and values are kept', () => {
    const body = concat(
      stringMap(12, { app: 'web', empty: '', '': 'no key' }),
      entry(13, 'bin', bytes(2, Uint8Array.of(0xde, 0xad, 0xbe, 0xef))),
      entry(14, 'one', msg(2, str(1, 'x'), int(2, 1))),
    );
    expect(decodeMessage(body, Sample)).toEqual({
      labels: { app: 'web', empty: '', '': 'no key' },
      bin: { bin: '3q2+7w==' },
      byName: { one: { a: 'x', b: 1 } },
    });
  });

  it('gives an entry without a value the zero value, and the last of duplicate keys wins', () => {
    expect(decode(entry(12, 'k'), entry(13, 'b'), entry(14, 'm'))).toEqual({
      labels: { k: '' },
      bin: { b: '' },
      byName: { m: {} },
    });
    expect(decode(entry(12, 'k', str(2, '1')), entry(12, 'k', str(2, '2')))).toEqual({ labels: { k: '2' } });
  });

  it('makes "__proto__" an ordinary key instead of replacing the prototype', () => {
    const out = decode(entry(12, '__proto__', str(2, 'x')), entry(12, 'constructor', str(2, 'y')));
    const labels = out.labels as Record<string, unknown>;
    expect(Object.getPrototypeOf(labels)).toBe(Object.prototype);
    expect(Object.keys(labels)).toEqual(['__proto__', 'constructor']);
    expect(JSON.stringify(out)).toBe('{"labels":{"__proto__":"x","constructor":"y"}}');
  });

  it('skips unknown fields inside an entry', () => {
    expect(decode(msg(12, int(3, 1), str(1, 'k'), str(2, 'v')))).toEqual({ labels: { k: 'v' } });
  });
});

describe('decodeMessage: types with their own JSON form', () => {
  it('writes Time as RFC 3339 in UTC, to the second, and omits the zero Time', () => {
    const meta = (...parts: Uint8Array[]) => decodeMessage(concat(...parts), ObjectMeta);
    expect(meta(msg(8, int(1, 1_700_000_000), int(2, 123_456_789)))).toEqual({ creationTimestamp: '2023-11-14T22:13:20Z' });
    expect(meta(msg(8, int(1, 0), int(2, 0)))).toEqual({ creationTimestamp: '1970-01-01T00:00:00Z' });
    expect(meta(msg(8, int(1, -62_135_596_800)))).toEqual({ creationTimestamp: '0001-01-01T00:00:00Z' });
    expect(meta(msg(8))).toEqual({});
    expect(meta(msg(9, int(1, 1)), int(10, 0))).toEqual({
      deletionTimestamp: '1970-01-01T00:00:01Z',
      deletionGracePeriodSeconds: 0,
    });
    expect(catchProtobufError(() => meta(msg(8, int(1, 2 ** 40)))).message).toMatch(
      /^ObjectMeta\.creationTimestamp: timestamp \d+s is outside/,
    );
  });

  it('writes IntOrString as a number or a string', () => {
    const body = concat(msg(1, int(1, 0), int(2, 1), str(3, '')), msg(2, int(1, 1), int(2, 0), str(3, '25%')));
    expect(decodeMessage(body, RollingUpdateDeployment)).toEqual({ maxUnavailable: 1, maxSurge: '25%' });
    expect(decodeMessage(msg(1, int(1, 0), int(2, 0), str(3, '')), RollingUpdateDeployment)).toEqual({ maxUnavailable: 0 });
  });

  it('writes Quantity as its string', () => {
    const body = concat(entry(1, 'cpu', msg(2, str(1, '500m'))), entry(2, 'memory', msg(2, str(1, '64Mi'))), entry(2, 'gpu'));
    expect(decodeMessage(body, ResourceRequirements)).toEqual({
      limits: { cpu: '500m' },
      requests: { memory: '64Mi', gpu: '0' },
    });
  });

  it('writes FieldsV1 as the JSON document it carries, and refuses one that is not JSON', () => {
    const fields = '{"f:metadata":{"f:labels":{".":{}}}}';
    const body = msg(
      17,
      concat(str(1, 'kubectl'), str(2, 'Update'), msg(4, int(1, 86400)), str(6, 'FieldsV1'), msg(7, str(1, fields))),
    );
    expect(decodeMessage(body, ObjectMeta)).toEqual({
      managedFields: [
        {
          manager: 'kubectl',
          operation: 'Update',
          time: '1970-01-02T00:00:00Z',
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:metadata': { 'f:labels': { '.': {} } } },
        },
      ],
    });
    expect(catchProtobufError(() => decodeMessage(msg(17, msg(7, str(1, '{oops'))), ObjectMeta)).message).toMatch(
      /^ObjectMeta\.managedFields\.fieldsV1: invalid FieldsV1/,
    );
  });

  it('keeps optional bools of owner references', () => {
    const ref = msg(13, str(5, 'apps/v1'), str(1, 'ReplicaSet'), str(3, 'web-1'), str(4, 'u1'), bool(6, true), bool(7, false));
    expect(decodeMessage(ref, ObjectMeta)).toEqual({
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-1', uid: 'u1', controller: true, blockOwnerDeletion: false },
      ],
    });
    expect(OwnerReference.fields[6]).toMatchObject({ optional: true });
  });

  it('keeps replicas: 0, which means "scale to zero", not "default"', () => {
    expect(decodeMessage(msg(2, int(1, 0), int(5, 0), bool(7, false)), Deployment)).toEqual({ spec: { replicas: 0 } });
  });
});
