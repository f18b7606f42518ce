/**
 * apps/v1 (Deployment, ReplicaSet), coordination.k8s.io/v1 (Lease), rbac.authorization.k8s.io/v1
 * and authorization.k8s.io/v1 resources.
 */
import { fieldError, isObject, type KubeObject, type StatusCause } from '@flotilla/api';
import { ageOf, at, ensure, num, objects, setDefault, spec, str, type Json } from './fields.js';
import { defaultPodSpec, validatePodSpec } from './pod-spec.js';
import type { ResourceDef, ScaleSpec } from './types.js';
import { deploymentPatchSchema, replicaSetPatchSchema } from '../patch/index.js';

function selectorString(sel: unknown): string {
  if (!isObject(sel)) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries((sel.matchLabels ?? {}) as Record<string, string>)) parts.push(`${k}=${v}`);
  for (const e of objects(sel.matchExpressions)) {
    const values = Array.isArray(e.values) ? (e.values as string[]).join(',') : '';
    switch (e.operator) {
      case 'In': parts.push(`${e.key} in (${values})`); break;
      case 'NotIn': parts.push(`${e.key} notin (${values})`); break;
      case 'Exists': parts.push(String(e.key)); break;
      case 'DoesNotExist': parts.push(`!${e.key}`); break;
    }
  }
  return parts.join(',');
}

const scaleOf: ScaleSpec = {
  specReplicas: (o) => num(at(o, 'spec', 'replicas')) ?? 1,
  setSpecReplicas: (o, n) => void (spec(o).replicas = n),
  statusReplicas: (o) => num(at(o, 'status', 'replicas')) ?? 0,
  selector: (o) => selectorString(at(o, 'spec', 'selector')),
};

/** Template labels must satisfy the selector, or the controller would never see its own pods. */
function validateWorkload(obj: KubeObject): StatusCause[] {
  const causes: StatusCause[] = [];
  const s = spec(obj);
  const sel = s.selector;
  if (!isObject(sel) || (Object.keys((sel.matchLabels ?? {}) as object).length === 0 && objects(sel.matchExpressions).length === 0)) {
    causes.push(fieldError.required('spec.selector'));
  }
  const replicas = s.replicas;
  if (replicas !== undefined && (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0)) {
    causes.push(fieldError.invalid('spec.replicas', replicas, 'must be greater than or equal to 0'));
  }
  const template = s.template;
  if (!isObject(template)) {
    causes.push(fieldError.required('spec.template'));
    return causes;
  }
  const labels = (at(template, 'metadata', 'labels') ?? {}) as Record<string, unknown>;
  if (isObject(sel)) {
    for (const [k, v] of Object.entries((sel.matchLabels ?? {}) as Record<string, unknown>)) {
      if (labels[k] !== v) {
        causes.push(fieldError.invalid('spec.template.metadata.labels', labels, '`selector` does not match template `labels`'));
        break;
      }
    }
  }
  causes.push(...validatePodSpec(ensure(template, 'spec'), 'spec.template.spec'));
  return causes;
}

function immutableSelector(obj: KubeObject, old: KubeObject): StatusCause[] {
  return JSON.stringify(at(obj, 'spec', 'selector')) !== JSON.stringify(at(old, 'spec', 'selector')) ? [fieldError.immutable('spec.selector')] : [];
}

const images = (o: KubeObject): string => objects(at(o, 'spec', 'template', 'spec', 'containers')).map((c) => str(c.image) ?? '').join(',');
const containerNames = (o: KubeObject): string => objects(at(o, 'spec', 'template', 'spec', 'containers')).map((c) => str(c.name) ?? '').join(',');

/** AGE, then what -o wide adds for every workload: its containers, images and selector. */
const workloadTail: NonNullable<ResourceDef['columns']> = [
  { name: 'Age', type: 'string', cell: (o, now) => ageOf(o, now) },
  { name: 'Containers', type: 'string', priority: 1, cell: (o) => containerNames(o) },
  { name: 'Images', type: 'string', priority: 1, cell: (o) => images(o) },
  { name: 'Selector', type: 'string', priority: 1, cell: (o) => selectorString(at(o, 'spec', 'selector')) },
];

export const deployments: ResourceDef = {
  group: 'apps', version: 'v1', kind: 'Deployment', listKind: 'DeploymentList', resource: 'deployments', singular: 'deployment',
  namespaced: true, shortNames: ['deploy'], categories: ['all'], subresources: ['status', 'scale'], scale: scaleOf, patchSchema: deploymentPatchSchema,
  specFields: ['spec'],
  defaults(obj) {
    const s = spec(obj);
    setDefault(s, 'replicas', 1);
    setDefault(s, 'revisionHistoryLimit', 10);
    setDefault(s, 'progressDeadlineSeconds', 600);
    const strategy = ensure(s, 'strategy');
    setDefault(strategy, 'type', 'RollingUpdate');
    if (strategy.type === 'RollingUpdate') {
      const ru = ensure(strategy, 'rollingUpdate');
      setDefault(ru, 'maxUnavailable', '25%');
      setDefault(ru, 'maxSurge', '25%');
    }
    if (isObject(s.template)) defaultPodSpec(ensure(s.template, 'spec'));
  },
  validate: validateWorkload,
  validateUpdate: immutableSelector,
  columns: [
    { name: 'Ready', type: 'string', cell: (o) => `${num(at(o, 'status', 'readyReplicas')) ?? 0}/${num(at(o, 'spec', 'replicas')) ?? 0}` },
    { name: 'Up-to-date', type: 'integer', cell: (o) => num(at(o, 'status', 'updatedReplicas')) ?? 0 },
    { name: 'Available', type: 'integer', cell: (o) => num(at(o, 'status', 'availableReplicas')) ?? 0 },
    ...workloadTail,
  ],
};

export const replicasets: ResourceDef = {
  group: 'apps', version: 'v1', kind: 'ReplicaSet', listKind: 'ReplicaSetList', resource: 'replicasets', singular: 'replicaset',
  namespaced: true, shortNames: ['rs'], categories: ['all'], subresources: ['status', 'scale'], scale: scaleOf, patchSchema: replicaSetPatchSchema,
  specFields: ['spec'],
  defaults(obj) {
    const s = spec(obj);
    setDefault(s, 'replicas', 1);
    if (isObject(s.template)) defaultPodSpec(ensure(s.template, 'spec'));
  },
  validate: validateWorkload,
  validateUpdate: immutableSelector,
  columns: [
    { name: 'Desired', type: 'integer', cell: (o) => num(at(o, 'spec', 'replicas')) ?? 0 },
    { name: 'Current', type: 'integer', cell: (o) => num(at(o, 'status', 'replicas')) ?? 0 },
    { name: 'Ready', type: 'integer', cell: (o) => num(at(o, 'status', 'readyReplicas')) ?? 0 },
    ...workloadTail,
  ],
};

export const leases: ResourceDef = {
  group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', listKind: 'LeaseList', resource: 'leases', singular: 'lease', namespaced: true,
  columns: [
    { name: 'Holder', type: 'string', cell: (o) => str(at(o, 'spec', 'holderIdentity')) ?? '' },
    { name: 'Age', type: 'string', cell: (o, now) => ageOf(o, now) },
  ],
};

const RBAC = 'rbac.authorization.k8s.io';

function validateRules(obj: KubeObject): StatusCause[] {
  const causes: StatusCause[] = [];
  for (const [i, r] of objects((obj as unknown as Json).rules).entries()) {
    if (!Array.isArray(r.verbs) || r.verbs.length === 0) causes.push(fieldError.required(`rules[${i}].verbs`, 'verbs must contain at least one value'));
  }
  return causes;
}

function validateBinding(obj: KubeObject): StatusCause[] {
  const causes: StatusCause[] = [];
  const ref = (obj as unknown as Json).roleRef;
  if (!isObject(ref) || !str(ref.name)) causes.push(fieldError.required('roleRef.name'));
  else if (!['Role', 'ClusterRole'].includes(String(ref.kind))) causes.push(fieldError.notSupported('roleRef.kind', ref.kind, ['Role', 'ClusterRole']));
  for (const [i, s] of objects((obj as unknown as Json).subjects).entries()) {
    if (!['User', 'Group', 'ServiceAccount'].includes(String(s.kind))) causes.push(fieldError.notSupported(`subjects[${i}].kind`, s.kind, ['User', 'Group', 'ServiceAccount']));
    if (!str(s.name)) causes.push(fieldError.required(`subjects[${i}].name`));
  }
  return causes;
}

const roleRefUnchanged = (obj: KubeObject, old: KubeObject): StatusCause[] =>
  JSON.stringify((obj as unknown as Json).roleRef) !== JSON.stringify((old as unknown as Json).roleRef) ? [fieldError.immutable('roleRef')] : [];

const createdAt: ResourceDef['columns'] = [{ name: 'Created At', type: 'string', cell: (o) => o.metadata.creationTimestamp ?? '' }];
const roleColumn: ResourceDef['columns'] = [
  { name: 'Role', type: 'string', cell: (o) => `${str(at(o, 'roleRef', 'kind')) ?? ''}/${str(at(o, 'roleRef', 'name')) ?? ''}` },
  { name: 'Age', type: 'string', cell: (o, now) => ageOf(o, now) },
];

export const roles: ResourceDef = {
  group: RBAC, version: 'v1', kind: 'Role', listKind: 'RoleList', resource: 'roles', singular: 'role', namespaced: true,
  nameRule: 'any', validate: validateRules, columns: createdAt, ageColumn: false,
};
export const clusterroles: ResourceDef = {
  group: RBAC, version: 'v1', kind: 'ClusterRole', listKind: 'ClusterRoleList', resource: 'clusterroles', singular: 'clusterrole', namespaced: false,
  nameRule: 'any', validate: validateRules, columns: createdAt, ageColumn: false,
};
export const rolebindings: ResourceDef = {
  group: RBAC, version: 'v1', kind: 'RoleBinding', listKind: 'RoleBindingList', resource: 'rolebindings', singular: 'rolebinding', namespaced: true,
  nameRule: 'any', validate: validateBinding, validateUpdate: roleRefUnchanged, columns: roleColumn,
};
export const clusterrolebindings: ResourceDef = {
  group: RBAC, version: 'v1', kind: 'ClusterRoleBinding', listKind: 'ClusterRoleBindingList', resource: 'clusterrolebindings', singular: 'clusterrolebinding',
  namespaced: false, nameRule: 'any', validate: validateBinding, validateUpdate: roleRefUnchanged, columns: roleColumn,
};

/** Computed on create and never stored: "may the caller do X?" (kubectl auth can-i). */
export const selfsubjectaccessreviews: ResourceDef = {
  group: 'authorization.k8s.io', version: 'v1', kind: 'SelfSubjectAccessReview', listKind: 'SelfSubjectAccessReviewList',
  resource: 'selfsubjectaccessreviews', singular: 'selfsubjectaccessreview', namespaced: false, verbs: ['create'], virtual: true, nameRule: 'any',
};

export const appsAndOtherResources: ResourceDef[] = [deployments, replicasets, leases, roles, clusterroles, rolebindings, clusterrolebindings, selfsubjectaccessreviews];
