import type { KubeObject } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { configmaps, pods } from '../registry/core.js';
import { deployments } from '../registry/apps.js';
import { builtinRegistry } from '../registry/registry.js';
import type { ResourceDef } from '../registry/types.js';
import { columnDefinitions, rowOf, toTable, wantsTable } from './table.js';

/** Exactly what `kubectl get` sends (kubectl-wire.md §3.1). */
const KUBECTL_GET_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';

const NOW = Date.parse('2026-01-01T00:10:00Z');

const pod: KubeObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'web',
    namespace: 'default',
    uid: 'u-1',
    resourceVersion: '105',
    creationTimestamp: '2026-01-01T00:00:00Z',
    labels: { app: 'web' },
    managedFields: [{ manager: 'kubectl', operation: 'Update' }],
  },
  spec: { nodeName: 'node-1', containers: [{ name: 'app', image: 'nginx' }] },
  status: { phase: 'Running', podIP: '10.244.0.85', containerStatuses: [{ name: 'app', ready: true, restartCount: 0, state: { running: {} } }] },
};

describe('wantsTable', () => {
  it.each<[string, string | undefined, boolean]>([
    ['kubectl get', KUBECTL_GET_ACCEPT, true],
    ['v1beta1 only', 'application/json;as=Table;v=v1beta1;g=meta.k8s.io', true],
    ['parameters in another order, with spaces', 'application/json; g=meta.k8s.io; v=v1; as=Table', true],
    ['plain JSON', 'application/json', false],
    ['kubectl -o yaml', 'application/json, */*', false],
    ['typed clientset', 'application/vnd.kubernetes.protobuf,application/json', false],
    ['aggregated discovery', 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList', false],
    ['a Table of another group', 'application/json;as=Table;v=v1;g=example.com', false],
    ['no Accept header', undefined, false],
    ['an empty Accept header', '', false],
  ])('%s → %s', (_name, accept, want) => {
    expect(wantsTable(accept)).toBe(want);
  });
});

describe('columnDefinitions', () => {
  const names = (def: ResourceDef): string[] => columnDefinitions(def).map((c) => c.name);

  it('puts Name first, with format "name" (kubectl needs it for -o name and prefixes)', () => {
    for (const def of builtinRegistry().all) {
      const cols = columnDefinitions(def);
      expect(cols[0]).toMatchObject({ name: 'Name', type: 'string', format: 'name', priority: 0 });
      expect(cols.slice(1).every((c) => c.format === '')).toBe(true);
    }
  });

  it('keeps a kind\'s own Age column where the kind put it', () => {
    expect(names(pods)).toEqual(['Name', 'Ready', 'Status', 'Restarts', 'Age', 'IP', 'Node', 'Nominated Node', 'Readiness Gates']);
    expect(columnDefinitions(pods).map((c) => c.priority)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1]);
  });

  it('appends Age when a kind has no Age column', () => {
    expect(names(configmaps)).toEqual(['Name', 'Data', 'Age']);
    const bare: ResourceDef = { group: 'x.io', version: 'v1', kind: 'Thing', listKind: 'ThingList', resource: 'things', singular: 'thing', namespaced: true };
    expect(names(bare)).toEqual(['Name', 'Age']);
  });

  it('puts an implicit Age before the -o wide (priority 1) columns', () => {
    const def: ResourceDef = {
      group: 'x.io', version: 'v1', kind: 'Thing', listKind: 'ThingList', resource: 'things', singular: 'thing', namespaced: true,
      columns: [
        { name: 'Wide', type: 'string', priority: 1, cell: () => 'w' },
        { name: 'Phase', type: 'string', cell: () => 'p' },
      ],
    };
    expect(columnDefinitions(def).map((c) => [c.name, c.priority])).toEqual([['Name', 0], ['Phase', 0], ['Age', 0], ['Wide', 1]]);
    const row = rowOf(def, { metadata: { name: 't', creationTimestamp: '2026-01-01T00:00:00Z' } }, NOW, 'None');
    // Cells line up with the definitions.
    expect(row.cells).toEqual(['t', 'p', '10m', 'w']);
  });

  it('gives every definition the full shape kubectl reads', () => {
    for (const c of columnDefinitions(deployments)) expect(Object.keys(c).sort()).toEqual(['description', 'format', 'name', 'priority', 'type']);
  });
});

describe('rows and tables', () => {
  it('computes cells in column order, including AGE from the server clock', () => {
    const row = rowOf(pods, pod, NOW, 'None');
    expect(row.cells).toEqual(['web', '1/1', 'Running', '0', '10m', '10.244.0.85', 'node-1', '<none>', '<none>']);
    expect(row).not.toHaveProperty('object');
  });

  it('carries PartialObjectMetadata with kind/apiVersion by default (kubectl drops the Table without them)', () => {
    const row = rowOf(pods, pod, NOW, 'Metadata');
    expect(row.object).toEqual({
      kind: 'PartialObjectMetadata',
      apiVersion: 'meta.k8s.io/v1',
      metadata: { name: 'web', namespace: 'default', uid: 'u-1', resourceVersion: '105', creationTimestamp: '2026-01-01T00:00:00Z', labels: { app: 'web' } },
    });
    // managedFields are noise in a Table row and are left out; the source object is untouched.
    expect(pod.metadata.managedFields).toHaveLength(1);
  });

  it('carries the whole object with includeObject=Object (kubectl --sort-by)', () => {
    expect(rowOf(pods, pod, NOW, 'Object').object).toBe(pod);
  });

  it('builds a meta.k8s.io/v1 Table with the list metadata', () => {
    const t = toTable(pods, [pod, { ...pod, metadata: { ...pod.metadata, name: 'web2' } }], NOW, 'Metadata', { resourceVersion: '106', continue: 'tok' });
    expect(t.kind).toBe('Table');
    expect(t.apiVersion).toBe('meta.k8s.io/v1');
    expect(t.metadata).toEqual({ resourceVersion: '106', continue: 'tok' });
    expect(t.columnDefinitions).toEqual(columnDefinitions(pods));
    expect(t.rows.map((r) => r.cells[0])).toEqual(['web', 'web2']);
    expect(t.rows.every((r) => (r.object as { kind: string }).kind === 'PartialObjectMetadata')).toBe(true);
  });

  it('may leave the column definitions out (later watch events)', () => {
    expect(toTable(pods, [pod], NOW, 'None', {}, false).columnDefinitions).toEqual([]);
  });

  it('an empty list is a Table with columns and no rows', () => {
    const t = toTable(configmaps, [], NOW, 'Metadata', { resourceVersion: '1' });
    expect(t.rows).toEqual([]);
    expect(t.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Data', 'Age']);
  });
});

describe('kinds whose columns already tell the time', () => {
  it('get no AGE column: events (LAST SEEN) and roles (CREATED AT)', () => {
    const reg = builtinRegistry();
    for (const [group, resource] of [['', 'events'], ['rbac.authorization.k8s.io', 'roles'], ['rbac.authorization.k8s.io', 'clusterroles']] as const) {
      const names = columnDefinitions(reg.lookup(group, 'v1', resource)!).map((c) => c.name);
      expect(names, resource).not.toContain('Age');
    }
  });
});
