/**
 * Decoding of `application/vnd.kubernetes.protobuf` request bodies, which kubectl's typed
 * clients send (auth can-i, auth whoami, create namespace|configmap|secret|deployment|
 * serviceaccount|token). The server only reads them: it turns them into the JSON object kubectl
 * would have sent as JSON and answers in JSON, which kubectl accepts.
 *
 *   decodeKubernetesProtobuf(body) → { apiVersion, kind, object } or throws ProtobufError
 *
 * ProtobufError.code is always INVALID_PROTOBUF; `unsupported` is true for well-formed bodies
 * this server cannot decode (kind not described, content encoding), for which kube-apiserver
 * answers 415 UnsupportedMediaType, and false for malformed bodies (400 BadRequest).
 */
export {
  KUBERNETES_PROTOBUF_CONTENT_TYPE,
  KUBERNETES_PROTOBUF_MAGIC,
  decodeKubernetesProtobuf,
  hasKubernetesProtobufMagic,
} from './envelope.js';
export type { DecodedKubernetesObject } from './envelope.js';
export { decodeMessage } from './decode.js';
export type { DecodeOptions } from './decode.js';
export { KIND_SCHEMAS, findKindSchema } from './schema.js';
export type {
  FieldSpec,
  KindSchema,
  MapField,
  MessageField,
  MessageMapField,
  MessageRef,
  MessageSchema,
  ScalarField,
  ScalarType,
} from './schema.js';
export { ProtobufError, ProtobufReader, WireType, isProtobufError } from './wire.js';
export type { Tag } from './wire.js';
