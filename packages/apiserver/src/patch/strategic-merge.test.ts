import { describe, expect, it } from 'vitest';
import type { JsonValue } from './json.js';
import {
  deploymentPatchSchema,
  genericPatchSchema,
  nodePatchSchema,
  podPatchSchema,
  replicaSetPatchSchema,
  resourcePatchSchema,
  servicePatchSchema,
} from './schemas.js';
import { applyStrategicMergePatch } from './strategic-merge.js';
import type { PatchSchema } from './strategic-merge.js';
import { catchPatchError, deepFreeze } from './testing.js';

interface Case {
  name: string;
  schema: PatchSchema;
  doc: JsonValue;
  patch: JsonValue;
  want: JsonValue;
}

function check(c: Case): void {
  const doc = deepFreeze(structuredClone(c.doc));
  const patch = deepFreeze(structuredClone(c.patch));
  // Object key order is not compared (no client depends on it); list order is.
  expect(applyStrategicMergePatch(doc, patch, deepFreeze(structuredClone(c.schema)))).toStrictEqual(c.want);
}

// ---------------------------------------------------------------------------------------------
// kubectl apply, object exists (kubectl-wire.md §5.3): the two patches kubectl 1.32 sent, verbatim
// except for the shortened last-applied annotation.

const OLD_APPLIED = '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"nginx"},"spec":"…1.25…"}\n';
const NEW_APPLIED = '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"nginx"},"spec":"…1.27…"}\n';

/** As stored after `create`/`apply` and defaulting, with fields the manifest never had. */
const nginxLive: JsonValue = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name: 'nginx',
    namespace: 'default',
    uid: 'd1',
    generation: 1,
    annotations: { 'deployment.kubernetes.io/revision': '1', 'kubectl.kubernetes.io/last-applied-configuration': OLD_APPLIED },
  },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'nginx' } },
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
    template: {
      metadata: { labels: { app: 'nginx' } },
      spec: {
        containers: [
          {
            name: 'nginx',
            image: 'nginx:1.25',
            imagePullPolicy: 'IfNotPresent',
            ports: [{ containerPort: 80, protocol: 'TCP' }],
            env: [
              { name: 'A', value: '1' },
              { name: 'B', value: '2' },
            ],
            resources: {},
          },
        ],
        restartPolicy: 'Always',
      },
    },
  },
  status: { observedGeneration: 1, replicas: 2 },
};

const nginxApplyPatch: JsonValue = {
  metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': NEW_APPLIED } },
  spec: {
    replicas: 3,
    template: {
      spec: {
        '$setElementOrder/containers': [{ name: 'nginx' }, { name: 'sidecar' }],
        containers: [
          {
            '$setElementOrder/env': [{ name: 'A' }, { name: 'C' }],
            env: [
              { name: 'C', value: '3' },
              { $patch: 'delete', name: 'B' },
            ],
            image: 'nginx:1.27',
            name: 'nginx',
          },
          { image: 'busybox:1.36', name: 'sidecar' },
        ],
      },
    },
  },
};

const nginxApplied: JsonValue = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name: 'nginx',
    namespace: 'default',
    uid: 'd1',
    generation: 1,
    annotations: { 'deployment.kubernetes.io/revision': '1', 'kubectl.kubernetes.io/last-applied-configuration': NEW_APPLIED },
  },
  spec: {
    replicas: 3,
    selector: { matchLabels: { app: 'nginx' } },
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
    template: {
      metadata: { labels: { app: 'nginx' } },
      spec: {
        containers: [
          {
            name: 'nginx',
            image: 'nginx:1.27',
            imagePullPolicy: 'IfNotPresent',
            ports: [{ containerPort: 80, protocol: 'TCP' }],
            env: [
              { name: 'A', value: '1' },
              { name: 'C', value: '3' },
            ],
            resources: {},
          },
          { name: 'sidecar', image: 'busybox:1.36' },
        ],
        restartPolicy: 'Always',
      },
    },
  },
  status: { observedGeneration: 1, replicas: 2 },
};

/** Before: a finalizer b, RollingUpdate, an emptyDir volume, port 80, a mount at /data, args [a]. */
const webLive: JsonValue = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'default', finalizers: ['example.com/a', 'example.com/b'] },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: 'web' } },
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: {
        volumes: [{ name: 'v', emptyDir: {} }],
        containers: [
          {
            name: 'c',
            image: 'busybox:1.36',
            args: ['a'],
            ports: [{ containerPort: 80 }, { containerPort: 443 }],
            volumeMounts: [{ name: 'v', mountPath: '/data' }],
          },
        ],
      },
    },
  },
};

const webApplyPatch: JsonValue = {
  metadata: { '$deleteFromPrimitiveList/finalizers': ['example.com/b'], '$setElementOrder/finalizers': ['example.com/a'] },
  spec: {
    strategy: { $retainKeys: ['type'], rollingUpdate: null, type: 'Recreate' },
    template: {
      spec: {
        '$setElementOrder/volumes': [{ name: 'v' }],
        volumes: [{ $retainKeys: ['configMap', 'name'], configMap: { name: 'cm' }, emptyDir: null, name: 'v' }],
        containers: [
          {
            '$setElementOrder/ports': [{ containerPort: 443 }],
            '$setElementOrder/volumeMounts': [{ mountPath: '/etc' }],
            args: ['b'],
            name: 'c',
            ports: [{ $patch: 'delete', containerPort: 80 }],
            volumeMounts: [
              { mountPath: '/etc', name: 'v' },
              { $patch: 'delete', mountPath: '/data' },
            ],
          },
        ],
      },
    },
  },
};

const webApplied: JsonValue = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'default', finalizers: ['example.com/a'] },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: 'web' } },
    strategy: { type: 'Recreate' },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: {
        volumes: [{ name: 'v', configMap: { name: 'cm' } }],
        containers: [
          {
            name: 'c',
            image: 'busybox:1.36',
            args: ['b'],
            ports: [{ containerPort: 443 }],
            volumeMounts: [{ name: 'v', mountPath: '/etc' }],
          },
        ],
      },
    },
  },
};

// ---------------------------------------------------------------------------------------------
// kubectl rollout pause | resume | restart and set image (kubectl-wire.md §0.3, §8.3).

const deploy = (spec: JsonValue): JsonValue => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'nginx' }, spec });
const template = (metadata: JsonValue): JsonValue => ({ metadata, spec: { containers: [{ name: 'nginx', image: 'nginx:1.25' }] } });

const kubectlCases: Case[] = [
  { name: 'apply §5.3: image, replicas, env B→C, sidecar added', schema: deploymentPatchSchema, doc: nginxLive, patch: nginxApplyPatch, want: nginxApplied },
  { name: 'apply §5.3: volume source, strategy type, finalizer/port/mount removed', schema: deploymentPatchSchema, doc: webLive, patch: webApplyPatch, want: webApplied },
  {
    name: 'rollout pause',
    schema: deploymentPatchSchema,
    doc: deploy({ replicas: 2, template: template({ labels: { app: 'nginx' } }) }),
    patch: { spec: { paused: true } },
    want: deploy({ replicas: 2, paused: true, template: template({ labels: { app: 'nginx' } }) }),
  },
  {
    name: 'rollout resume: {"paused":null} removes the field',
    schema: deploymentPatchSchema,
    doc: deploy({ replicas: 2, paused: true, template: template({ labels: { app: 'nginx' } }) }),
    patch: { spec: { paused: null } },
    want: deploy({ replicas: 2, template: template({ labels: { app: 'nginx' } }) }),
  },
  {
    name: 'rollout resume of a Deployment that is not paused changes nothing',
    schema: deploymentPatchSchema,
    doc: deploy({ replicas: 2 }),
    patch: { spec: { paused: null } },
    want: deploy({ replicas: 2 }),
  },
  {
    name: 'rollout restart: the template gains an annotations map',
    schema: deploymentPatchSchema,
    doc: deploy({ template: template({ labels: { app: 'nginx' } }) }),
    patch: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': '2025-06-01T10:00:00Z' } } } } },
    want: deploy({
      template: template({ labels: { app: 'nginx' }, annotations: { 'kubectl.kubernetes.io/restartedAt': '2025-06-01T10:00:00Z' } }),
    }),
  },
  {
    name: 'rollout restart again: the timestamp is replaced, other annotations kept',
    schema: deploymentPatchSchema,
    doc: deploy({ template: template({ annotations: { 'kubectl.kubernetes.io/restartedAt': '2025-06-01T10:00:00Z', keep: 'me' } }) }),
    patch: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': '2025-06-02T08:30:00Z' } } } } },
    want: deploy({ template: template({ annotations: { 'kubectl.kubernetes.io/restartedAt': '2025-06-02T08:30:00Z', keep: 'me' } }) }),
  },
  {
    name: 'set image: the container is matched by name, its siblings untouched',
    schema: deploymentPatchSchema,
    doc: deploy({
      template: {
        spec: {
          containers: [
            { name: 'nginx', image: 'nginx:1.25', args: ['-g'] },
            { name: 'sidecar', image: 'busybox:1.36' },
          ],
        },
      },
    }),
    patch: { spec: { template: { spec: { containers: [{ image: 'nginx:1.28', name: 'nginx' }] } } } },
    want: deploy({
      template: {
        spec: {
          containers: [
            { name: 'nginx', image: 'nginx:1.28', args: ['-g'] },
            { name: 'sidecar', image: 'busybox:1.36' },
          ],
        },
      },
    }),
  },
];

// ---------------------------------------------------------------------------------------------
// Each directive and list strategy on its own.

const podWith = (spec: JsonValue): JsonValue => ({ metadata: { name: 'p' }, spec });
const envOf = (...names: string[]): JsonValue => podWith({ containers: [{ name: 'c', env: names.map((name) => ({ name, value: name.toLowerCase() })) }] });
const envPatch = (patch: Record<string, JsonValue>): JsonValue => ({ spec: { containers: [{ name: 'c', ...patch }] } });
const names = (...n: string[]): JsonValue => n.map((name) => ({ name }));
const meta = (m: JsonValue): JsonValue => ({ metadata: m });

const directiveCases: Case[] = [
  // Maps
  { name: 'maps merge recursively', schema: genericPatchSchema, doc: { data: { a: '1', b: '2' } }, patch: { data: { b: '3', c: '4' } }, want: { data: { a: '1', b: '3', c: '4' } } },
  { name: 'null deletes a map key', schema: genericPatchSchema, doc: { data: { a: '1', b: '2' } }, patch: { data: { a: null } }, want: { data: { b: '2' } } },
  { name: '"labels": null removes every label', schema: genericPatchSchema, doc: meta({ name: 'x', labels: { a: '1' } }), patch: meta({ labels: null }), want: meta({ name: 'x' }) },
  { name: 'nulls in a new map are dropped', schema: genericPatchSchema, doc: {}, patch: { data: { a: null, b: '1' } }, want: { data: { b: '1' } } },
  { name: 'a map replaces a scalar', schema: genericPatchSchema, doc: { a: 'x' }, patch: { a: { b: 1 } }, want: { a: { b: 1 } } },
  {
    name: '"$patch": "replace" on a map',
    schema: podPatchSchema,
    doc: meta({ name: 'p', labels: { a: '1', b: '2' } }),
    patch: meta({ labels: { $patch: 'replace', c: '3' } }),
    want: meta({ name: 'p', labels: { c: '3' } }),
  },
  {
    name: '"$patch": "delete" as a field value removes the field',
    schema: deploymentPatchSchema,
    doc: deploy({ replicas: 1, strategy: { type: 'Recreate' } }),
    patch: { spec: { strategy: { $patch: 'delete' } } },
    want: deploy({ replicas: 1 }),
  },
  { name: '"$patch": "merge" is the default', schema: genericPatchSchema, doc: { data: { a: '1' } }, patch: { data: { $patch: 'merge', b: '2' } }, want: { data: { a: '1', b: '2' } } },
  {
    name: 'schema strategy "replace" makes a map atomic',
    schema: { fields: { spec: { fields: { selector: { strategy: 'replace' } } } } },
    doc: { spec: { selector: { matchLabels: { a: '1' } }, replicas: 1 } },
    patch: { spec: { selector: { matchExpressions: [] } } },
    want: { spec: { selector: { matchExpressions: [] }, replicas: 1 } },
  },
  { name: 'a top-level "$patch": "delete" empties the object', schema: genericPatchSchema, doc: meta({ name: 'x' }), patch: { $patch: 'delete' }, want: {} },

  // $retainKeys
  {
    name: '$retainKeys drops unlisted live keys before merging',
    schema: deploymentPatchSchema,
    doc: deploy({ strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } } }),
    patch: { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate' } } },
    want: deploy({ strategy: { type: 'Recreate' } }),
  },
  {
    name: '$retainKeys is honoured where the schema does not declare it',
    schema: genericPatchSchema,
    doc: { spec: { source: { a: 1, b: 2, c: 3 } } },
    patch: { spec: { source: { $retainKeys: ['a', 'c'], c: 4 } } },
    want: { spec: { source: { a: 1, c: 4 } } },
  },

  // Lists merged by key
  { name: 'a new keyed element is appended', schema: podPatchSchema, doc: envOf('A'), patch: envPatch({ env: [{ name: 'Z', value: 'z' }, { name: 'M', value: 'm' }] }), want: envOf('A', 'Z', 'M') },
  {
    name: 'a keyed element merges field by field',
    schema: podPatchSchema,
    doc: podWith({ containers: [{ name: 'c', image: 'i:1', env: [{ name: 'A', value: 'a' }] }] }),
    patch: { spec: { containers: [{ name: 'c', env: [{ name: 'A', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } }, value: null }] }] } },
    want: podWith({ containers: [{ name: 'c', image: 'i:1', env: [{ name: 'A', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] }] }),
  },
  { name: '"$patch": "delete" removes by key', schema: podPatchSchema, doc: envOf('A', 'B', 'C'), patch: envPatch({ env: [{ $patch: 'delete', name: 'B' }] }), want: envOf('A', 'C') },
  { name: '"$patch": "delete" of an absent key is a no-op', schema: podPatchSchema, doc: envOf('A'), patch: envPatch({ env: [{ $patch: 'delete', name: 'Q' }] }), want: envOf('A') },
  {
    name: '"$patch": "replace" element: the rest of the list replaces the live one',
    schema: podPatchSchema,
    doc: envOf('A', 'B'),
    patch: envPatch({ env: [{ $patch: 'replace' }, { name: 'Z', value: 'z' }] }),
    want: envOf('Z'),
  },
  {
    name: 'new elements lose nulls and have their nested directives resolved',
    schema: podPatchSchema,
    doc: podWith({ containers: [{ name: 'a' }] }),
    patch: { spec: { containers: [{ name: 'b', image: null, '$setElementOrder/env': [{ name: 'Y' }, { name: 'X' }], env: [{ name: 'X' }, { name: 'Y' }] }] } },
    want: podWith({ containers: [{ name: 'a' }, { name: 'b', env: [{ name: 'Y' }, { name: 'X' }] }] }),
  },
  {
    name: 'elements match on numeric keys (container ports)',
    schema: podPatchSchema,
    doc: podWith({ containers: [{ name: 'c', ports: [{ containerPort: 80, name: 'http' }, { containerPort: 443 }] }] }),
    patch: { spec: { containers: [{ name: 'c', ports: [{ containerPort: 443, name: 'https' }] }] } },
    want: podWith({ containers: [{ name: 'c', ports: [{ containerPort: 80, name: 'http' }, { containerPort: 443, name: 'https' }] }] }),
  },
  {
    name: 'initContainers, volumes and imagePullSecrets merge by name',
    schema: podPatchSchema,
    doc: podWith({ initContainers: [{ name: 'i', image: 'x' }], volumes: [{ name: 'a', emptyDir: {} }], imagePullSecrets: names('s1') }),
    patch: { spec: { initContainers: [{ name: 'i', image: 'y' }], volumes: [{ name: 'b', emptyDir: {} }], imagePullSecrets: names('s2') } },
    want: podWith({
      initContainers: [{ name: 'i', image: 'y' }],
      volumes: [
        { name: 'a', emptyDir: {} },
        { name: 'b', emptyDir: {} },
      ],
      imagePullSecrets: names('s1', 's2'),
    }),
  },

  // $setElementOrder
  { name: '$setElementOrder alone reorders the live list', schema: podPatchSchema, doc: podWith({ containers: names('a', 'b') }), patch: { spec: { '$setElementOrder/containers': names('b', 'a') } }, want: podWith({ containers: names('b', 'a') }) },
  {
    name: '$setElementOrder keeps a live-only element before its live successor',
    schema: podPatchSchema,
    doc: envOf('A', 'X', 'B'),
    patch: envPatch({ '$setElementOrder/env': names('A', 'B', 'N'), env: [{ name: 'N', value: 'n' }] }),
    want: envOf('A', 'X', 'B', 'N'),
  },
  {
    name: '$setElementOrder puts a new first element before live-only ones',
    schema: podPatchSchema,
    doc: envOf('X', 'A'),
    patch: envPatch({ '$setElementOrder/env': names('N', 'A'), env: [{ name: 'N', value: 'n' }] }),
    want: envOf('N', 'X', 'A'),
  },
  {
    name: 'elements the order does not name go last',
    schema: podPatchSchema,
    doc: envOf('A'),
    patch: envPatch({ '$setElementOrder/env': names('A'), env: [{ name: 'N', value: 'n' }] }),
    want: envOf('A', 'N'),
  },
  {
    name: '$setElementOrder on a field the patch deletes is moot',
    schema: podPatchSchema,
    doc: envOf('A'),
    patch: envPatch({ '$setElementOrder/env': names('A'), env: null }),
    want: podWith({ containers: [{ name: 'c' }] }),
  },
  { name: '$setElementOrder on a field the object lacks does nothing', schema: podPatchSchema, doc: podWith({}), patch: { spec: { '$setElementOrder/volumes': names('v') } }, want: podWith({}) },

  // Primitive sets (finalizers)
  { name: 'finalizers: union, no duplicates', schema: genericPatchSchema, doc: meta({ finalizers: ['a', 'b'] }), patch: meta({ finalizers: ['b', 'c'] }), want: meta({ finalizers: ['a', 'b', 'c'] }) },
  { name: 'finalizers: $deleteFromPrimitiveList alone', schema: genericPatchSchema, doc: meta({ finalizers: ['a', 'b', 'c'] }), patch: meta({ '$deleteFromPrimitiveList/finalizers': ['b', 'zz'] }), want: meta({ finalizers: ['a', 'c'] }) },
  {
    name: 'finalizers: delete and add in one patch',
    schema: genericPatchSchema,
    doc: meta({ finalizers: ['a', 'b'] }),
    patch: meta({ '$deleteFromPrimitiveList/finalizers': ['a'], finalizers: ['c'] }),
    want: meta({ finalizers: ['b', 'c'] }),
  },
  {
    name: 'finalizers: $setElementOrder with values',
    schema: genericPatchSchema,
    doc: meta({ finalizers: ['a', 'b'] }),
    patch: meta({ '$setElementOrder/finalizers': ['c', 'b', 'a'], finalizers: ['c'] }),
    want: meta({ finalizers: ['c', 'b', 'a'] }),
  },
  { name: 'finalizers: null removes them all', schema: genericPatchSchema, doc: meta({ name: 'x', finalizers: ['a'] }), patch: meta({ finalizers: null }), want: meta({ name: 'x' }) },
  {
    name: 'ownerReferences merge by uid',
    schema: replicaSetPatchSchema,
    doc: meta({ ownerReferences: [{ uid: 'u1', kind: 'Deployment', name: 'd' }] }),
    patch: meta({ ownerReferences: [{ uid: 'u1', controller: true }, { uid: 'u2', kind: 'X', name: 'x' }] }),
    want: meta({ ownerReferences: [{ uid: 'u1', kind: 'Deployment', name: 'd', controller: true }, { uid: 'u2', kind: 'X', name: 'x' }] }),
  },

  // Lists replaced whole
  {
    name: 'args and tolerations (no merge key) are replaced',
    schema: podPatchSchema,
    doc: podWith({ containers: [{ name: 'c', args: ['a', 'b'] }], tolerations: [{ key: 'k1', operator: 'Exists' }] }),
    patch: { spec: { containers: [{ name: 'c', args: ['z'] }], tolerations: [{ key: 'k2', operator: 'Exists' }] } },
    want: podWith({ containers: [{ name: 'c', args: ['z'] }], tolerations: [{ key: 'k2', operator: 'Exists' }] }),
  },
  { name: 'unknown lists are replaced', schema: genericPatchSchema, doc: { spec: { rules: [{ a: 1 }, { a: 2 }] } }, patch: { spec: { rules: [{ a: 3 }] } }, want: { spec: { rules: [{ a: 3 }] } } },
  { name: 'schema strategy "replace" beats a merge key', schema: { fields: { l: { mergeKey: 'name', strategy: 'replace' } } }, doc: { l: names('a') }, patch: { l: names('b') }, want: { l: names('b') } },
  {
    name: '$deleteFromPrimitiveList on a list the schema replaces still removes the values',
    schema: genericPatchSchema,
    doc: { spec: { cidrs: ['a', 'b'] } },
    patch: { spec: { '$deleteFromPrimitiveList/cidrs': ['a'] } },
    want: { spec: { cidrs: ['b'] } },
  },

  // Per-kind schemas
  {
    name: 'service ports merge by port',
    schema: servicePatchSchema,
    doc: { spec: { ports: [{ port: 80, targetPort: 8080, name: 'http' }, { port: 443, name: 'https' }] } },
    patch: { spec: { ports: [{ port: 80, targetPort: 9090 }] } },
    want: { spec: { ports: [{ port: 80, targetPort: 9090, name: 'http' }, { port: 443, name: 'https' }] } },
  },
  {
    name: 'node status: conditions and addresses merge by type',
    schema: nodePatchSchema,
    doc: {
      status: {
        conditions: [{ type: 'Ready', status: 'False' }, { type: 'MemoryPressure', status: 'False' }],
        addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
      },
    },
    patch: { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }], addresses: [{ type: 'Hostname', address: 'n1' }] } },
    want: {
      status: {
        conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }, { type: 'MemoryPressure', status: 'False' }],
        addresses: [{ type: 'InternalIP', address: '10.0.0.1' }, { type: 'Hostname', address: 'n1' }],
      },
    },
  },
  {
    name: 'a registry kind built with resourcePatchSchema',
    schema: resourcePatchSchema({ spec: { fields: { template: { fields: { spec: { fields: { containers: { mergeKey: 'name' } } } } } } } }),
    doc: { metadata: { finalizers: ['a'] }, spec: { template: { spec: { containers: [{ name: 'x', image: '1' }] } } } },
    patch: { metadata: { finalizers: ['b'] }, spec: { template: { spec: { containers: [{ name: 'x', image: '2' }] } } } },
    want: { metadata: { finalizers: ['a', 'b'] }, spec: { template: { spec: { containers: [{ name: 'x', image: '2' }] } } } },
  },
  { name: '"__proto__" is an ordinary key', schema: genericPatchSchema, doc: {}, patch: JSON.parse('{"data":{"__proto__":"x"}}') as JsonValue, want: JSON.parse('{"data":{"__proto__":"x"}}') as JsonValue },
];

describe('applyStrategicMergePatch: what kubectl sends', () => {
  for (const c of kubectlCases) it(c.name, () => check(c));
});

describe('applyStrategicMergePatch: directives and list strategies', () => {
  for (const c of directiveCases) it(c.name, () => check(c));

  it('shares nothing with its inputs', () => {
    const doc = { spec: { containers: [{ name: 'a', env: [{ name: 'X' }] }] } };
    const patch = { spec: { containers: [{ name: 'b', args: ['1'] }] } };
    const got = applyStrategicMergePatch(doc, patch, podPatchSchema) as typeof doc & { spec: { containers: { args?: string[] }[] } };
    got.spec.containers[0].env.push({ name: 'Y' });
    got.spec.containers[1].args?.push('2');
    expect(doc).toStrictEqual({ spec: { containers: [{ name: 'a', env: [{ name: 'X' }] }] } });
    expect(patch).toStrictEqual({ spec: { containers: [{ name: 'b', args: ['1'] }] } });
  });
});

interface ErrorCase {
  name: string;
  schema?: PatchSchema;
  doc?: JsonValue;
  patch: JsonValue;
  path: string;
  message: RegExp;
}

const errorCases: ErrorCase[] = [
  { name: 'a patch that is a list', patch: [{ op: 'add' }], path: '', message: /must be a JSON object, got an array/ },
  { name: 'a patch that is null', patch: null, path: '', message: /must be a JSON object, got null/ },
  { name: 'an unknown $patch on a map', patch: { spec: { $patch: 'remove' } }, path: '/spec', message: /unknown "\$patch" directive "remove"/ },
  { name: 'an unknown $patch on a list element', patch: { spec: { containers: [{ name: 'a', $patch: 'drop' }] } }, path: '/spec/containers/0', message: /unknown "\$patch" directive "drop"/ },
  {
    name: 'a keyed element without its merge key',
    patch: { spec: { template: { spec: { containers: [{ name: 'a' }, { image: 'x' }] } } } },
    schema: deploymentPatchSchema,
    path: '/spec/template/spec/containers/1',
    message: /list at "\/spec\/template\/spec\/containers" has no merge key "name"/,
  },
  { name: 'a keyed element that is not an object', patch: { spec: { containers: ['a'] } }, path: '/spec/containers/0', message: /merged by "name" and must be objects, got a string/ },
  { name: '$patch: delete without the merge key', patch: { spec: { containers: [{ $patch: 'delete', image: 'x' }] } }, path: '/spec/containers/0', message: /no merge key "name"/ },
  { name: '$patch: delete in a list replaced whole', patch: { spec: { tolerations: [{ $patch: 'delete', key: 'k' }] } }, path: '/spec/tolerations/0', message: /"\/spec\/tolerations" has no merge key and is replaced whole/ },
  { name: '$patch: delete in a primitive set', schema: genericPatchSchema, patch: { metadata: { finalizers: [{ $patch: 'delete' }] } }, path: '/metadata/finalizers/0', message: /set of values .*\$deleteFromPrimitiveList/ },
  { name: '$setElementOrder that is not a list', patch: { spec: { '$setElementOrder/containers': { name: 'a' } } }, path: '/spec/$setElementOrder~1containers', message: /must be a list, got an object/ },
  {
    name: '$setElementOrder element without the merge key',
    doc: { spec: { containers: [{ name: 'a' }] } },
    patch: { spec: { '$setElementOrder/containers': [{ name: 'a' }, { image: 'x' }] } },
    path: '/spec/$setElementOrder~1containers/1',
    message: /no merge key "name"/,
  },
  { name: '$setElementOrder naming no field', patch: { spec: { '$setElementOrder/': [] } }, path: '/spec/$setElementOrder~1', message: /names no field/ },
  { name: '$deleteFromPrimitiveList that is not a list', schema: genericPatchSchema, patch: { metadata: { '$deleteFromPrimitiveList/finalizers': 'a' } }, path: '/metadata/$deleteFromPrimitiveList~1finalizers', message: /must be a list, got a string/ },
  { name: '$retainKeys that is not a list of names', patch: { spec: { $retainKeys: 'type' } }, path: '/spec/$retainKeys', message: /"\$retainKeys" must be a list of field names/ },
  {
    name: 'a patch setting a field its $retainKeys drops',
    schema: deploymentPatchSchema,
    patch: { spec: { strategy: { $retainKeys: ['type'], type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } } } },
    path: '/spec/strategy/rollingUpdate',
    message: /sets "rollingUpdate" but "\$retainKeys" \["type"\] does not list it/,
  },
];

describe('applyStrategicMergePatch errors', () => {
  for (const c of errorCases) {
    it(c.name, () => {
      const doc = deepFreeze(structuredClone(c.doc ?? { spec: {} }));
      const err = catchPatchError(() => applyStrategicMergePatch(doc, c.patch, c.schema ?? podPatchSchema));
      expect({ code: err.code, path: err.path }).toStrictEqual({ code: 'INVALID_PATCH', path: c.path });
      expect(err.message).toMatch(c.message);
      expect(err.message).toContain('strategic merge patch');
    });
  }
});
