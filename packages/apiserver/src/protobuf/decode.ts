/**
 * Schema-driven decoding of one protobuf message into the JSON object Kubernetes would have
 * produced for it. The presence rules are explained at the top of schema.ts.
 */
import { resolveMessage } from './schema.js';
import type { MapField, MessageMapField, MessageSchema, ScalarType } from './schema.js';
import { ProtobufError, ProtobufReader, WireType } from './wire.js';

export interface DecodeOptions {
  /**
   * How deep messages may nest. The described Kubernetes types nest about ten deep; the limit
   * is for schemas that refer to themselves, so a hostile body cannot exhaust the stack.
   */
  readonly maxDepth?: number;
}

const DEFAULT_MAX_DEPTH = 64;

type JsonRecord = Record<string, unknown>;

export function decodeMessage(bytes: Uint8Array, schema: MessageSchema, options: DecodeOptions = {}): JsonRecord {
  const ctx: Context = { maxDepth: options.maxDepth ?? DEFAULT_MAX_DEPTH };
  const out: JsonRecord = {};
  decodeInto(ctx, new ProtobufReader(bytes), schema, out, 0, schema.name);
  return out;
}

interface Context {
  readonly maxDepth: number;
}

function decodeInto(
  ctx: Context,
  r: ProtobufReader,
  schema: MessageSchema,
  target: JsonRecord,
  depth: number,
  path: string,
): void {
  if (depth > ctx.maxDepth) throw new ProtobufError(`${path}: messages nest deeper than ${ctx.maxDepth}`);
  while (!r.atEnd()) {
    const { fieldNumber, wireType } = r.readTag();
    const spec = Object.hasOwn(schema.fields, fieldNumber) ? schema.fields[fieldNumber] : undefined;
    if (spec === undefined) {
      r.skip(wireType);
      continue;
    }
    const fieldPath = `${path}.${spec.name}`;
    switch (spec.type) {
      case 'message': {
        expectWireType(wireType, WireType.LengthDelimited, fieldPath);
        const message = resolveMessage(spec.message);
        const sub = r.readMessage();
        if (spec.repeated) {
          appendTo(target, spec.name, decodeValueMessage(ctx, sub, message, depth + 1, fieldPath) ?? null);
        } else if (message.toJSON) {
          // Custom-JSON messages (Time, Quantity…) are leaves: a repeated occurrence replaces.
          const value = decodeValueMessage(ctx, sub, message, depth + 1, fieldPath);
          if (value === undefined) delete target[spec.name];
          else target[spec.name] = value;
        } else {
          // Protobuf merges repeated occurrences of a singular message field; so do we.
          const existing = target[spec.name];
          const obj = isRecord(existing) ? existing : {};
          decodeInto(ctx, sub, message, obj, depth + 1, fieldPath);
          target[spec.name] = obj;
        }
        break;
      }
      case 'map<string,string>':
      case 'map<string,bytes>':
      case 'map<string,message>': {
        expectWireType(wireType, WireType.LengthDelimited, fieldPath);
        const [key, value] = decodeMapEntry(ctx, r.readMessage(), spec, depth + 1, fieldPath);
        const existing = target[spec.name];
        const map = isRecord(existing) ? existing : {};
        defineOwn(map, key, value);
        target[spec.name] = map;
        break;
      }
      default: {
        if (spec.repeated) {
          if (wireType === WireType.LengthDelimited && isPackable(spec.type)) {
            // Packed encoding: a run of varints in one length-delimited field. gogo writes
            // proto2 lists unpacked, but a parser must accept both.
            const packed = r.readMessage();
            while (!packed.atEnd()) appendTo(target, spec.name, readScalar(packed, spec.type, fieldPath));
          } else {
            expectWireType(wireType, scalarWireType(spec.type), fieldPath);
            appendTo(target, spec.name, readScalar(r, spec.type, fieldPath));
          }
        } else {
          expectWireType(wireType, scalarWireType(spec.type), fieldPath);
          const value = readScalar(r, spec.type, fieldPath);
          if (!spec.optional && isZero(value)) delete target[spec.name];
          else target[spec.name] = value;
        }
      }
    }
  }
}

/** Decodes a message that is a value in itself (list element, map value, custom-JSON type). */
function decodeValueMessage(
  ctx: Context,
  r: ProtobufReader,
  message: MessageSchema,
  depth: number,
  path: string,
): unknown {
  const obj: JsonRecord = {};
  decodeInto(ctx, r, message, obj, depth, path);
  if (!message.toJSON) return obj;
  try {
    return message.toJSON(obj);
  } catch (err) {
    if (err instanceof ProtobufError) throw new ProtobufError(`${path}: ${err.message}`);
    throw new ProtobufError(`${path}: invalid ${message.name}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** A map entry is a message { key = 1; value = 2 }; a missing key or value is its zero value. */
function decodeMapEntry(
  ctx: Context,
  r: ProtobufReader,
  spec: MapField | MessageMapField,
  depth: number,
  path: string,
): [string, unknown] {
  if (depth > ctx.maxDepth) throw new ProtobufError(`${path}: messages nest deeper than ${ctx.maxDepth}`);
  let key = '';
  let value: unknown;
  while (!r.atEnd()) {
    const { fieldNumber, wireType } = r.readTag();
    if (fieldNumber === 1) {
      expectWireType(wireType, WireType.LengthDelimited, `${path} key`);
      key = r.readString();
    } else if (fieldNumber === 2) {
      expectWireType(wireType, WireType.LengthDelimited, `${path} value`);
      if (spec.type === 'map<string,message>') {
        value = decodeValueMessage(ctx, r.readMessage(), resolveMessage(spec.message), depth + 1, `${path} value`);
      } else {
        value = readScalar(r, spec.type === 'map<string,bytes>' ? 'bytes' : 'string', path);
      }
    } else {
      r.skip(wireType);
    }
  }
  if (value === undefined) {
    if (spec.type !== 'map<string,message>') return [key, ''];
    const empty = new ProtobufReader(new Uint8Array(0));
    value = decodeValueMessage(ctx, empty, resolveMessage(spec.message), depth + 1, path) ?? null;
  }
  return [key, value];
}

function readScalar(r: ProtobufReader, type: ScalarType, path: string): string | number | boolean {
  switch (type) {
    case 'string':
      return r.readString();
    case 'bytes':
      return Buffer.from(r.readBytes()).toString('base64');
    case 'bool':
      return r.readVarint() !== 0n;
    case 'int32':
      // Negative int32s are sign-extended to 64 bits on the wire; the low 32 bits are the value.
      return Number(BigInt.asIntN(32, r.readVarint()));
    case 'int64': {
      const v = BigInt.asIntN(64, r.readVarint());
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
        // A JSON number this large would be silently rounded by every JS consumer.
        throw new ProtobufError(`${path}: ${v} is beyond the integers JSON numbers hold exactly`);
      }
      return Number(v);
    }
  }
}

function scalarWireType(type: ScalarType): WireType {
  return type === 'string' || type === 'bytes' ? WireType.LengthDelimited : WireType.Varint;
}

function isPackable(type: ScalarType): boolean {
  return type === 'int32' || type === 'int64' || type === 'bool';
}

function expectWireType(actual: WireType, expected: WireType, path: string): void {
  // gogo-generated Unmarshal code rejects a known field with the wrong wire type; so do we.
  if (actual !== expected) throw new ProtobufError(`${path}: wire type ${actual}, expected ${expected}`);
}

function isZero(v: string | number | boolean): boolean {
  return v === '' || v === 0 || v === false;
}

function isRecord(v: unknown): v is JsonRecord {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function appendTo(target: JsonRecord, name: string, value: unknown): void {
  const existing = target[name];
  if (Array.isArray(existing)) existing.push(value);
  else target[name] = [value];
}

/** Map keys come from the client: `__proto__` must become a key, not a new prototype. */
function defineOwn(obj: JsonRecord, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}
