/**
 * The Kubernetes protobuf envelope: the 4-byte magic `k8s\0`, then a runtime.Unknown message
 *
 *   message Unknown  { TypeMeta typeMeta = 1; bytes raw = 2; string contentEncoding = 3; string contentType = 4; }
 *   message TypeMeta { string apiVersion = 1; string kind = 2; }
 *
 * whose `raw` is the object itself, encoded as the message of its kind. kubectl's typed clients
 * POST bodies in this form (kubectl-wire.md §0.3, §11.1) and do not fall back to JSON on a 415,
 * so the server decodes them into the JSON object kubectl would otherwise have sent.
 */
import { decodeMessage } from './decode.js';
import { findKindSchema } from './schema.js';
import { ProtobufError, ProtobufReader, WireType } from './wire.js';

export const KUBERNETES_PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf';

export const KUBERNETES_PROTOBUF_MAGIC: Readonly<Uint8Array> = Uint8Array.of(0x6b, 0x38, 0x73, 0x00);

export interface DecodedKubernetesObject {
  apiVersion: string;
  kind: string;
  /** The object as JSON, `apiVersion` and `kind` included. */
  object: Record<string, unknown>;
}

export function hasKubernetesProtobufMagic(body: Uint8Array): boolean {
  return body.length >= 4 && KUBERNETES_PROTOBUF_MAGIC.every((b, i) => body[i] === b);
}

/** Throws ProtobufError for anything but a well-formed envelope around a described kind. */
export function decodeKubernetesProtobuf(body: Uint8Array): DecodedKubernetesObject {
  if (!hasKubernetesProtobufMagic(body)) {
    throw new ProtobufError('not a Kubernetes protobuf body: it does not start with the bytes "k8s\\0"');
  }
  const envelope = readUnknown(new ProtobufReader(body, 4));
  const { apiVersion, kind } = envelope;
  if (kind === '') throw new ProtobufError('the protobuf envelope names no kind');
  if (apiVersion === '') throw new ProtobufError(`the protobuf envelope of kind ${kind} names no apiVersion`);
  if (envelope.contentEncoding !== '') {
    throw new ProtobufError(`protobuf bodies with content encoding "${envelope.contentEncoding}" are not supported`, {
      unsupported: true,
    });
  }
  // Empty means protobuf; anything else would mean `raw` holds some other serialization.
  if (envelope.contentType !== '' && envelope.contentType !== KUBERNETES_PROTOBUF_CONTENT_TYPE) {
    throw new ProtobufError(`protobuf envelopes holding "${envelope.contentType}" are not supported`, {
      unsupported: true,
    });
  }
  // Go writes raw even for an empty object (as zero bytes); without it the body was cut short.
  if (envelope.raw === undefined) throw new ProtobufError(`the protobuf envelope of kind ${kind} carries no object`);
  const schema = findKindSchema(apiVersion, kind);
  if (schema === undefined) {
    throw new ProtobufError(`protobuf bodies of kind ${kind} (${apiVersion}) are not supported; send JSON`, {
      unsupported: true,
    });
  }
  const fields = decodeMessage(envelope.raw, schema);
  return { apiVersion, kind, object: { apiVersion, kind, ...fields } };
}

interface Unknown {
  apiVersion: string;
  kind: string;
  raw: Uint8Array | undefined;
  contentEncoding: string;
  contentType: string;
}

function readUnknown(r: ProtobufReader): Unknown {
  const out: Unknown = { apiVersion: '', kind: '', raw: undefined, contentEncoding: '', contentType: '' };
  while (!r.atEnd()) {
    const { fieldNumber, wireType } = r.readTag();
    if (fieldNumber >= 1 && fieldNumber <= 4) {
      if (wireType !== WireType.LengthDelimited) {
        throw new ProtobufError(`envelope field ${fieldNumber}: wire type ${wireType}, expected 2`);
      }
    }
    switch (fieldNumber) {
      case 1:
        readTypeMeta(r.readMessage(), out);
        break;
      case 2:
        out.raw = r.readBytes();
        break;
      case 3:
        out.contentEncoding = r.readString();
        break;
      case 4:
        out.contentType = r.readString();
        break;
      default:
        r.skip(wireType);
    }
  }
  return out;
}

function readTypeMeta(r: ProtobufReader, out: Unknown): void {
  while (!r.atEnd()) {
    const { fieldNumber, wireType } = r.readTag();
    if ((fieldNumber === 1 || fieldNumber === 2) && wireType !== WireType.LengthDelimited) {
      throw new ProtobufError(`envelope typeMeta field ${fieldNumber}: wire type ${wireType}, expected 2`);
    }
    if (fieldNumber === 1) out.apiVersion = r.readString();
    else if (fieldNumber === 2) out.kind = r.readString();
    else r.skip(wireType);
  }
}
