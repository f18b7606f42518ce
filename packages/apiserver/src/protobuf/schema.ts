/**
 * Declarative descriptions of the Kubernetes protobuf messages this server decodes, and the
 * table of kinds (apiVersion + kind → message) that decodeKubernetesProtobuf looks bodies up in.
 *
 * Field numbers follow the `generated.proto` files of k8s.io/api and k8s.io/apimachinery; they
 * never change once released, so one description holds for every Kubernetes version. Only the
 * fields the typed kubectl commands send are described (kubectl-wire.md §0.3 lists the commands);
 * anything else on the wire is skipped like any unknown protobuf field. Supporting another kind
 * is one more entry in KIND_SCHEMAS (plus messages for its fields).
 *
 * Presence. Kubernetes encodes with gogo-protobuf, which writes every non-pointer Go field even
 * when it holds its zero value ("", 0, false, an empty struct), and a pointer field only when it
 * is set. The JSON those Go structs produce omits zero values (`omitempty`) but keeps pointer
 * fields that are set, and always writes structs. The decoder mirrors that:
 * - a scalar field whose value is the zero value is dropped, unless the field is marked
 *   `optional` (a Go pointer: `replicas: 0` is a real request, `generation: 0` is not);
 * - a message field on the wire becomes an object even when empty (`metadata: {}`,
 *   `strategy: {}`), as the JSON would have it;
 * - repeated and map fields absent from the wire stay absent (an empty Go slice or map is not
 *   written at all, so "absent" and "empty" cannot be told apart); elements of lists and values
 *   of maps are kept as they are, zero or not (a label may have an empty value).
 */

import { ProtobufError } from './wire.js';

export type ScalarType = 'string' | 'bytes' | 'int32' | 'int64' | 'bool';

interface FieldBase {
  /** The JSON field name. */
  readonly name: string;
}

export interface ScalarField extends FieldBase {
  /** `bytes` becomes a base64 string, as Kubernetes' JSON encodes []byte. */
  readonly type: ScalarType;
  readonly repeated?: true;
  /** A Go pointer field: set means present, so a zero value is kept (see the module comment). */
  readonly optional?: true;
}

/** Schemas may refer to each other lazily, so declaration order (and recursion) is free. */
export type MessageRef = MessageSchema | (() => MessageSchema);

export interface MessageField extends FieldBase {
  readonly type: 'message';
  readonly message: MessageRef;
  readonly repeated?: true;
}

export interface MapField extends FieldBase {
  readonly type: 'map<string,string>' | 'map<string,bytes>';
}

/** map<string, M>, e.g. resource lists (map<string, Quantity>). */
export interface MessageMapField extends FieldBase {
  readonly type: 'map<string,message>';
  readonly message: MessageRef;
}

export type FieldSpec = ScalarField | MessageField | MapField | MessageMapField;

export interface MessageSchema {
  /** The protobuf message name; error messages use it. */
  readonly name: string;
  readonly fields: Readonly<Record<number, FieldSpec>>;
  /**
   * For types whose JSON form is not an object (Time is an RFC 3339 string, Quantity a string,
   * IntOrString a number or a string): turns the decoded fields into that form. Returning
   * undefined omits the field, as a zero Time is omitted.
   */
  readonly toJSON?: (decoded: Readonly<Record<string, unknown>>) => unknown;
}

export function resolveMessage(ref: MessageRef): MessageSchema {
  return typeof ref === 'function' ? ref() : ref;
}

// ---------------------------------------------------------------------------------------------
// Conversions for the types with custom JSON

/** Time.Unix() of 0001-01-01T00:00:00Z and of 9999-12-31T23:59:59Z: the range RFC 3339 can write. */
const MIN_TIME_SECONDS = -62_135_596_800;
const MAX_TIME_SECONDS = 253_402_300_799;

function timeToJSON(decoded: Readonly<Record<string, unknown>>): string | undefined {
  // Go writes nothing at all for the zero Time (it is what `creationTimestamp: null` becomes),
  // whereas the Unix epoch is written as seconds=0, nanos=0; hence `optional` on both fields.
  if (decoded.seconds === undefined && decoded.nanos === undefined) return undefined;
  const seconds = typeof decoded.seconds === 'number' ? decoded.seconds : 0;
  if (seconds < MIN_TIME_SECONDS || seconds > MAX_TIME_SECONDS) {
    throw new ProtobufError(`timestamp ${seconds}s is outside the years 1 to 9999`);
  }
  // metav1.Time marshals to JSON with second precision in UTC; nanos do not survive either.
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function quantityToJSON(decoded: Readonly<Record<string, unknown>>): string {
  // An empty Quantity is the zero quantity, which Kubernetes writes as "0".
  return typeof decoded.string === 'string' ? decoded.string : '0';
}

function intOrStringToJSON(decoded: Readonly<Record<string, unknown>>): number | string {
  // type 0 = Int, 1 = String (intstr.Type).
  if (decoded.type === 1) return typeof decoded.strVal === 'string' ? decoded.strVal : '';
  return typeof decoded.intVal === 'number' ? decoded.intVal : 0;
}

function fieldsV1ToJSON(decoded: Readonly<Record<string, unknown>>): unknown {
  // FieldsV1 carries a JSON document as bytes; its JSON form is that document.
  if (typeof decoded.raw !== 'string') return {};
  return JSON.parse(Buffer.from(decoded.raw, 'base64').toString('utf8'));
}

// ---------------------------------------------------------------------------------------------
// k8s.io/apimachinery: pkg/apis/meta/v1, pkg/api/resource, pkg/util/intstr

export const Time: MessageSchema = {
  name: 'Time',
  fields: {
    1: { name: 'seconds', type: 'int64', optional: true },
    2: { name: 'nanos', type: 'int32', optional: true },
  },
  toJSON: timeToJSON,
};

export const Quantity: MessageSchema = {
  name: 'Quantity',
  fields: { 1: { name: 'string', type: 'string' } },
  toJSON: quantityToJSON,
};

export const IntOrString: MessageSchema = {
  name: 'IntOrString',
  fields: {
    1: { name: 'type', type: 'int64' },
    2: { name: 'intVal', type: 'int32' },
    3: { name: 'strVal', type: 'string' },
  },
  toJSON: intOrStringToJSON,
};

export const FieldsV1: MessageSchema = {
  name: 'FieldsV1',
  fields: { 1: { name: 'raw', type: 'bytes' } },
  toJSON: fieldsV1ToJSON,
};

export const OwnerReference: MessageSchema = {
  name: 'OwnerReference',
  fields: {
    1: { name: 'kind', type: 'string' },
    3: { name: 'name', type: 'string' },
    4: { name: 'uid', type: 'string' },
    5: { name: 'apiVersion', type: 'string' },
    6: { name: 'controller', type: 'bool', optional: true },
    7: { name: 'blockOwnerDeletion', type: 'bool', optional: true },
  },
};

export const ManagedFieldsEntry: MessageSchema = {
  name: 'ManagedFieldsEntry',
  fields: {
    1: { name: 'manager', type: 'string' },
    2: { name: 'operation', type: 'string' },
    3: { name: 'apiVersion', type: 'string' },
    4: { name: 'time', type: 'message', message: Time },
    6: { name: 'fieldsType', type: 'string' },
    7: { name: 'fieldsV1', type: 'message', message: FieldsV1 },
    8: { name: 'subresource', type: 'string' },
  },
};

export const ObjectMeta: MessageSchema = {
  name: 'ObjectMeta',
  fields: {
    1: { name: 'name', type: 'string' },
    2: { name: 'generateName', type: 'string' },
    3: { name: 'namespace', type: 'string' },
    4: { name: 'selfLink', type: 'string' },
    5: { name: 'uid', type: 'string' },
    6: { name: 'resourceVersion', type: 'string' },
    7: { name: 'generation', type: 'int64' },
    8: { name: 'creationTimestamp', type: 'message', message: Time },
    9: { name: 'deletionTimestamp', type: 'message', message: Time },
    10: { name: 'deletionGracePeriodSeconds', type: 'int64', optional: true },
    11: { name: 'labels', type: 'map<string,string>' },
    12: { name: 'annotations', type: 'map<string,string>' },
    13: { name: 'ownerReferences', type: 'message', message: OwnerReference, repeated: true },
    14: { name: 'finalizers', type: 'string', repeated: true },
    // 15 was clusterName (removed); 16 was never used.
    17: { name: 'managedFields', type: 'message', message: ManagedFieldsEntry, repeated: true },
  },
};

/** Also FieldSelectorRequirement: the two share their field numbers. */
const selectorRequirementFields = {
  1: { name: 'key', type: 'string' },
  2: { name: 'operator', type: 'string' },
  3: { name: 'values', type: 'string', repeated: true },
} as const satisfies Record<number, FieldSpec>;

export const LabelSelectorRequirement: MessageSchema = {
  name: 'LabelSelectorRequirement',
  fields: selectorRequirementFields,
};

export const FieldSelectorRequirement: MessageSchema = {
  name: 'FieldSelectorRequirement',
  fields: selectorRequirementFields,
};

export const LabelSelector: MessageSchema = {
  name: 'LabelSelector',
  fields: {
    1: { name: 'matchLabels', type: 'map<string,string>' },
    2: { name: 'matchExpressions', type: 'message', message: LabelSelectorRequirement, repeated: true },
  },
};

// ---------------------------------------------------------------------------------------------
// k8s.io/api/core/v1

export const ObjectReference: MessageSchema = {
  name: 'ObjectReference',
  fields: {
    1: { name: 'kind', type: 'string' },
    2: { name: 'namespace', type: 'string' },
    3: { name: 'name', type: 'string' },
    4: { name: 'uid', type: 'string' },
    5: { name: 'apiVersion', type: 'string' },
    6: { name: 'resourceVersion', type: 'string' },
    7: { name: 'fieldPath', type: 'string' },
  },
};

export const LocalObjectReference: MessageSchema = {
  name: 'LocalObjectReference',
  fields: { 1: { name: 'name', type: 'string' } },
};

export const NamespaceSpec: MessageSchema = {
  name: 'NamespaceSpec',
  fields: { 1: { name: 'finalizers', type: 'string', repeated: true } },
};

export const NamespaceStatus: MessageSchema = {
  name: 'NamespaceStatus',
  // conditions (2) are written by the namespace controller only.
  fields: { 1: { name: 'phase', type: 'string' } },
};

export const Namespace: MessageSchema = {
  name: 'Namespace',
  fields: {
    1: { name: 'metadata', type: 'message', message: ObjectMeta },
    2: { name: 'spec', type: 'message', message: NamespaceSpec },
    3: { name: 'status', type: 'message', message: NamespaceStatus },
  },
};

export const ConfigMap: MessageSchema = {
  name: 'ConfigMap',
  fields: {
    1: { name: 'metadata', type: 'message', message: ObjectMeta },
    2: { name: 'data', type: 'map<string,string>' },
    3: { name: 'binaryData', type: 'map<string,bytes>' },
    4: { name: 'immutable', type: 'bool', optional: true },
  },
};

export const Secret: MessageSchema = {
  name: 'Secret',
  fields: {
    1: { name: 'metadata', type: 'message', message: ObjectMeta },
    2: { name: 'data', type: 'map<string,bytes>' },
    3: { name: 'type', type: 'string' },
    4: { name: 'stringData', type: 'map<string,string>' },
    5: { name: 'immutable', type: 'bool', optional: true },
  },
};

export const ServiceAccount: MessageSchema = {
  name: 'ServiceAccount',
  fields: {
    1: { name: 'metadata', type: 'message', message: ObjectMeta },
    2: { name: 'secrets', type: 'message', message: ObjectReference, repeated: true },
    3: { name: 'imagePullSecrets', type: 'message', message: LocalObjectReference, repeated: true },
    4: { name: 'automountServiceAccountToken', type: 'bool', optional: true },
  },
};

export const ContainerPort: MessageSchema = {
  name: 'ContainerPort',
  fields: {
    1: { name: 'name', type: 'string' },
    2: { name: 'hostPort', type: 'int32' },
    3: { name: 'containerPort', type: 'int32' },
    4: { name: 'protocol', type: 'string' },
    5: { name: 'hostIP', type: 'string' },
  },
};

export const EnvVar: MessageSchema = {
  name: 'EnvVar',
  // valueFrom (3) is not something the imperative generators set.
  fields: {
    1: { name: 'name', type: 'string' },
    2: { name: 'value', type: 'string' },
  },
};

export const ResourceRequirements: MessageSchema = {
  name: 'ResourceRequirements',
  fields: {
    1: { name: 'limits', type: 'map<string,message>', message: Quantity },
    2: { name: 'requests', type: 'map<string,message>', message: Quantity },
  },
};

export const Container: MessageSchema = {
  name: 'Container',
  fields: {
    1: { name: 'name', type: 'string' },
    2: { name: 'image', type: 'string' },
    3: { name: 'command', type: 'string', repeated: true },
    4: { name: 'args', type: 'string', repeated: true },
    5: { name: 'workingDir', type: 'string' },
    6: { name: 'ports', type: 'message', message: ContainerPort, repeated: true },
    7: { name: 'env', type: 'message', message: EnvVar, repeated: true },
    8: { name: 'resources', type: 'message', message: ResourceRequirements },
    13: { name: 'terminationMessagePath', type: 'string' },
    14: { name: 'imagePullPolicy', type: 'string' },
    16: { name: 'stdin', type: 'bool' },
    17: { name: 'stdinOnce', type: 'bool' },
    18: { name: 'tty', type: 'bool' },
    20: { name: 'terminationMessagePolicy', type: 'string' },
  },
};

/** Its fields are not described: what kubectl's generators send is an empty one, if any. */
export const PodSecurityContext: MessageSchema = {
  name: 'PodSecurityContext',
  fields: {},
};

export const PodSpec: MessageSchema = {
  name: 'PodSpec',
  fields: {
    2: { name: 'containers', type: 'message', message: Container, repeated: true },
    3: { name: 'restartPolicy', type: 'string' },
    4: { name: 'terminationGracePeriodSeconds', type: 'int64', optional: true },
    5: { name: 'activeDeadlineSeconds', type: 'int64', optional: true },
    6: { name: 'dnsPolicy', type: 'string' },
    7: { name: 'nodeSelector', type: 'map<string,string>' },
    8: { name: 'serviceAccountName', type: 'string' },
    10: { name: 'nodeName', type: 'string' },
    11: { name: 'hostNetwork', type: 'bool' },
    14: { name: 'securityContext', type: 'message', message: PodSecurityContext },
    15: { name: 'imagePullSecrets', type: 'message', message: LocalObjectReference, repeated: true },
    16: { name: 'hostname', type: 'string' },
    17: { name: 'subdomain', type: 'string' },
    19: { name: 'schedulerName', type: 'string' },
    20: { name: 'initContainers', type: 'message', message: Container, repeated: true },
    21: { name: 'automountServiceAccountToken', type: 'bool', optional: true },
    24: { name: 'priorityClassName', type: 'string' },
    25: { name: 'priority', type: 'int32', optional: true },
  },
};

export const PodTemplateSpec: MessageSchema = {
  name: 'PodTemplateSpec',
  fields: {
    1: { name: 'metadata', type: 'message', message: ObjectMeta },
    2: { name: 'spec', type: 'message', message: PodSpec },
  },
};

// ---------------------------------------------------------------------------------------------
// k8s.io/api/apps/v1

export const RollingUpdateDeployment: MessageSchema = {
  name: 'RollingUpdateDeployment',
  fields: {
    1: { name: 'maxUnavailable', type: 'message', message: IntOrString },
    2: { name: 'maxSurge', type: 'message', message: IntOrString },
  },
};

export const DeploymentStrategy: MessageSchema = {
  name: 'DeploymentStrategy',
  fields: {
    1: { name: 'type', type: 'string' },
    2: { name: 'rollingUpdate', type: 'message', message: RollingUpdateDeployment },
  },
};

export const DeploymentSpec: MessageSchema = {
  name: 'DeploymentSpec',
  fields: {
    1: { name: 'replicas', type: 'int32', optional: true },
    2: { name: 'selector', type: 'message', message: LabelSelector },
    3: { name: 'template', type: 'message', message: PodTemplateSpec },
    4: { name: 'strategy', type: 'message', message: DeploymentStrategy },
    5: { name: 'minReadySeconds', type: 'int32' },
    6: { name: 'revisionHistoryLimit', type: 'int32', optional: true },
    7: { name: 'paused', type: 'bool' },
    9: { name: 'progressDeadlineSeconds', type: 'int32', optional: true },
  },
};

/** Status is the controller's to write; a client's is accepted and ignored, so not described. */
export const DeploymentStatus: MessageSchema = {
  name: 'DeploymentStatus',
  fields: {},
};

export const Deployment: MessageSchema = {
  name: 'Deployment',
  fields: {
    1: { name: 'metadata', type: 'message', message: ObjectMeta },
    2: { name: 'spec', type: 'message', message: DeploymentSpec },
    3: { name: 'status', type: 'message', message: DeploymentStatus },
  },
};

// ---------------------------------------------------------------------------------------------
// k8s.io/api/authorization/v1

export const FieldSelectorAttributes: MessageSchema = {
  name: 'FieldSelectorAttributes',
  fields: {
    1: { name: 'rawSelector', type: 'string' },
    2: { name: 'requirements', type: 'message', message: FieldSelectorRequirement, repeated: true },
  },
};

export const LabelSelectorAttributes: MessageSchema = {
  name: 'LabelSelectorAttributes',
  fields: {
    1: { name: 'rawSelector', type: 'string' },
    2: { name: 'requirements', type: 'message', message: LabelSelectorRequirement, repeated: true },
  },
};

export const ResourceAttributes: MessageSchema = {
  name: 'ResourceAttributes',
  fields: {
    1: { name: 'namespace', type: 'string' },
    2: { name: 'verb', type: 'string' },
    3: { name: 'group', type: 'string' },
    4: { name: 'version', type: 'string' },
    5: { name: 'resource', type: 'string' },
    6: { name: 'subresource', type: 'string' },
    7: { name: 'name', type: 'string' },
    8: { name: 'fieldSelector', type: 'message', message: FieldSelectorAttributes },
    9: { name: 'labelSelector', type: 'message', message: LabelSelectorAttributes },
  },
};

export const NonResourceAttributes: MessageSchema = {
  name: 'NonResourceAttributes',
  fields: {
    1: { name: 'path', type: 'string' },
    2: { name: 'verb', type: 'string' },
  },
};

export const SelfSubjectAccessReviewSpec: MessageSchema = {
  name: 'SelfSubjectAccessReviewSpec',
  fields: {
    1: { name: 'resourceAttributes', type: 'message', message: ResourceAttributes },
    2: { name: 'nonResourceAttributes', type: 'message', message: NonResourceAttributes },
  },
};

export const SubjectAccessReviewStatus: MessageSchema = {
  name: 'SubjectAccessReviewStatus',
  fields: {
    1: { name: 'allowed', type: 'bool' },
    2: { name: 'reason', type: 'string' },
    3: { name: 'evaluationError', type: 'string' },
    4: { name: 'denied', type: 'bool' },
  },
};

export const SelfSubjectAccessReview: MessageSchema = {
  name: 'SelfSubjectAccessReview',
  fields: {
    1: { name: 'metadata', type: 'message', message: ObjectMeta },
    2: { name: 'spec', type: 'message', message: SelfSubjectAccessReviewSpec },
    3: { name: 'status', type: 'message', message: SubjectAccessReviewStatus },
  },
};

// ---------------------------------------------------------------------------------------------
// k8s.io/api/authentication/v1

export const BoundObjectReference: MessageSchema = {
  name: 'BoundObjectReference',
  fields: {
    1: { name: 'kind', type: 'string' },
    2: { name: 'apiVersion', type: 'string' },
    3: { name: 'name', type: 'string' },
    4: { name: 'uid', type: 'string' },
  },
};

export const TokenRequestSpec: MessageSchema = {
  name: 'TokenRequestSpec',
  fields: {
    1: { name: 'audiences', type: 'string', repeated: true },
    3: { name: 'boundObjectRef', type: 'message', message: BoundObjectReference },
    4: { name: 'expirationSeconds', type: 'int64', optional: true },
  },
};

export const TokenRequestStatus: MessageSchema = {
  name: 'TokenRequestStatus',
  fields: {
    1: { name: 'token', type: 'string' },
    2: { name: 'expirationTimestamp', type: 'message', message: Time },
  },
};

export const TokenRequest: MessageSchema = {
  name: 'TokenRequest',
  fields: {
    1: { name: 'metadata', type: 'message', message: ObjectMeta },
    2: { name: 'spec', type: 'message', message: TokenRequestSpec },
    3: { name: 'status', type: 'message', message: TokenRequestStatus },
  },
};

/** Filled in by the server; a client sends it empty. */
export const SelfSubjectReviewStatus: MessageSchema = {
  name: 'SelfSubjectReviewStatus',
  fields: {},
};

/** No spec: the request is "who am I", the answer goes in status.userInfo. */
export const SelfSubjectReview: MessageSchema = {
  name: 'SelfSubjectReview',
  fields: {
    1: { name: 'metadata', type: 'message', message: ObjectMeta },
    2: { name: 'status', type: 'message', message: SelfSubjectReviewStatus },
  },
};

// ---------------------------------------------------------------------------------------------
// The kinds a protobuf body may carry

export interface KindSchema {
  readonly apiVersion: string;
  readonly kind: string;
  readonly schema: MessageSchema;
}

export const KIND_SCHEMAS: readonly KindSchema[] = [
  { apiVersion: 'v1', kind: 'Namespace', schema: Namespace },
  { apiVersion: 'v1', kind: 'ConfigMap', schema: ConfigMap },
  { apiVersion: 'v1', kind: 'Secret', schema: Secret },
  { apiVersion: 'v1', kind: 'ServiceAccount', schema: ServiceAccount },
  { apiVersion: 'apps/v1', kind: 'Deployment', schema: Deployment },
  { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', schema: SelfSubjectAccessReview },
  { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', schema: TokenRequest },
  { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview', schema: SelfSubjectReview },
  // `kubectl auth whoami` falls back to the beta version when v1 is not served; same message.
  { apiVersion: 'authentication.k8s.io/v1beta1', kind: 'SelfSubjectReview', schema: SelfSubjectReview },
];

const kindIndex = new Map(KIND_SCHEMAS.map((k) => [`${k.apiVersion}\n${k.kind}`, k.schema]));

export function findKindSchema(apiVersion: string, kind: string): MessageSchema | undefined {
  return kindIndex.get(`${apiVersion}\n${kind}`);
}
