/**
 * The roles every cluster starts with, named as Kubernetes names them so that manifests and
 * habits carry over: cluster-admin (bound to system:masters), admin/edit/view for people,
 * system:discovery and system:basic-user for every authenticated caller, and one role per
 * component (scheduler, controller-manager, node, kube-proxy, cloud-controller-manager).
 * Created at start-up by every replica; an existing object is left alone, so an operator's
 * change survives restarts.
 */
import type { KubeObject } from '@flotilla/api';
import type { PolicyRule } from './rbac.js';

const RBAC = 'rbac.authorization.k8s.io/v1';
const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'update', 'patch', 'delete', 'deletecollection'];

function clusterRole(name: string, rules: PolicyRule[]): KubeObject {
  return { apiVersion: RBAC, kind: 'ClusterRole', metadata: { name, labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' } }, rules };
}

function clusterRoleBinding(name: string, role: string, subjects: { kind: string; name: string; namespace?: string }[]): KubeObject {
  return {
    apiVersion: RBAC,
    kind: 'ClusterRoleBinding',
    metadata: { name, labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects: subjects.map((s) => (s.kind === 'ServiceAccount' ? s : { apiGroup: 'rbac.authorization.k8s.io', ...s })),
  };
}

const workloads = ['pods', 'services', 'endpoints', 'configmaps', 'secrets', 'serviceaccounts', 'events'];

export function bootstrapClusterRoles(): KubeObject[] {
  return [
    clusterRole('cluster-admin', [
      { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
      { verbs: ['*'], nonResourceURLs: ['*'] },
    ]),
    clusterRole('admin', [
      { verbs: [...READ, ...WRITE], apiGroups: [''], resources: [...workloads, 'pods/log', 'pods/status'] },
      { verbs: [...READ, ...WRITE], apiGroups: ['apps'], resources: ['deployments', 'replicasets', 'deployments/scale', 'replicasets/scale'] },
      { verbs: [...READ, ...WRITE], apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'] },
      { verbs: [...READ, ...WRITE], apiGroups: ['coordination.k8s.io'], resources: ['leases'] },
    ]),
    clusterRole('edit', [
      { verbs: [...READ, ...WRITE], apiGroups: [''], resources: [...workloads, 'pods/log'] },
      { verbs: [...READ, ...WRITE], apiGroups: ['apps'], resources: ['deployments', 'replicasets', 'deployments/scale', 'replicasets/scale'] },
    ]),
    clusterRole('view', [
      { verbs: READ, apiGroups: [''], resources: ['pods', 'pods/log', 'services', 'endpoints', 'configmaps', 'serviceaccounts', 'events', 'namespaces'] },
      { verbs: READ, apiGroups: ['apps'], resources: ['deployments', 'replicasets', 'deployments/scale', 'replicasets/scale'] },
    ]),
    clusterRole('system:discovery', [{ verbs: ['get'], nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/openapi', '/openapi/*', '/version', '/version/', '/healthz', '/livez', '/readyz'] }]),
    clusterRole('system:basic-user', [{ verbs: ['create'], apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews'] }]),
    clusterRole('system:monitoring', [{ verbs: ['get'], nonResourceURLs: ['/metrics', '/healthz', '/livez', '/readyz'] }]),
    clusterRole('system:kube-scheduler', [
      { verbs: READ, apiGroups: [''], resources: ['nodes', 'pods', 'namespaces', 'services', 'persistentvolumeclaims'] },
      { verbs: ['create'], apiGroups: [''], resources: ['pods/binding', 'bindings'] },
      { verbs: ['patch', 'update'], apiGroups: [''], resources: ['pods/status'] },
      { verbs: ['create', 'patch', 'update'], apiGroups: [''], resources: ['events'] },
      { verbs: [...READ, 'create', 'update', 'patch'], apiGroups: ['coordination.k8s.io'], resources: ['leases'] },
      { verbs: READ, apiGroups: ['apps'], resources: ['replicasets'] },
    ]),
    clusterRole('system:kube-controller-manager', [
      { verbs: [...READ, ...WRITE], apiGroups: [''], resources: ['pods', 'endpoints', 'events', 'serviceaccounts', 'secrets', 'configmaps', 'namespaces', 'namespaces/finalize', 'namespaces/status', 'nodes', 'nodes/status', 'pods/status', 'services', 'services/status'] },
      { verbs: [...READ, ...WRITE], apiGroups: ['apps'], resources: ['deployments', 'replicasets', 'deployments/status', 'replicasets/status', 'deployments/scale', 'replicasets/scale'] },
      { verbs: [...READ, 'create', 'update', 'patch'], apiGroups: ['coordination.k8s.io'], resources: ['leases'] },
      { verbs: READ, apiGroups: ['*'], resources: ['*'] },
    ]),
    // Deliberately without secrets, configmaps and any write to nodes or pods: what a kubelet may
    // touch depends on which node it is and which pods are bound to it, which the node
    // authorizer decides (auth/node-authorizer.ts).
    clusterRole('system:node', [
      { verbs: READ, apiGroups: [''], resources: ['nodes'] },
      { verbs: READ, apiGroups: [''], resources: ['pods', 'services', 'endpoints'] },
      { verbs: ['create', 'patch', 'update'], apiGroups: [''], resources: ['events'] },
    ]),
    clusterRole('system:node-proxier', [
      { verbs: READ, apiGroups: [''], resources: ['services', 'endpoints', 'nodes'] },
      { verbs: ['create', 'patch', 'update'], apiGroups: [''], resources: ['events'] },
    ]),
    clusterRole('system:cloud-controller-manager', [
      { verbs: READ, apiGroups: [''], resources: ['nodes', 'services', 'endpoints'] },
      { verbs: ['patch', 'update', 'delete'], apiGroups: [''], resources: ['nodes', 'nodes/status', 'services/status'] },
      { verbs: ['create', 'patch', 'update'], apiGroups: [''], resources: ['events'] },
      { verbs: [...READ, 'create', 'update', 'patch'], apiGroups: ['coordination.k8s.io'], resources: ['leases'] },
    ]),
  ];
}

export function bootstrapClusterRoleBindings(): KubeObject[] {
  return [
    clusterRoleBinding('cluster-admin', 'cluster-admin', [{ kind: 'Group', name: 'system:masters' }]),
    clusterRoleBinding('system:discovery', 'system:discovery', [{ kind: 'Group', name: 'system:authenticated' }]),
    clusterRoleBinding('system:basic-user', 'system:basic-user', [{ kind: 'Group', name: 'system:authenticated' }]),
    clusterRoleBinding('system:monitoring', 'system:monitoring', [{ kind: 'Group', name: 'system:monitoring' }]),
    clusterRoleBinding('system:kube-scheduler', 'system:kube-scheduler', [{ kind: 'User', name: 'system:kube-scheduler' }]),
    clusterRoleBinding('system:kube-controller-manager', 'system:kube-controller-manager', [{ kind: 'User', name: 'system:kube-controller-manager' }]),
    clusterRoleBinding('system:node', 'system:node', [{ kind: 'Group', name: 'system:nodes' }]),
    clusterRoleBinding('system:node-proxier', 'system:node-proxier', [{ kind: 'User', name: 'system:kube-proxy' }]),
    clusterRoleBinding('system:cloud-controller-manager', 'system:cloud-controller-manager', [{ kind: 'User', name: 'system:cloud-controller-manager' }]),
  ];
}
