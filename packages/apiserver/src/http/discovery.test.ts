import { describe, expect, it } from 'vitest';
import { builtinRegistry } from '../registry/registry.js';
import { ALL_VERBS } from '../registry/types.js';
import {
  aggregatedDiscovery,
  AGGREGATED_CONTENT_TYPE,
  legacyApiGroup,
  legacyApiGroupList,
  legacyApiVersions,
  legacyResourceList,
  OpenApi,
  VERSION_INFO,
} from './discovery.js';

type Json = Record<string, any>;

const reg = builtinRegistry();

/** Every resource entry of an aggregated document, keyed "group/resource". */
function aggregatedResources(doc: Json): Map<string, Json> {
  const out = new Map<string, Json>();
  for (const item of doc.items) for (const v of item.versions) for (const r of v.resources) out.set(`${item.metadata.name}/${r.resource}`, r);
  return out;
}

describe('/version', () => {
  it('says 1.32 so the kubectl dispatcher keeps its bundled 1.32 client', () => {
    expect(VERSION_INFO).toMatchObject({ major: '1', minor: '32' });
    expect(VERSION_INFO.gitVersion).toMatch(/^v1\.32\./);
  });
});

describe('aggregated discovery', () => {
  const core = aggregatedDiscovery(reg, true) as Json;
  const groups = aggregatedDiscovery(reg, false) as Json;
  const all = new Map([...aggregatedResources(core), ...aggregatedResources(groups)]);

  it('kubectl recognises it only by this exact content type', () => {
    expect(AGGREGATED_CONTENT_TYPE).toBe('application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
  });

  it('/api holds only the core group, named ""', () => {
    expect(core).toMatchObject({ kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {} });
    expect(core.items.map((i: Json) => i.metadata.name)).toEqual(['']);
    expect(core.items[0].versions.map((v: Json) => [v.version, v.freshness])).toEqual([['v1', 'Current']]);
  });

  it('/apis holds every other group, never the core one', () => {
    expect(groups.items.map((i: Json) => i.metadata.name)).toEqual(['apps', 'coordination.k8s.io', 'rbac.authorization.k8s.io', 'authorization.k8s.io']);
  });

  it('lists every registered resource exactly once', () => {
    expect([...all.keys()].sort()).toEqual(reg.all.map((d) => `${d.group}/${d.resource}`).sort());
  });

  // Without responseKind a resource is dropped; without scope it is treated as cluster-scoped.
  it.each(reg.all.map((d) => [`${d.group}/${d.resource}`, d] as const))('%s has responseKind, scope, singular and verbs', (key, d) => {
    const r = all.get(key)!;
    expect(r.responseKind).toEqual({ group: d.group, version: d.version, kind: d.kind });
    expect(r.scope).toBe(d.namespaced ? 'Namespaced' : 'Cluster');
    expect(r.singularResource).toBe(d.singular);
    expect(r.verbs.length).toBeGreaterThan(0);
    if (d.shortNames) expect(r.shortNames).toEqual(d.shortNames);
    else expect(r).not.toHaveProperty('shortNames');
    if (d.categories) expect(r.categories).toEqual(d.categories);
    else expect(r).not.toHaveProperty('categories');
  });

  it('carries the short names and categories kubectl needs (`get po`, `get all`)', () => {
    expect(all.get('/pods')).toMatchObject({ shortNames: ['po'], categories: ['all'], scope: 'Namespaced', verbs: [...ALL_VERBS] });
    expect(all.get('apps/deployments')).toMatchObject({ shortNames: ['deploy'], categories: ['all'] });
    expect(all.get('/nodes')).toMatchObject({ shortNames: ['no'], scope: 'Cluster' });
    expect(all.get('authorization.k8s.io/selfsubjectaccessreviews')?.verbs).toEqual(['create']);
  });

  it('lists status and scale subresources; scale answers an autoscaling/v1 Scale', () => {
    const subs = (key: string): Json[] => all.get(key)?.subresources ?? [];
    expect(subs('apps/deployments')).toEqual(
      expect.arrayContaining([
        { subresource: 'status', responseKind: { group: 'apps', version: 'v1', kind: 'Deployment' }, verbs: ['get', 'patch', 'update'] },
        { subresource: 'scale', responseKind: { group: 'autoscaling', version: 'v1', kind: 'Scale' }, verbs: ['get', 'patch', 'update'] },
      ]),
    );
    expect(subs('apps/deployments')).toHaveLength(2);
    expect(subs('apps/replicasets').map((s) => s.subresource).sort()).toEqual(['scale', 'status']);
    expect(subs('/nodes').map((s) => s.subresource)).toEqual(['status']);
    expect(subs('/namespaces').map((s) => s.subresource)).toEqual(['status', 'finalize']);
    expect(subs('/pods')).toContainEqual({ subresource: 'binding', responseKind: { group: '', version: 'v1', kind: 'Binding' }, verbs: ['create'] });
    expect(all.get('/configmaps')).not.toHaveProperty('subresources');
  });

  it('lists pods/log (get only) next to pods/status', () => {
    const subs = all.get('/pods')?.subresources as Json[];
    expect(subs).toContainEqual({ subresource: 'log', responseKind: { group: '', version: 'v1', kind: 'Pod' }, verbs: ['get'] });
    expect(subs).toContainEqual({ subresource: 'status', responseKind: { group: '', version: 'v1', kind: 'Pod' }, verbs: ['get', 'patch', 'update'] });
  });
});

describe('legacy discovery', () => {
  it('/api lists v1 and the address clients should use', () => {
    expect(legacyApiVersions('127.0.0.1:6443')).toEqual({ kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1:6443' }] });
  });

  it('/apis lists the non-core groups with a preferred version', () => {
    const list = legacyApiGroupList(reg) as Json;
    expect(list.kind).toBe('APIGroupList');
    expect(list.groups.find((g: Json) => g.name === 'apps')).toEqual({
      name: 'apps',
      versions: [{ groupVersion: 'apps/v1', version: 'v1' }],
      preferredVersion: { groupVersion: 'apps/v1', version: 'v1' },
    });
    expect(list.groups.some((g: Json) => g.name === '')).toBe(false);
  });

  it('/apis/<group> names one group; the core group and unknown groups are not groups here', () => {
    expect(legacyApiGroup(reg, 'apps')).toMatchObject({ kind: 'APIGroup', name: 'apps', preferredVersion: { groupVersion: 'apps/v1' } });
    expect(legacyApiGroup(reg, '')).toBeUndefined();
    expect(legacyApiGroup(reg, 'example.com')).toBeUndefined();
  });

  it('/api/v1 lists resources with kind and namespaced, and subresource entries like pods/status', () => {
    const list = legacyResourceList(reg, '', 'v1') as Json;
    expect(list).toMatchObject({ kind: 'APIResourceList', groupVersion: 'v1' });
    const byName = new Map<string, Json>(list.resources.map((r: Json) => [r.name, r]));
    expect(byName.get('pods')).toMatchObject({ name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', shortNames: ['po'], categories: ['all'] });
    expect(byName.get('pods/status')).toEqual({ name: 'pods/status', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get', 'patch', 'update'] });
    expect(byName.get('pods/log')).toEqual({ name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] });
    expect(byName.get('namespaces/status')).toMatchObject({ namespaced: false, kind: 'Namespace' });
    expect(byName.get('nodes')).toMatchObject({ namespaced: false, kind: 'Node', shortNames: ['no'] });
    // Without kind, kubectl resolved "pods" to the wrong resource: every entry needs one.
    for (const r of list.resources) expect(typeof r.kind === 'string' && typeof r.namespaced === 'boolean').toBe(true);
  });

  it('/apis/apps/v1 gives scale entries the autoscaling group and version', () => {
    const list = legacyResourceList(reg, 'apps', 'v1') as Json;
    expect(list.groupVersion).toBe('apps/v1');
    const scale = list.resources.find((r: Json) => r.name === 'deployments/scale');
    expect(scale).toEqual({ name: 'deployments/scale', singularName: '', namespaced: true, kind: 'Scale', verbs: ['get', 'patch', 'update'], group: 'autoscaling', version: 'v1' });
    expect(list.resources.find((r: Json) => r.name === 'deployments/status')).toMatchObject({ kind: 'Deployment' });
  });

  it('an unknown group-version has no list', () => {
    expect(legacyResourceList(reg, 'apps', 'v2')).toBeUndefined();
    expect(legacyResourceList(reg, 'example.com', 'v1')).toBeUndefined();
  });
});

describe('OpenAPI v3', () => {
  const openapi = new OpenApi(reg);
  const root = openapi.root() as { paths: Record<string, { serverRelativeURL: string }> };

  it('the root lists one document per group-version, keys without a leading slash, URLs with ?hash=', () => {
    expect(Object.keys(root.paths).sort()).toEqual(['api/v1', 'apis/apps/v1', 'apis/authorization.k8s.io/v1', 'apis/coordination.k8s.io/v1', 'apis/rbac.authorization.k8s.io/v1']);
    expect(root.paths['api/v1'].serverRelativeURL).toMatch(/^\/openapi\/v3\/api\/v1\?hash=[0-9A-F]{32}$/);
    expect(root.paths['apis/apps/v1'].serverRelativeURL).toMatch(/^\/openapi\/v3\/apis\/apps\/v1\?hash=[0-9A-F]{32}$/);
  });

  it('the hash is the document\'s: the same registry gives the same URLs, documents differ', () => {
    // kubectl caches documents by URL (Cache-Control: immutable), so the hash must follow content.
    expect(new OpenApi(builtinRegistry()).root()).toEqual(root);
    expect(root.paths['api/v1'].serverRelativeURL.split('hash=')[1]).not.toBe(root.paths['apis/apps/v1'].serverRelativeURL.split('hash=')[1]);
  });

  it('an unknown document is undefined', () => {
    expect(openapi.doc('apis/example.com/v1')).toBeUndefined();
    expect(openapi.doc('/api/v1')).toBeUndefined();
  });

  // kubectl's strict validation passes only with a patch operation per kind carrying its GVK and a
  // fieldValidation query parameter (kubectl-wire.md §2); explain needs a schema with the GVK.
  it.each(Object.keys(new OpenApi(builtinRegistry()).root().paths as object))('%s has a patch operation with GVK and fieldValidation for every kind', (path) => {
    const doc = JSON.parse(openapi.doc(path)!) as Json;
    expect(doc.openapi).toMatch(/^3\./);
    const [group, version] = path === 'api/v1' ? ['', 'v1'] : path.split('/').slice(1);
    const defs = reg.inGroupVersion(group, version);
    expect(defs.length).toBeGreaterThan(0);
    const ops = Object.values(doc.paths as Record<string, Json>).map((p) => p.patch).filter(Boolean);
    for (const d of defs) {
      const gvk = { group: d.group, version: d.version, kind: d.kind };
      const op = ops.find((o) => JSON.stringify(o['x-kubernetes-group-version-kind']) === JSON.stringify(gvk));
      expect(op, `patch operation for ${d.kind}`).toBeDefined();
      expect(op.parameters).toContainEqual(expect.objectContaining({ name: 'fieldValidation', in: 'query' }));
      const schema = Object.values(doc.components.schemas as Record<string, Json>).find((s) => JSON.stringify(s['x-kubernetes-group-version-kind']) === JSON.stringify([gvk]));
      expect(schema, `schema for ${d.kind}`).toMatchObject({ type: 'object', description: expect.any(String), properties: expect.any(Object) });
    }
    expect(ops).toHaveLength(defs.length);
  });

  it('paths name the namespaced and cluster-scoped object URLs', () => {
    const core = JSON.parse(openapi.doc('api/v1')!) as Json;
    expect(core.paths).toHaveProperty(['/api/v1/namespaces/{namespace}/pods/{name}']);
    expect(core.paths).toHaveProperty(['/api/v1/nodes/{name}']);
    const apps = JSON.parse(openapi.doc('apis/apps/v1')!) as Json;
    expect(apps.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}'].patch['x-kubernetes-group-version-kind']).toEqual({ group: 'apps', version: 'v1', kind: 'Deployment' });
  });
});
