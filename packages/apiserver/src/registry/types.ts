/**
 * A resource is one declarative entry: what its objects are called, where they live, how they
 * are defaulted, validated, printed and selected. The REST handlers are generic over this; adding
 * a resource is writing one ResourceDef, never copying handler code.
 */
import type { KubeObject, StatusCause } from '@flotilla/api';
import type { PatchSchema } from '../patch/index.js';

export interface PrinterColumn {
  /** As kubectl shows it upper-cased: "Ready" → READY. */
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  /** 0: always shown; 1: only with -o wide. */
  priority?: number;
  description?: string;
  /** The cell for one object; `now` is the server's clock, for ages. */
  cell(obj: KubeObject, now: number): string | number | boolean;
}

/**
 * A subresource served by the generic handlers: status (the observed state), scale
 * (autoscaling/v1 Scale), binding (a pod's node, set once by the scheduler), log (served by the
 * kubelet), finalize (a namespace's spec.finalizers, cleared by the namespace controller), token
 * (a service account's TokenRequest).
 */
export type SubresourceKind = 'status' | 'scale' | 'binding' | 'log' | 'finalize' | 'token';

export interface ScaleSpec {
  /** Where the replica count lives in the object. */
  specReplicas(obj: KubeObject): number;
  setSpecReplicas(obj: KubeObject, n: number): void;
  statusReplicas(obj: KubeObject): number;
  /** The label selector as a string ("app=nginx"), for Scale.status.selector. */
  selector(obj: KubeObject): string;
}

export interface ResourceDef {
  group: string;
  version: string;
  kind: string;
  listKind: string;
  /** Plural, lower case: "pods". */
  resource: string;
  singular: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  /** Verbs served; default: all of get, list, watch, create, update, patch, delete, deletecollection. */
  verbs?: string[];
  subresources?: SubresourceKind[];
  scale?: ScaleSpec;
  /**
   * Top-level fields that make up the object's desired state: a change to any of them bumps
   * metadata.generation. Absent: the resource has no generation (ConfigMap, Secret…).
   */
  specFields?: string[];
  /** Top-level fields a write to the status subresource may change (default ["status"]). */
  statusFields?: string[];
  /** Fills defaults in place, on create and update, before validation. */
  defaults?(obj: KubeObject): void;
  /** Kind-specific checks; metadata (name, labels, annotations) is checked generically. */
  validate?(obj: KubeObject): StatusCause[];
  /** Checks of an update against the stored object (immutable fields). */
  validateUpdate?(obj: KubeObject, old: KubeObject): StatusCause[];
  /** Extra fields for fieldSelector (metadata.name and metadata.namespace always work). */
  selectableFields?: Record<string, (obj: KubeObject) => string | undefined>;
  /** Columns after NAME (and NAMESPACE with -A); AGE is appended unless a column is named Age. */
  columns?: PrinterColumn[];
  /** false: no AGE column is appended (kinds whose columns already say when, like Events). */
  ageColumn?: boolean;
  /**
   * Deletion waits for spec.finalizers too (Namespaces: the namespace controller empties the
   * namespace, then clears them through /finalize); meanwhile status.phase is Terminating.
   */
  finalizersInSpec?: boolean;
  /** Objects of this kind may not be stored (e.g. SelfSubjectAccessReview is computed, never kept). */
  virtual?: boolean;
  /** How a strategic merge patch merges this kind's lists (default: metadata only). */
  patchSchema?: PatchSchema;
  /** How names are checked: most kinds use DNS-1123 subdomains; namespaces, services use labels. */
  nameRule?: 'subdomain' | 'label' | 'label1035' | 'any';
}

/** What each subresource answers to; discovery advertises the same. */
export const SUBRESOURCE_VERBS: Record<SubresourceKind, string[]> = {
  status: ['get', 'patch', 'update'],
  scale: ['get', 'patch', 'update'],
  binding: ['create'],
  log: ['get'],
  finalize: ['update'],
  token: ['create'],
};

export const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'] as const;

export function apiVersionOfDef(d: Pick<ResourceDef, 'group' | 'version'>): string {
  return d.group === '' ? d.version : `${d.group}/${d.version}`;
}

/** "pods" or "deployments.apps": how errors and RBAC name a resource. */
export function qualifiedResource(d: Pick<ResourceDef, 'group' | 'resource'>): string {
  return d.group === '' ? d.resource : `${d.resource}.${d.group}`;
}
