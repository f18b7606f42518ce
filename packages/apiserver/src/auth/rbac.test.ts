import { describe, expect, it } from 'vitest';
import type { KubeObject } from '@flotilla/api';
import type { UserInfo } from './authn.js';
import { bootstrapClusterRoleBindings, bootstrapClusterRoles } from './bootstrap-policy.js';
import { authorize, forbiddenMessage, rbacStateOf, type Attributes } from './rbac.js';

const user = (name: string, ...groups: string[]): UserInfo => ({ name, groups: [...groups, 'system:authenticated'] });
const res = (verb: string, resource: string, namespace?: string, extra: Partial<Attributes & { kind: 'resource' }> = {}): Attributes => ({
  kind: 'resource', verb, group: '', resource, ...(namespace ? { namespace } : {}), ...extra,
} as Attributes);

function binding(kind: 'RoleBinding' | 'ClusterRoleBinding', name: string, roleKind: string, role: string, subjects: unknown[], namespace?: string): KubeObject {
  return { kind, metadata: { name, ...(namespace ? { namespace } : {}) }, roleRef: { kind: roleKind, name: role }, subjects };
}

const base = {
  roles: [
    { metadata: { name: 'reader', namespace: 'team' }, rules: [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['configmaps'], resourceNames: [] }] },
    { metadata: { name: 'one-secret', namespace: 'team' }, rules: [{ verbs: ['get'], apiGroups: [''], resources: ['secrets'], resourceNames: ['db'] }] },
  ] as KubeObject[],
  clusterRoles: [...bootstrapClusterRoles()],
  roleBindings: [
    binding('RoleBinding', 'r1', 'Role', 'reader', [{ kind: 'User', name: 'alice' }], 'team'),
    binding('RoleBinding', 'r2', 'Role', 'one-secret', [{ kind: 'ServiceAccount', name: 'app' }], 'team'),
    binding('RoleBinding', 'r3', 'ClusterRole', 'edit', [{ kind: 'Group', name: 'devs' }], 'team'),
  ],
  clusterRoleBindings: [...bootstrapClusterRoleBindings()],
};
const state = rbacStateOf(base);

describe('RBAC authorization', () => {
  const cases: [string, UserInfo, Attributes, boolean][] = [
    ['system:masters may do anything', user('root', 'system:masters'), res('delete', 'nodes'), true],
    ['a Role grants its verbs in its namespace', user('alice'), res('list', 'configmaps', 'team'), true],
    ['…not other verbs', user('alice'), res('delete', 'configmaps', 'team'), false],
    ['…not in another namespace', user('alice'), res('list', 'configmaps', 'other'), false],
    ['…not cluster-wide', user('alice'), res('list', 'configmaps'), false],
    ['resourceNames limit to the named object', user('system:serviceaccount:team:app'), res('get', 'secrets', 'team', { name: 'db' }), true],
    ['…and refuse others', user('system:serviceaccount:team:app'), res('get', 'secrets', 'team', { name: 'other' }), false],
    ['…and refuse a list (no name)', user('system:serviceaccount:team:app'), res('list', 'secrets', 'team'), false],
    ['a service account of another namespace does not match', user('system:serviceaccount:prod:app'), res('get', 'secrets', 'team', { name: 'db' }), false],
    ['a RoleBinding to a ClusterRole grants it only in its namespace', user('bob', 'devs'), res('create', 'pods', 'team'), true],
    ['…not elsewhere', user('bob', 'devs'), res('create', 'pods', 'default'), false],
    ['subresources must be named: edit covers deployments/scale', user('bob', 'devs'), res('patch', 'deployments', 'team', { group: 'apps', subresource: 'scale' }), true],
    ['…but not pods/status', user('bob', 'devs'), res('update', 'pods', 'team', { subresource: 'status' }), false],
    ['every authenticated user may discover the API', user('nobody'), { kind: 'nonResource', verb: 'get', path: '/apis/apps/v1' }, true],
    ['…and ask what it may do', user('nobody'), res('create', 'selfsubjectaccessreviews', undefined, { group: 'authorization.k8s.io' }), true],
    ['…but not read metrics', user('nobody'), { kind: 'nonResource', verb: 'get', path: '/metrics' }, false],
    ['the scheduler may bind pods', user('system:kube-scheduler'), res('create', 'pods', 'default', { subresource: 'binding' }), true],
    ['…but not delete them', user('system:kube-scheduler'), res('delete', 'pods', 'default'), false],
    ['a kubelet reads no secrets through its role', user('system:node:n1', 'system:nodes'), res('get', 'secrets', 'default', { name: 'x' }), false],
    ['…and patches no node through it', user('system:node:n1', 'system:nodes'), res('patch', 'nodes', undefined, { name: 'n2' }), false],
  ];
  it.each(cases)('%s', (_name, u, attrs, allowed) => {
    expect(authorize(state, u, attrs).allowed).toBe(allowed);
  });

  it('says why it allowed', () => {
    expect(authorize(state, user('alice'), res('get', 'configmaps', 'team')).reason).toBe('RoleBinding in team to Role "reader"');
  });

  it('words refusals as kube-apiserver does', () => {
    expect(forbiddenMessage(user('alice'), res('list', 'pods', 'default'))).toBe('pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"');
    expect(forbiddenMessage(user('alice'), res('get', 'nodes', undefined, { name: 'n1' }))).toBe('nodes "n1" is forbidden: User "alice" cannot get resource "nodes" in API group "" at the cluster scope');
    expect(forbiddenMessage(user('alice'), { kind: 'nonResource', verb: 'get', path: '/metrics' })).toBe('User "alice" cannot get path "/metrics"');
  });

  it('ignores malformed RBAC objects instead of failing open', () => {
    const broken = rbacStateOf({
      roles: [],
      clusterRoles: [{ metadata: { name: 'x' }, rules: [{ verbs: 'get', resources: ['pods'] }, null] } as unknown as KubeObject],
      roleBindings: [],
      clusterRoleBindings: [
        binding('ClusterRoleBinding', 'b', 'ClusterRole', 'x', [{ kind: 'User', name: 'eve' }]),
        { kind: 'ClusterRoleBinding', metadata: { name: 'c' }, roleRef: 'nope', subjects: [{ kind: 'User', name: 'eve' }] } as unknown as KubeObject,
      ],
    });
    expect(authorize(broken, user('eve'), res('get', 'pods', 'default')).allowed).toBe(false);
  });
});
