/**
 * What a kubelet may do, decided per node, as Kubernetes' Node authorizer and NodeRestriction
 * admission do together: a caller `system:node:<name>` in group system:nodes may create and
 * change its own Node object and node Lease, change the status of and delete the pods bound to
 * it, and read exactly the Secrets, ConfigMaps and ServiceAccounts those pods use — nothing of
 * any other node. Pure: the pods bound to the node come in as an argument.
 */
import { isObject, type KubeObject } from '@flotilla/api';
import type { UserInfo } from './authn.js';
import type { Attributes, Decision } from './rbac.js';

const NODE_PREFIX = 'system:node:';

/** The node a caller is the kubelet of, or undefined for anyone else. */
export function nodeNameOf(user: UserInfo): string | undefined {
  return user.name.startsWith(NODE_PREFIX) && user.groups.includes('system:nodes') ? user.name.slice(NODE_PREFIX.length) : undefined;
}

/** Names of the objects of `resource` that `pods` use (volumes, env, envFrom, image pull secrets). */
export function referencedBy(pods: readonly KubeObject[], resource: 'secrets' | 'configmaps' | 'serviceaccounts'): Set<string> {
  const out = new Set<string>();
  const add = (v: unknown): void => {
    if (typeof v === 'string' && v !== '') out.add(v);
  };
  for (const pod of pods) {
    const spec = isObject(pod.spec) ? pod.spec : {};
    if (resource === 'serviceaccounts') {
      add(spec.serviceAccountName);
      continue;
    }
    if (resource === 'secrets') for (const s of Array.isArray(spec.imagePullSecrets) ? spec.imagePullSecrets : []) if (isObject(s)) add(s.name);
    for (const v of Array.isArray(spec.volumes) ? spec.volumes : []) {
      if (!isObject(v)) continue;
      if (resource === 'secrets' && isObject(v.secret)) add(v.secret.secretName);
      if (resource === 'configmaps' && isObject(v.configMap)) add(v.configMap.name);
    }
    const containers = [...(Array.isArray(spec.initContainers) ? spec.initContainers : []), ...(Array.isArray(spec.containers) ? spec.containers : [])];
    for (const c of containers) {
      if (!isObject(c)) continue;
      for (const e of Array.isArray(c.env) ? c.env : []) {
        const from = isObject(e) && isObject(e.valueFrom) ? e.valueFrom : undefined;
        if (!from) continue;
        if (resource === 'secrets' && isObject(from.secretKeyRef)) add(from.secretKeyRef.name);
        if (resource === 'configmaps' && isObject(from.configMapKeyRef)) add(from.configMapKeyRef.name);
      }
      for (const e of Array.isArray(c.envFrom) ? c.envFrom : []) {
        if (!isObject(e)) continue;
        if (resource === 'secrets' && isObject(e.secretRef)) add(e.secretRef.name);
        if (resource === 'configmaps' && isObject(e.configMapRef)) add(e.configMapRef.name);
      }
    }
  }
  return out;
}

/**
 * What authorization cannot see because it lies in the body (NodeRestriction, in Kubernetes):
 * a kubelet may create only its own Node and its own node Lease. Undefined when allowed.
 */
export function nodeAdmission(user: UserInfo, resource: { group: string; resource: string }, namespace: string | undefined, body: unknown): string | undefined {
  const node = nodeNameOf(user);
  if (node === undefined) return undefined;
  const name = isObject(body) && isObject(body.metadata) ? body.metadata.name : undefined;
  if (resource.group === '' && resource.resource === 'nodes' && name !== node) return `node "${node}" may only register itself, not ${JSON.stringify(name)}`;
  if (resource.group === 'coordination.k8s.io' && resource.resource === 'leases' && namespace === 'kube-node-lease' && name !== node) return `node "${node}" may only create its own node Lease`;
  return undefined;
}

/**
 * The decision for a kubelet, or undefined when the caller is not one (RBAC decides alone).
 * `podsOnNode(namespace?)` lists the pods bound to the caller's node.
 */
export function authorizeNode(user: UserInfo, a: Attributes, podsOnNode: (node: string) => KubeObject[]): Decision | undefined {
  const node = nodeNameOf(user);
  if (node === undefined) return undefined;
  const deny = (why: string): Decision => ({ allowed: false, reason: `node "${node}": ${why}` });
  const allow = (why: string): Decision => ({ allowed: true, reason: `node "${node}": ${why}` });
  if (a.kind === 'nonResource') return undefined;
  const read = a.verb === 'get' || a.verb === 'list' || a.verb === 'watch';

  if (a.group === '' && a.resource === 'nodes') {
    if (read) return allow('nodes are readable');
    if (a.name === node && ['create', 'update', 'patch'].includes(a.verb)) return allow('its own Node');
    // A POST names no object in the URL: the name in the body is checked on admission (nodeAdmission).
    if (a.verb === 'create' && a.name === undefined && !a.subresource) return allow('registering a Node (its own, checked on admission)');
    return deny('may change only its own Node');
  }
  if (a.group === 'coordination.k8s.io' && a.resource === 'leases') {
    if (a.namespace === 'kube-node-lease' && a.name === node && ['get', 'create', 'update', 'patch'].includes(a.verb)) return allow('its own node Lease');
    if (a.namespace === 'kube-node-lease' && a.verb === 'create' && a.name === undefined) return allow('creating its node Lease');
    return deny('may use only its own node Lease');
  }
  if (a.group === '' && a.resource === 'pods') {
    if (read && !a.subresource) return allow('pods are readable');
    const mine = a.name !== undefined && a.namespace !== undefined && podsOnNode(node).some((p) => p.metadata.namespace === a.namespace && p.metadata.name === a.name);
    if (mine && a.subresource === 'status' && ['get', 'update', 'patch'].includes(a.verb)) return allow('status of a pod bound to it');
    if (mine && !a.subresource && a.verb === 'delete') return allow('a pod bound to it');
    return deny('may change only the pods bound to it');
  }
  if (a.group === '' && (a.resource === 'secrets' || a.resource === 'configmaps' || a.resource === 'serviceaccounts')) {
    if (a.verb !== 'get' || a.name === undefined || a.namespace === undefined) return deny(`may only get the ${a.resource} its pods use, by name`);
    const pods = podsOnNode(node).filter((p) => p.metadata.namespace === a.namespace);
    if (referencedBy(pods, a.resource).has(a.name)) return allow(`${a.resource} "${a.name}" is used by a pod bound to it`);
    return deny(`no pod bound to it uses ${a.resource} "${a.name}"`);
  }
  return undefined;
}
