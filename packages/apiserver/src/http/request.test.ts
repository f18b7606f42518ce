import { ApiError, type KubeObject } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { builtinRegistry } from '../registry/registry.js';
import { boolParam, intParam, q, resolveTarget, selectorFilter, type Query } from './request.js';

const reg = builtinRegistry();

/** The ApiError a call throws (fails the test when it returns or throws anything else). */
function apiErrorOf(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw new Error(`expected an ApiError, got ${String(err)}`);
  }
  throw new Error('expected an ApiError, but the call returned');
}

describe('resolveTarget', () => {
  // [group, version, rest] → what the URL names, as { resource, namespace, name, subresource }.
  it.each<{ url: string; group: string; rest: string; want: Record<string, string | undefined> }>([
    { url: 'a pod status', group: '', rest: 'namespaces/default/pods/web/status', want: { resource: 'pods', namespace: 'default', name: 'web', subresource: 'status' } },
    { url: 'a pod', group: '', rest: 'namespaces/default/pods/web', want: { resource: 'pods', namespace: 'default', name: 'web', subresource: undefined } },
    { url: 'pods of one namespace', group: '', rest: 'namespaces/default/pods', want: { resource: 'pods', namespace: 'default', name: undefined, subresource: undefined } },
    { url: 'a pod log', group: '', rest: 'namespaces/default/pods/web/log', want: { resource: 'pods', namespace: 'default', name: 'web', subresource: 'log' } },
    { url: 'the namespace object', group: '', rest: 'namespaces/foo', want: { resource: 'namespaces', namespace: undefined, name: 'foo', subresource: undefined } },
    // "status" is not a namespaced resource, so this is namespace foo's status subresource.
    { url: 'a namespace status', group: '', rest: 'namespaces/foo/status', want: { resource: 'namespaces', namespace: undefined, name: 'foo', subresource: 'status' } },
    { url: 'all namespaces', group: '', rest: 'namespaces', want: { resource: 'namespaces', namespace: undefined, name: undefined, subresource: undefined } },
    { url: 'pods of every namespace', group: '', rest: 'pods', want: { resource: 'pods', namespace: undefined, name: undefined, subresource: undefined } },
    { url: 'a node', group: '', rest: 'nodes/n1', want: { resource: 'nodes', namespace: undefined, name: 'n1', subresource: undefined } },
    { url: 'a node status', group: '', rest: 'nodes/n1/status', want: { resource: 'nodes', namespace: undefined, name: 'n1', subresource: 'status' } },
    { url: 'a deployment scale', group: 'apps', rest: 'namespaces/default/deployments/web/scale', want: { resource: 'deployments', namespace: 'default', name: 'web', subresource: 'scale' } },
    { url: 'a pod named "status"', group: '', rest: 'namespaces/default/pods/status', want: { resource: 'pods', namespace: 'default', name: 'status', subresource: undefined } },
    { url: 'a trailing slash', group: '', rest: 'namespaces/default/pods/', want: { resource: 'pods', namespace: 'default', name: undefined, subresource: undefined } },
  ])('$url: $rest', ({ group, rest, want }) => {
    const t = resolveTarget(reg, group, 'v1', rest);
    expect({ resource: t.def.resource, namespace: t.namespace, name: t.name, subresource: t.subresource }).toEqual(want);
    expect(t.def.group).toBe(group);
  });

  it.each<{ why: string; group: string; rest: string }>([
    { why: 'an unknown resource', group: '', rest: 'widgets' },
    { why: 'an unknown namespaced resource', group: '', rest: 'namespaces/default/widgets/w' },
    { why: 'a resource of another group', group: '', rest: 'namespaces/default/deployments/web' },
    { why: 'an unknown pod subresource', group: '', rest: 'namespaces/default/pods/web/exec2' },
    { why: 'scale on pods (only workloads have it)', group: '', rest: 'namespaces/default/pods/web/scale' },
    { why: 'log on deployments (pods only)', group: 'apps', rest: 'namespaces/default/deployments/web/log' },
    { why: 'a subresource of a kind without subresources', group: '', rest: 'namespaces/default/configmaps/c/status' },
    { why: 'an unknown cluster-scoped subresource', group: '', rest: 'nodes/n1/proxy' },
    { why: 'too many segments under a namespace', group: '', rest: 'namespaces/default/pods/web/status/extra' },
    { why: 'too many segments, cluster-scoped', group: '', rest: 'nodes/n1/status/extra' },
    { why: 'a cluster-scoped kind under a namespace', group: '', rest: 'namespaces/default/nodes/n1' },
    { why: 'nothing at all', group: '', rest: '' },
  ])('$why is a 404 Status: $rest', ({ group, rest }) => {
    const err = apiErrorOf(() => resolveTarget(reg, group, 'v1', rest));
    expect(err.code).toBe(404);
    expect(err.reason).toBe('NotFound');
  });

  it('an unknown subresource names resource/subresource, as Kubernetes does', () => {
    const err = apiErrorOf(() => resolveTarget(reg, '', 'v1', 'namespaces/default/pods/web/exec2'));
    expect(err.status.details).toMatchObject({ kind: 'pods/exec2', group: '' });
  });

  it('an unknown resource replies with the path it could not find, not an empty name', () => {
    // The Status is what goes on the wire (kubectl prints its message).
    const err = apiErrorOf(() => resolveTarget(reg, '', 'v1', 'widgets'));
    expect(err.status.message).toBe('the server could not find the requested resource (widgets)');
    expect(err.status.details).toBeUndefined();
  });

  // The router hands over the path already percent-decoded (…/roles/100%25 arrives as
  // …/roles/100%): decoding again would throw on the "%", or turn "%2F" into another path.
  it('a name containing "%", as the app hands it over already decoded, resolves to that name', () => {
    const t = resolveTarget(reg, 'rbac.authorization.k8s.io', 'v1', 'namespaces/default/roles/100%');
    expect(t.name).toBe('100%');
  });
});

describe('selectorFilter', () => {
  const pods = reg.lookup('', 'v1', 'pods')!;
  const configmaps = reg.lookup('', 'v1', 'configmaps')!;
  const pod = (name: string, namespace: string, labels: Record<string, string>, nodeName?: string): KubeObject => ({
    metadata: { name, namespace, labels },
    spec: nodeName === undefined ? { containers: [] } : { nodeName, containers: [] },
    status: { phase: nodeName ? 'Running' : 'Pending' },
  });
  const objs = [
    pod('a', 'default', { app: 'web', tier: 'front' }, 'n1'),
    pod('b', 'default', { app: 'web', tier: 'back' }),
    pod('c', 'other', { app: 'db' }, 'n2'),
    pod('d', 'other', {}),
  ];
  const names = (query: Query): string[] => {
    const f = selectorFilter(pods, query);
    return (f ? objs.filter(f) : objs).map((o) => o.metadata.name as string);
  };

  it('no selector is no filter at all', () => {
    expect(selectorFilter(pods, {})).toBeUndefined();
    expect(selectorFilter(pods, { labelSelector: '', fieldSelector: '' })).toBeUndefined();
  });

  it.each<{ query: Query; want: string[] }>([
    { query: { labelSelector: 'app=web' }, want: ['a', 'b'] },
    { query: { labelSelector: 'app=web,tier!=front' }, want: ['b'] },
    { query: { labelSelector: 'app in (db,web)' }, want: ['a', 'b', 'c'] },
    { query: { labelSelector: '!app' }, want: ['d'] },
    { query: { labelSelector: 'tier' }, want: ['a', 'b'] },
    { query: { fieldSelector: 'metadata.name=c' }, want: ['c'] },
    { query: { fieldSelector: 'metadata.namespace=other' }, want: ['c', 'd'] },
    { query: { fieldSelector: 'metadata.namespace!=other' }, want: ['a', 'b'] },
    // "spec.nodeName=" selects pods no scheduler has bound yet (what a scheduler watches).
    { query: { fieldSelector: 'spec.nodeName=' }, want: ['b', 'd'] },
    { query: { fieldSelector: 'spec.nodeName!=' }, want: ['a', 'c'] },
    { query: { fieldSelector: 'spec.nodeName=n2' }, want: ['c'] },
    { query: { fieldSelector: 'status.phase=Pending,metadata.namespace=default' }, want: ['b'] },
    { query: { labelSelector: 'app=web', fieldSelector: 'spec.nodeName=n1' }, want: ['a'] },
    // Repeated query parameters: the last one counts.
    { query: { labelSelector: ['app=db', 'app=web'] }, want: ['a', 'b'] },
  ])('$query selects $want', ({ query, want }) => {
    expect(names(query)).toEqual(want);
  });

  it.each<{ def: typeof pods; query: Query; message: RegExp }>([
    { def: pods, query: { fieldSelector: 'spec.containers=x' }, message: /field label not supported: spec\.containers/ },
    { def: configmaps, query: { fieldSelector: 'status.phase=Running' }, message: /field label not supported: status\.phase/ },
    { def: pods, query: { fieldSelector: 'nonsense' }, message: /field selector/ },
    { def: pods, query: { labelSelector: 'app in (web' }, message: /./ },
    { def: pods, query: { labelSelector: 'app==' + 'x'.repeat(64) }, message: /./ },
    { def: pods, query: { labelSelector: '=web' }, message: /./ },
  ])('$query on $def.resource is a 400', ({ def, query, message }) => {
    const err = apiErrorOf(() => selectorFilter(def, query));
    expect(err.code).toBe(400);
    expect(err.reason).toBe('BadRequest');
    expect(err.message).toMatch(message);
  });
});

describe('query parameters', () => {
  it('q takes the last of repeated values', () => {
    expect(q({ a: ['1', '2'] }, 'a')).toBe('2');
    expect(q({ a: '1' }, 'a')).toBe('1');
    expect(q({}, 'a')).toBeUndefined();
  });

  it('boolParam accepts true and 1 only', () => {
    expect(boolParam({ watch: 'true' }, 'watch')).toBe(true);
    expect(boolParam({ watch: '1' }, 'watch')).toBe(true);
    expect(boolParam({ watch: 'false' }, 'watch')).toBe(false);
    expect(boolParam({}, 'watch')).toBe(false);
  });

  it('intParam reads non-negative integers and refuses the rest with a 400', () => {
    expect(intParam({ limit: '500' }, 'limit')).toBe(500);
    expect(intParam({ limit: '' }, 'limit')).toBeUndefined();
    expect(intParam({}, 'limit')).toBeUndefined();
    for (const bad of ['-1', '1.5', 'ten']) expect(apiErrorOf(() => intParam({ limit: bad }, 'limit')).code).toBe(400);
  });
});
