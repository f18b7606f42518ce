/**
 * The metadata rules every resource follows: what a client may set, what the server owns, when
 * generation moves, and the generic checks of names, labels and annotations.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { fieldError, isObject, type KubeObject, type ObjectMeta, type StatusCause } from '@flotilla/api';
import type { ResourceDef } from '../registry/types.js';
import { canonicalJson, type JsonValue } from '../patch/index.js';

const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** Kubernetes caps the total size of an object's annotations. */
const MAX_ANNOTATIONS_BYTES = 256 * 1024;

/** generateName's suffix: 5 characters that cannot spell words, as Kubernetes does. */
export function generatedName(prefix: string): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += NAME_CHARS[randomInt(NAME_CHARS.length)];
  return `${prefix.slice(0, 63 - 5)}${s}`;
}

/** RFC 3339 with second precision, as Kubernetes timestamps are. */
export function timestamp(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

function nameProblem(rule: ResourceDef['nameRule'], name: string): string | undefined {
  switch (rule ?? 'subdomain') {
    case 'any':
      return name.includes('/') || name === '.' || name === '..' ? 'may not contain \'/\' or be \'.\' or \'..\'' : undefined;
    case 'label':
      return name.length <= 63 && LABEL.test(name) ? undefined : "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
    case 'label1035':
      return name.length <= 63 && LABEL1035.test(name) ? undefined : "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
    case 'subdomain':
      return name.length <= 253 && SUBDOMAIN.test(name) ? undefined : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
  }
}

function qualifiedNameProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !SUBDOMAIN.test(prefix))) return 'prefix part must be a lowercase RFC 1123 subdomain';
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63 characters)";
  }
  return undefined;
}

/** The generic metadata checks of every object (kind-specific ones come from the registry). */
export function validateMetadata(def: ResourceDef, meta: ObjectMeta): StatusCause[] {
  const causes: StatusCause[] = [];
  if (!meta.name) causes.push(fieldError.required('metadata.name', 'name or generateName is required'));
  else {
    const p = nameProblem(def.nameRule, meta.name);
    if (p) causes.push(fieldError.invalid('metadata.name', meta.name, p));
  }
  if (meta.labels !== undefined) {
    if (!isObject(meta.labels)) causes.push(fieldError.invalid('metadata.labels', meta.labels, 'must be a map of strings'));
    else {
      for (const [k, v] of Object.entries(meta.labels)) {
        const kp = qualifiedNameProblem(k);
        if (kp) causes.push(fieldError.invalid('metadata.labels', k, kp));
        if (typeof v !== 'string' || v.length > 63 || !LABEL_VALUE.test(v)) {
          causes.push(fieldError.invalid(`metadata.labels`, v, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63 characters)"));
        }
      }
    }
  }
  if (meta.annotations !== undefined) {
    if (!isObject(meta.annotations)) causes.push(fieldError.invalid('metadata.annotations', meta.annotations, 'must be a map of strings'));
    else {
      let size = 0;
      for (const [k, v] of Object.entries(meta.annotations)) {
        const kp = qualifiedNameProblem(k);
        if (kp) causes.push(fieldError.invalid('metadata.annotations', k, kp));
        if (typeof v !== 'string') causes.push(fieldError.invalid(`metadata.annotations[${k}]`, v, 'must be a string'));
        else size += Buffer.byteLength(k) + Buffer.byteLength(v);
      }
      if (size > MAX_ANNOTATIONS_BYTES) causes.push(fieldError.tooLong('metadata.annotations', MAX_ANNOTATIONS_BYTES));
    }
  }
  if (meta.finalizers !== undefined && (!Array.isArray(meta.finalizers) || meta.finalizers.some((f) => typeof f !== 'string'))) {
    causes.push(fieldError.invalid('metadata.finalizers', meta.finalizers, 'must be a list of strings'));
  }
  if (meta.ownerReferences !== undefined) {
    if (!Array.isArray(meta.ownerReferences)) causes.push(fieldError.invalid('metadata.ownerReferences', meta.ownerReferences, 'must be a list'));
    else {
      for (const [i, r] of meta.ownerReferences.entries()) {
        for (const f of ['apiVersion', 'kind', 'name', 'uid'] as const) {
          if (!isObject(r) || typeof r[f] !== 'string' || r[f] === '') causes.push(fieldError.required(`metadata.ownerReferences[${i}].${f}`));
        }
      }
    }
  }
  return causes;
}

/** Sets what the server owns on a new object; the client's values for those are ignored. */
export function initMetadata(def: ResourceDef, obj: KubeObject, now: number): void {
  const m = obj.metadata;
  m.uid = randomUUID();
  m.creationTimestamp = timestamp(now);
  delete m.deletionTimestamp;
  delete m.deletionGracePeriodSeconds;
  delete m.resourceVersion;
  delete m.managedFields;
  if (def.specFields) m.generation = 1;
  else delete m.generation;
}

/**
 * Carries the server-owned metadata of `old` over to an update, and bumps generation when the
 * desired state changed.
 */
export function carryMetadata(def: ResourceDef, obj: KubeObject, old: KubeObject): void {
  const m = obj.metadata;
  const o = old.metadata;
  m.uid = o.uid;
  m.creationTimestamp = o.creationTimestamp;
  m.namespace = o.namespace;
  if (o.deletionTimestamp !== undefined) m.deletionTimestamp = o.deletionTimestamp;
  else delete m.deletionTimestamp;
  if (o.deletionGracePeriodSeconds !== undefined) m.deletionGracePeriodSeconds = o.deletionGracePeriodSeconds;
  else delete m.deletionGracePeriodSeconds;
  delete m.managedFields;
  if (def.specFields) {
    const changed = def.specFields.some((f) => canonicalJson((obj[f] ?? null) as JsonValue) !== canonicalJson((old[f] ?? null) as JsonValue));
    m.generation = (o.generation ?? 1) + (changed ? 1 : 0);
  } else {
    delete m.generation;
  }
}

/**
 * Equal as stored, whatever the order of keys (clients re-encode objects freely), ignoring the
 * resourceVersion, which a no-op write would only bump.
 */
export function sameObject(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject): string => {
    const { resourceVersion: _rv, ...metadata } = o.metadata;
    return canonicalJson(JSON.parse(JSON.stringify({ ...o, metadata })) as JsonValue);
  };
  return strip(a) === strip(b);
}
