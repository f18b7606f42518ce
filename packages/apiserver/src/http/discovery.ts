/**
 * Discovery: what kubectl asks before anything else (/version, /api, /apis, and the legacy
 * per-group-version lists), plus the small OpenAPI v3 documents that let `kubectl apply` and
 * `create -f` pass client-side validation (kubectl-wire.md §1, §2).
 */
import { createHash } from 'node:crypto';
import type { Registry } from '../registry/registry.js';
import { verbsOf } from '../registry/registry.js';
import { apiVersionOfDef, SUBRESOURCE_VERBS, type ResourceDef, type SubresourceKind } from '../registry/types.js';

/** kubectl's dispatcher picks its client from minor: 32 keeps the bundled 1.32 client. */
export const VERSION_INFO = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-flotilla',
  gitCommit: 'flotilla',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'n/a (Node.js)',
  compiler: 'tsc',
  platform: `${process.platform}/${process.arch}`,
};

export const AGGREGATED_CONTENT_TYPE = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

function subresourceKinds(d: ResourceDef): { subresource: string; responseKind: { group: string; version: string; kind: string }; verbs: string[] }[] {
  const own = { group: d.group, version: d.version, kind: d.kind };
  const kindOf = (s: SubresourceKind): { group: string; version: string; kind: string } =>
    s === 'scale' ? { group: 'autoscaling', version: 'v1', kind: 'Scale' }
      : s === 'binding' ? { group: '', version: 'v1', kind: 'Binding' }
        : s === 'token' ? { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest' }
          : own;
  return (d.subresources ?? []).map((s) => ({ subresource: s, responseKind: kindOf(s), verbs: SUBRESOURCE_VERBS[s] }));
}

function aggregatedResource(d: ResourceDef): Record<string, unknown> {
  const r: Record<string, unknown> = {
    resource: d.resource,
    responseKind: { group: d.group, version: d.version, kind: d.kind },
    scope: d.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: d.singular,
    verbs: verbsOf(d),
  };
  if (d.shortNames) r.shortNames = d.shortNames;
  if (d.categories) r.categories = d.categories;
  const subs = subresourceKinds(d);
  if (subs.length > 0) r.subresources = subs;
  return r;
}

/** GET /api (core only) or /apis (every other group), in the aggregated v2 format. */
export function aggregatedDiscovery(reg: Registry, core: boolean): Record<string, unknown> {
  const items = reg
    .groups()
    .filter((g) => (g.group === '') === core)
    .map((g) => ({
      metadata: { name: g.group },
      versions: g.versions.map((v) => ({ version: v, freshness: 'Current', resources: reg.inGroupVersion(g.group, v).map(aggregatedResource) })),
    }));
  return { kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {}, items };
}

export function legacyApiVersions(serverAddress: string): Record<string, unknown> {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

export function legacyApiGroupList(reg: Registry): Record<string, unknown> {
  const groups = reg
    .groups()
    .filter((g) => g.group !== '')
    .map((g) => {
      const versions = g.versions.map((v) => ({ groupVersion: `${g.group}/${v}`, version: v }));
      return { name: g.group, versions, preferredVersion: versions[0] };
    });
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

export function legacyApiGroup(reg: Registry, group: string): Record<string, unknown> | undefined {
  const g = reg.groups().find((x) => x.group === group && group !== '');
  if (!g) return undefined;
  const versions = g.versions.map((v) => ({ groupVersion: `${g.group}/${v}`, version: v }));
  return { kind: 'APIGroup', apiVersion: 'v1', name: g.group, versions, preferredVersion: versions[0] };
}

export function legacyResourceList(reg: Registry, group: string, version: string): Record<string, unknown> | undefined {
  const defs = reg.inGroupVersion(group, version);
  if (defs.length === 0) return undefined;
  const resources: Record<string, unknown>[] = [];
  for (const d of defs) {
    const r: Record<string, unknown> = { name: d.resource, singularName: d.singular, namespaced: d.namespaced, kind: d.kind, verbs: verbsOf(d) };
    if (d.shortNames) r.shortNames = d.shortNames;
    if (d.categories) r.categories = d.categories;
    resources.push(r);
    for (const s of subresourceKinds(d)) {
      const sub: Record<string, unknown> = { name: `${d.resource}/${s.subresource}`, singularName: '', namespaced: d.namespaced, kind: s.responseKind.kind, verbs: s.verbs };
      if (s.subresource === 'scale') Object.assign(sub, { group: 'autoscaling', version: 'v1' });
      resources.push(sub);
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOfDef({ group, version }), resources };
}

/** Path of a group-version's OpenAPI v3 document ("api/v1", "apis/apps/v1"). */
function openApiPath(group: string, version: string): string {
  return group === '' ? `api/${version}` : `apis/${group}/${version}`;
}

/**
 * The OpenAPI v3 documents: enough for kubectl's client-side validation (a patch operation per
 * kind with its GVK and the fieldValidation parameter) and for `explain` to name each kind. The
 * server validates objects itself, so schemas are left open.
 */
export class OpenApi {
  private readonly docs = new Map<string, { body: string; hash: string }>();

  constructor(reg: Registry) {
    for (const g of reg.groups()) {
      for (const v of g.versions) {
        const paths: Record<string, unknown> = {};
        const schemas: Record<string, unknown> = {};
        for (const d of reg.inGroupVersion(g.group, v)) {
          const gvk = { group: d.group, version: d.version, kind: d.kind };
          const base = d.group === '' ? `/api/${v}` : `/apis/${d.group}/${v}`;
          const path = d.namespaced ? `${base}/namespaces/{namespace}/${d.resource}/{name}` : `${base}/${d.resource}/{name}`;
          paths[path] = {
            patch: {
              'x-kubernetes-group-version-kind': gvk,
              parameters: [{ name: 'fieldValidation', in: 'query', schema: { type: 'string' } }],
              responses: { '200': { description: 'OK' } },
            },
          };
          const schemaName = `${d.group === '' ? 'io.k8s.api.core' : d.group}.${v}.${d.kind}`;
          schemas[schemaName] = {
            type: 'object',
            description: `${d.kind} (${apiVersionOfDef(d)}), served by Flotilla.`,
            'x-kubernetes-group-version-kind': [gvk],
            properties: {
              apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
              kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
              metadata: { type: 'object', description: "Standard object's metadata.", 'x-kubernetes-preserve-unknown-fields': true },
              spec: { type: 'object', description: 'The desired state.', 'x-kubernetes-preserve-unknown-fields': true },
              status: { type: 'object', description: 'The observed state.', 'x-kubernetes-preserve-unknown-fields': true },
            },
            'x-kubernetes-preserve-unknown-fields': true,
          };
        }
        const body = JSON.stringify({ openapi: '3.0.0', info: { title: 'Flotilla', version: VERSION_INFO.gitVersion }, paths, components: { schemas } });
        const hash = createHash('sha256').update(body).digest('hex').slice(0, 32).toUpperCase();
        this.docs.set(openApiPath(g.group, v), { body, hash });
      }
    }
  }

  root(): Record<string, unknown> {
    const paths: Record<string, unknown> = {};
    for (const [p, d] of this.docs) paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${d.hash}` };
    return { paths };
  }

  doc(path: string): string | undefined {
    return this.docs.get(path)?.body;
  }
}
