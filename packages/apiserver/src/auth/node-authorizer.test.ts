import { describe, expect, it } from 'vitest';
import type { KubeObject } from '@flotilla/api';
import type { UserInfo } from './authn.js';
import { authorizeNode, nodeAdmission, nodeNameOf, referencedBy } from './node-authorizer.js';
import type { Attributes } from './rbac.js';

const kubelet = (node: string): UserInfo => ({ name: `system:node:${node}`, groups: ['system:nodes', 'system:authenticated'] });
const pod = (name: string, node: string, spec: Record<string, unknown> = {}): KubeObject => ({
  metadata: { name, namespace: 'app' },
  spec: { nodeName: node, containers: [{ name: 'c', image: 'x' }], ...spec },
});
const pods: KubeObject[] = [
  pod('web', 'n1', {
    serviceAccountName: 'web-sa',
    volumes: [{ name: 'v', secret: { secretName: 'tls' } }, { name: 'c', configMap: { name: 'conf' } }],
    containers: [{ name: 'c', image: 'x', env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'db', key: 'p' } } }], envFrom: [{ configMapRef: { name: 'env' } }] }],
    imagePullSecrets: [{ name: 'registry' }],
  }),
  pod('other', 'n2', { volumes: [{ name: 'v', secret: { secretName: 'n2-only' } }] }),
];
const onNode = (node: string): KubeObject[] => pods.filter((p) => (p.spec as { nodeName: string }).nodeName === node);
const r = (verb: string, resource: string, name?: string, extra: Partial<{ namespace: string; subresource: string; group: string }> = {}): Attributes => ({
  kind: 'resource', verb, group: extra.group ?? '', resource, namespace: extra.namespace, subresource: extra.subresource, name,
} as Attributes);

describe('node authorizer', () => {
  it('knows a kubelet by its name and group, and nobody else', () => {
    expect(nodeNameOf(kubelet('n1'))).toBe('n1');
    expect(nodeNameOf({ name: 'system:node:n1', groups: [] })).toBeUndefined();
    expect(authorizeNode({ name: 'alice', groups: [] }, r('get', 'secrets', 'tls', { namespace: 'app' }), onNode)).toBeUndefined();
  });

  it('collects what pods use: volumes, env, envFrom, pull secrets, service accounts', () => {
    expect([...referencedBy(onNode('n1'), 'secrets')].sort()).toEqual(['db', 'registry', 'tls']);
    expect([...referencedBy(onNode('n1'), 'configmaps')].sort()).toEqual(['conf', 'env']);
    expect([...referencedBy(onNode('n1'), 'serviceaccounts')]).toEqual(['web-sa']);
  });

  const cases: [string, Attributes, boolean | undefined][] = [
    ['updates its own Node', r('update', 'nodes', 'n1'), true],
    ['patches its own Node status', r('patch', 'nodes', 'n1', { subresource: 'status' }), true],
    ['may not patch another Node', r('patch', 'nodes', 'n2'), false],
    ['reads every Node', r('list', 'nodes'), true],
    ['renews its own Lease', r('update', 'leases', 'n1', { group: 'coordination.k8s.io', namespace: 'kube-node-lease' }), true],
    ['may not touch another Lease', r('update', 'leases', 'n2', { group: 'coordination.k8s.io', namespace: 'kube-node-lease' }), false],
    ['writes the status of its pod', r('patch', 'pods', 'web', { namespace: 'app', subresource: 'status' }), true],
    ['not of another node\'s pod', r('patch', 'pods', 'other', { namespace: 'app', subresource: 'status' }), false],
    ['deletes its own pod', r('delete', 'pods', 'web', { namespace: 'app' }), true],
    ['gets a secret its pod uses', r('get', 'secrets', 'db', { namespace: 'app' }), true],
    ['not a secret only another node\'s pod uses', r('get', 'secrets', 'n2-only', { namespace: 'app' }), false],
    ['not the same name in another namespace', r('get', 'secrets', 'db', { namespace: 'prod' }), false],
    ['may not list secrets', r('list', 'secrets', undefined, { namespace: 'app' }), false],
    ['gets a configmap its pod uses', r('get', 'configmaps', 'env', { namespace: 'app' }), true],
    ['gets its pod\'s service account', r('get', 'serviceaccounts', 'web-sa', { namespace: 'app' }), true],
    ['has no opinion on events (RBAC decides)', r('create', 'events', undefined, { namespace: 'app' }), undefined],
  ];
  it.each(cases)('a kubelet %s', (_n, attrs, allowed) => {
    expect(authorizeNode(kubelet('n1'), attrs, onNode)?.allowed).toBe(allowed);
  });
});

describe('node admission', () => {
  it('lets a kubelet create only its own Node and node Lease', () => {
    const nodes = { group: '', resource: 'nodes' };
    const leases = { group: 'coordination.k8s.io', resource: 'leases' };
    expect(nodeAdmission(kubelet('n1'), nodes, undefined, { metadata: { name: 'n1' } })).toBeUndefined();
    expect(nodeAdmission(kubelet('n1'), nodes, undefined, { metadata: { name: 'n2' } })).toContain('may only register itself');
    expect(nodeAdmission(kubelet('n1'), leases, 'kube-node-lease', { metadata: { name: 'n1' } })).toBeUndefined();
    expect(nodeAdmission(kubelet('n1'), leases, 'kube-node-lease', { metadata: { name: 'n2' } })).toContain('its own node Lease');
    expect(nodeAdmission({ name: 'alice', groups: [] }, nodes, undefined, { metadata: { name: 'n2' } })).toBeUndefined();
  });
});
