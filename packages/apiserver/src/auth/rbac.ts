/**
 * RBAC authorization as Kubernetes defines it, as a pure function of the request's attributes,
 * the caller and the RBAC objects: a request is allowed when some binding that names the caller
 * (as a user, one of its groups, or its service account) points to a role with a rule that
 * covers it. Nothing is ever denied explicitly; members of system:masters may do everything.
 */
import { isObject, type KubeObject } from '@flotilla/api';
import type { UserInfo } from './authn.js';

export interface ResourceAttributes {
  kind: 'resource';
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export interface NonResourceAttributes {
  kind: 'nonResource';
  verb: string;
  path: string;
}

export type Attributes = ResourceAttributes | NonResourceAttributes;

export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface Subject {
  kind: 'User' | 'Group' | 'ServiceAccount';
  name: string;
  namespace?: string;
}

export interface Binding {
  /** Namespace of a RoleBinding; undefined for a ClusterRoleBinding. */
  namespace?: string;
  roleRef: { kind: 'Role' | 'ClusterRole'; name: string };
  subjects: Subject[];
}

/** The RBAC objects an authorizer decides from. */
export interface RbacState {
  /** "namespace/name" → rules. */
  roles: Map<string, PolicyRule[]>;
  clusterRoles: Map<string, PolicyRule[]>;
  bindings: Binding[];
}

export interface Decision {
  allowed: boolean;
  reason: string;
}

export const SUPERUSER_GROUP = 'system:masters';

function has(list: readonly string[] | undefined, v: string): boolean {
  return list !== undefined && (list.includes('*') || list.includes(v));
}

function ruleAllows(rule: PolicyRule, a: Attributes): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (a.kind === 'nonResource') {
    return (rule.nonResourceURLs ?? []).some((u) => u === '*' || u === a.path || (u.endsWith('*') && a.path.startsWith(u.slice(0, -1))));
  }
  if (!has(rule.apiGroups, a.group)) return false;
  const resources = rule.resources ?? [];
  const full = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const resourceOk = resources.includes('*') || resources.includes(full) || (a.subresource !== undefined && resources.includes(`*/${a.subresource}`));
  if (!resourceOk) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || (a.name !== undefined && names.includes(a.name));
}

function subjectMatches(s: Subject, user: UserInfo, bindingNamespace: string | undefined): boolean {
  switch (s.kind) {
    case 'User':
      return s.name === user.name;
    case 'Group':
      return user.groups.includes(s.name);
    case 'ServiceAccount': {
      const ns = s.namespace ?? bindingNamespace ?? '';
      return user.name === `system:serviceaccount:${ns}:${s.name}`;
    }
  }
}

export function authorize(state: RbacState, user: UserInfo, a: Attributes): Decision {
  if (user.groups.includes(SUPERUSER_GROUP)) return { allowed: true, reason: `member of ${SUPERUSER_GROUP}` };
  for (const b of state.bindings) {
    // A RoleBinding grants only inside its namespace, even when it points to a ClusterRole.
    if (b.namespace !== undefined && (a.kind === 'nonResource' || a.namespace !== b.namespace)) continue;
    if (!b.subjects.some((s) => subjectMatches(s, user, b.namespace))) continue;
    const rules = b.roleRef.kind === 'ClusterRole' ? state.clusterRoles.get(b.roleRef.name) : state.roles.get(`${b.namespace ?? ''}/${b.roleRef.name}`);
    if (rules?.some((r) => ruleAllows(r, a))) {
      const where = b.namespace === undefined ? 'ClusterRoleBinding' : `RoleBinding in ${b.namespace}`;
      return { allowed: true, reason: `${where} to ${b.roleRef.kind} "${b.roleRef.name}"` };
    }
  }
  return { allowed: false, reason: '' };
}

/** kube-apiserver's wording for a refusal, which kubectl prints after "Error from server (Forbidden):". */
export function forbiddenMessage(user: UserInfo, a: Attributes): string {
  if (a.kind === 'nonResource') return `User "${user.name}" cannot ${a.verb} path "${a.path}"`;
  const full = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const named = a.name ? `${full} "${a.name}"` : full;
  const scope = a.namespace ? ` in the namespace "${a.namespace}"` : ' at the cluster scope';
  return `${named} is forbidden: User "${user.name}" cannot ${a.verb} resource "${full}" in API group "${a.group}"${scope}`;
}

function rulesOf(obj: KubeObject): PolicyRule[] {
  const rules = Array.isArray(obj.rules) ? obj.rules : [];
  return rules.filter(isObject).map((r) => ({
    verbs: strings(r.verbs),
    apiGroups: r.apiGroups === undefined ? undefined : strings(r.apiGroups),
    resources: r.resources === undefined ? undefined : strings(r.resources),
    resourceNames: r.resourceNames === undefined ? undefined : strings(r.resourceNames),
    nonResourceURLs: r.nonResourceURLs === undefined ? undefined : strings(r.nonResourceURLs),
  }));
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function bindingOf(obj: KubeObject, namespaced: boolean): Binding | undefined {
  const ref = obj.roleRef;
  if (!isObject(ref) || (ref.kind !== 'Role' && ref.kind !== 'ClusterRole') || typeof ref.name !== 'string') return undefined;
  const subjects = (Array.isArray(obj.subjects) ? obj.subjects : []).filter(isObject).flatMap((s): Subject[] => {
    if ((s.kind === 'User' || s.kind === 'Group' || s.kind === 'ServiceAccount') && typeof s.name === 'string') {
      const subject: Subject = { kind: s.kind, name: s.name };
      if (typeof s.namespace === 'string') subject.namespace = s.namespace;
      return [subject];
    }
    return [];
  });
  const b: Binding = { roleRef: { kind: ref.kind, name: ref.name }, subjects };
  if (namespaced) b.namespace = obj.metadata.namespace ?? '';
  return b;
}

/** Builds the state from stored objects (as listed or watched). */
export function rbacStateOf(objs: { roles: KubeObject[]; clusterRoles: KubeObject[]; roleBindings: KubeObject[]; clusterRoleBindings: KubeObject[] }): RbacState {
  const state: RbacState = { roles: new Map(), clusterRoles: new Map(), bindings: [] };
  for (const r of objs.roles) state.roles.set(`${r.metadata.namespace ?? ''}/${r.metadata.name ?? ''}`, rulesOf(r));
  for (const r of objs.clusterRoles) state.clusterRoles.set(r.metadata.name ?? '', rulesOf(r));
  for (const b of objs.clusterRoleBindings) {
    const x = bindingOf(b, false);
    if (x) state.bindings.push(x);
  }
  for (const b of objs.roleBindings) {
    const x = bindingOf(b, true);
    if (x) state.bindings.push(x);
  }
  return state;
}
