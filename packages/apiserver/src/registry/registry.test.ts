import type { KubeObject, StatusCause } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { deployments, replicasets } from './apps.js';
import { configmaps, nodes, pods, secrets, services } from './core.js';
import { builtinRegistry, Registry, verbsOf } from './registry.js';
import { ALL_VERBS, apiVersionOfDef, qualifiedResource, type ResourceDef } from './types.js';

type Json = Record<string, any>;

/** Defaults then validation, as the generic create path runs them. */
function admit(def: ResourceDef, obj: Json): { obj: KubeObject; causes: StatusCause[] } {
  const o = structuredClone(obj) as KubeObject;
  o.metadata ??= {};
  def.defaults?.(o);
  return { obj: o as KubeObject, causes: def.validate?.(o) ?? [] };
}

const podOf = (spec: Json, extra: Json = {}): Json => ({ metadata: { name: 'web', namespace: 'default' }, spec, ...extra });
const fields = (causes: StatusCause[]): (string | undefined)[] => causes.map((c) => c.field);

/** The value of one printer column, as the Table for `kubectl get` shows it. */
function cell(def: ResourceDef, column: string, obj: Json, now = Date.parse('2026-01-01T00:00:00Z')): unknown {
  const col = def.columns?.find((c) => c.name === column);
  if (!col) throw new Error(`${def.kind} has no column ${column}`);
  const o = structuredClone(obj) as KubeObject;
  o.metadata ??= {};
  return col.cell(o, now);
}

describe('Pod defaults', () => {
  const { obj, causes } = admit(pods, podOf({ containers: [{ name: 'app', image: 'nginx:1.25', ports: [{ containerPort: 80 }] }] }));
  const spec = obj.spec as Json;

  it('a minimal pod is valid once defaulted', () => {
    expect(causes).toEqual([]);
  });

  it('fills the pod-level defaults Kubernetes fills', () => {
    expect(spec).toMatchObject({
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      schedulerName: 'default-scheduler',
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      enableServiceLinks: true,
    });
    expect((obj.status as Json).phase).toBe('Pending');
  });

  it('defaults a container port protocol to TCP (kubectl describe prints "80/" without it)', () => {
    expect(spec.containers[0].ports[0].protocol).toBe('TCP');
  });

  it('keeps values the client set', () => {
    const r = admit(pods, podOf({ restartPolicy: 'Never', terminationGracePeriodSeconds: 5, containers: [{ name: 'a', image: 'x', imagePullPolicy: 'Never', ports: [{ containerPort: 53, protocol: 'UDP' }] }] }));
    const s = r.obj.spec as Json;
    expect(s.restartPolicy).toBe('Never');
    expect(s.terminationGracePeriodSeconds).toBe(5);
    expect(s.containers[0].imagePullPolicy).toBe('Never');
    expect(s.containers[0].ports[0].protocol).toBe('UDP');
  });

  // Always for an untagged or :latest image (it may move), otherwise IfNotPresent.
  it.each([
    ['busybox', 'Always'],
    ['x:latest', 'Always'],
    ['registry.example.com:5000/team/busybox', 'Always'],
    ['registry.example.com:5000/team/app:latest', 'Always'],
    ['nginx:1.25', 'IfNotPresent'],
    ['registry.example.com:5000/nginx:1.25', 'IfNotPresent'],
    ['nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', 'IfNotPresent'],
  ])('imagePullPolicy for %s is %s', (image, want) => {
    const r = admit(pods, podOf({ containers: [{ name: 'c', image }], initContainers: [{ name: 'i', image }] }));
    const s = r.obj.spec as Json;
    expect(s.containers[0].imagePullPolicy).toBe(want);
    expect(s.initContainers[0].imagePullPolicy).toBe(want);
  });
});

describe('Pod validation', () => {
  // Each bad pod must name the offending field exactly: kubectl prints `<field>: <message>`.
  const cases: { name: string; spec: Json; field: string; reason: string }[] = [
    { name: 'no containers', spec: { containers: [] }, field: 'spec.containers', reason: 'FieldValueRequired' },
    { name: 'containers missing altogether', spec: {}, field: 'spec.containers', reason: 'FieldValueRequired' },
    {
      name: 'duplicate container names',
      spec: { containers: [{ name: 'a', image: 'x' }, { name: 'a', image: 'y' }] },
      field: 'spec.containers[1].name',
      reason: 'FieldValueDuplicate',
    },
    {
      name: 'an init container named like a container',
      spec: { initContainers: [{ name: 'a', image: 'x' }], containers: [{ name: 'a', image: 'y' }] },
      field: 'spec.containers[0].name',
      reason: 'FieldValueDuplicate',
    },
    { name: 'a bad container name', spec: { containers: [{ name: 'Web_1', image: 'x' }] }, field: 'spec.containers[0].name', reason: 'FieldValueInvalid' },
    { name: 'a container without a name', spec: { containers: [{ image: 'x' }] }, field: 'spec.containers[0].name', reason: 'FieldValueRequired' },
    { name: 'a missing image', spec: { containers: [{ name: 'a' }] }, field: 'spec.containers[0].image', reason: 'FieldValueRequired' },
    { name: 'a blank image', spec: { containers: [{ name: 'a', image: '  ' }] }, field: 'spec.containers[0].image', reason: 'FieldValueRequired' },
    { name: 'an init container without an image', spec: { initContainers: [{ name: 'i' }], containers: [{ name: 'a', image: 'x' }] }, field: 'spec.initContainers[0].image', reason: 'FieldValueRequired' },
    {
      name: 'port 0',
      spec: { containers: [{ name: 'a', image: 'x', ports: [{ containerPort: 0 }] }] },
      field: 'spec.containers[0].ports[0].containerPort',
      reason: 'FieldValueInvalid',
    },
    {
      name: 'port 65536 on the second port',
      spec: { containers: [{ name: 'a', image: 'x', ports: [{ containerPort: 80 }, { containerPort: 65536 }] }] },
      field: 'spec.containers[0].ports[1].containerPort',
      reason: 'FieldValueInvalid',
    },
    {
      name: 'a port given as a string',
      spec: { containers: [{ name: 'a', image: 'x', ports: [{ containerPort: '80' }] }] },
      field: 'spec.containers[0].ports[0].containerPort',
      reason: 'FieldValueInvalid',
    },
    {
      name: 'a bad port protocol',
      spec: { containers: [{ name: 'a', image: 'x', ports: [{ containerPort: 80, protocol: 'HTTP' }] }] },
      field: 'spec.containers[0].ports[0].protocol',
      reason: 'FieldValueNotSupported',
    },
    { name: 'a bad restartPolicy', spec: { restartPolicy: 'Sometimes', containers: [{ name: 'a', image: 'x' }] }, field: 'spec.restartPolicy', reason: 'FieldValueNotSupported' },
    { name: 'a bad imagePullPolicy', spec: { containers: [{ name: 'a', image: 'x', imagePullPolicy: 'Maybe' }] }, field: 'spec.containers[0].imagePullPolicy', reason: 'FieldValueNotSupported' },
    { name: 'a negative grace period', spec: { terminationGracePeriodSeconds: -1, containers: [{ name: 'a', image: 'x' }] }, field: 'spec.terminationGracePeriodSeconds', reason: 'FieldValueInvalid' },
    { name: 'command not a list of strings', spec: { containers: [{ name: 'a', image: 'x', command: 'sh -c true' }] }, field: 'spec.containers[0].command', reason: 'FieldValueInvalid' },
    { name: 'an env var without a name', spec: { containers: [{ name: 'a', image: 'x', env: [{ value: '1' }] }] }, field: 'spec.containers[0].env[0].name', reason: 'FieldValueRequired' },
  ];

  it.each(cases)('$name → $field ($reason)', ({ spec, field, reason }) => {
    const { causes } = admit(pods, podOf(spec));
    expect(causes).toContainEqual(expect.objectContaining({ field, reason }));
  });

  it('reports every problem at once, not just the first', () => {
    const { causes } = admit(pods, podOf({ restartPolicy: 'Sometimes', containers: [{ name: 'a' }, { name: 'a', image: 'x', ports: [{ containerPort: 0 }] }] }));
    expect(fields(causes).sort()).toEqual(['spec.containers[0].image', 'spec.containers[1].name', 'spec.containers[1].ports[0].containerPort', 'spec.restartPolicy'].sort());
  });

  it('messages read the way kubectl shows them', () => {
    const { causes } = admit(pods, podOf({ containers: [{ name: 'a' }] }));
    expect(causes).toEqual([{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.containers[0].image' }]);
  });
});

const deploymentOf = (spec: Json): Json => ({ metadata: { name: 'web', namespace: 'default' }, spec });
const template = (labels: Json = { app: 'web' }): Json => ({ metadata: { labels }, spec: { containers: [{ name: 'web', image: 'nginx:1.25' }] } });

describe('Deployment', () => {
  it('gets the Kubernetes defaults and a defaulted pod template', () => {
    const { obj, causes } = admit(deployments, deploymentOf({ selector: { matchLabels: { app: 'web' } }, template: template() }));
    expect(causes).toEqual([]);
    const spec = obj.spec as Json;
    expect(spec).toMatchObject({
      replicas: 1,
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } },
    });
    expect(spec.template.spec).toMatchObject({ restartPolicy: 'Always', terminationGracePeriodSeconds: 30 });
    expect(spec.template.spec.containers[0].imagePullPolicy).toBe('IfNotPresent');
  });

  it('keeps replicas 0 (a scaled-down deployment is not "unset")', () => {
    const { obj } = admit(deployments, deploymentOf({ replicas: 0, selector: { matchLabels: { app: 'web' } }, template: template() }));
    expect((obj.spec as Json).replicas).toBe(0);
  });

  it('a Recreate strategy gets no rollingUpdate block', () => {
    const { obj } = admit(deployments, deploymentOf({ strategy: { type: 'Recreate' }, selector: { matchLabels: { app: 'web' } }, template: template() }));
    expect((obj.spec as Json).strategy).toEqual({ type: 'Recreate' });
  });

  it('refuses template labels that do not satisfy the selector', () => {
    const { causes } = admit(deployments, deploymentOf({ selector: { matchLabels: { app: 'web' } }, template: template({ app: 'other' }) }));
    expect(causes).toEqual([expect.objectContaining({ field: 'spec.template.metadata.labels', reason: 'FieldValueInvalid' })]);
    expect(causes[0].message).toContain('`selector` does not match template `labels`');
  });

  it.each<{ name: string; spec: Json; field: string }>([
    { name: 'no selector', spec: { template: template() }, field: 'spec.selector' },
    { name: 'an empty selector', spec: { selector: {}, template: template() }, field: 'spec.selector' },
    { name: 'no template', spec: { selector: { matchLabels: { app: 'web' } } }, field: 'spec.template' },
    { name: 'negative replicas', spec: { replicas: -1, selector: { matchLabels: { app: 'web' } }, template: template() }, field: 'spec.replicas' },
    {
      name: 'a template container without an image',
      spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web' }] } } },
      field: 'spec.template.spec.containers[0].image',
    },
  ])('refuses $name at $field', ({ spec, field }) => {
    const { causes } = admit(deployments, deploymentOf(spec));
    expect(fields(causes)).toContain(field);
  });

  it('a selector change is refused on update (it is immutable)', () => {
    const old = admit(deployments, deploymentOf({ selector: { matchLabels: { app: 'web' } }, template: template() })).obj;
    const next = admit(deployments, deploymentOf({ selector: { matchLabels: { app: 'web', tier: 'x' } }, template: template({ app: 'web', tier: 'x' }) })).obj;
    expect(deployments.validateUpdate?.(next, old)).toEqual([expect.objectContaining({ field: 'spec.selector' })]);
    expect(deployments.validateUpdate?.(structuredClone(old), old)).toEqual([]);
  });

  it('the scale subresource reads and writes spec.replicas and prints the selector', () => {
    const { obj } = admit(deployments, deploymentOf({ replicas: 3, selector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['a', 'b'] }] }, template: template({ app: 'web', tier: 'a' }) }));
    const scale = deployments.scale!;
    expect(scale.specReplicas(obj)).toBe(3);
    expect(scale.statusReplicas(obj)).toBe(0);
    expect(scale.selector(obj)).toBe('app=web,tier in (a,b)');
    scale.setSpecReplicas(obj, 5);
    expect((obj.spec as Json).replicas).toBe(5);
  });
});

describe('ReplicaSet', () => {
  it('defaults replicas to 1 and validates like a Deployment', () => {
    const { obj, causes } = admit(replicasets, deploymentOf({ selector: { matchLabels: { app: 'web' } }, template: template() }));
    expect(causes).toEqual([]);
    expect((obj.spec as Json).replicas).toBe(1);
    expect(admit(replicasets, deploymentOf({ selector: { matchLabels: { app: 'web' } }, template: template({}) })).causes.map((c) => c.field)).toEqual(['spec.template.metadata.labels']);
  });
});

describe('Service', () => {
  const svc = (spec: Json, name = 'web'): Json => ({ metadata: { name, namespace: 'default' }, spec });

  it('defaults type ClusterIP, sessionAffinity None, protocol TCP and targetPort = port', () => {
    const { obj, causes } = admit(services, svc({ selector: { app: 'web' }, ports: [{ port: 80 }, { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }] }));
    expect((obj.spec as Json).type).toBe('ClusterIP');
    expect((obj.spec as Json).sessionAffinity).toBe('None');
    expect((obj.spec as Json).ports).toEqual([
      { port: 80, protocol: 'TCP', targetPort: 80 },
      { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 },
    ]);
    // Two ports: the first must have a name.
    expect(fields(causes)).toEqual(['spec.ports[0].name']);
  });

  it.each<{ name: string; spec: Json; field: string; reason: string }>([
    { name: 'an unknown type', spec: { type: 'Magic', ports: [{ port: 80 }] }, field: 'spec.type', reason: 'FieldValueNotSupported' },
    { name: 'no ports', spec: { selector: { app: 'web' } }, field: 'spec.ports', reason: 'FieldValueRequired' },
    { name: 'port 0', spec: { ports: [{ port: 0 }] }, field: 'spec.ports[0].port', reason: 'FieldValueInvalid' },
    { name: 'port 70000', spec: { ports: [{ port: 70000 }] }, field: 'spec.ports[0].port', reason: 'FieldValueInvalid' },
    { name: 'an unnamed port among several', spec: { ports: [{ name: 'a', port: 80 }, { port: 81 }] }, field: 'spec.ports[1].name', reason: 'FieldValueRequired' },
    { name: 'a bad protocol', spec: { ports: [{ port: 80, protocol: 'ICMP' }] }, field: 'spec.ports[0].protocol', reason: 'FieldValueNotSupported' },
  ])('refuses $name at $field', ({ spec, field, reason }) => {
    const { causes } = admit(services, svc(spec));
    expect(causes).toContainEqual(expect.objectContaining({ field, reason }));
  });

  it('a headless or ExternalName service needs no ports', () => {
    expect(admit(services, svc({ clusterIP: 'None', selector: { app: 'web' } })).causes).toEqual([]);
    expect(admit(services, svc({ type: 'ExternalName', externalName: 'example.com' })).causes).toEqual([]);
  });

  it('a set clusterIP is immutable', () => {
    const old = admit(services, svc({ clusterIP: '10.96.0.10', ports: [{ port: 80 }] })).obj;
    const changed = admit(services, svc({ clusterIP: '10.96.0.11', ports: [{ port: 80 }] })).obj;
    expect(services.validateUpdate?.(changed, old)).toEqual([expect.objectContaining({ field: 'spec.clusterIP', message: 'field is immutable' })]);
    expect(services.validateUpdate?.(structuredClone(old), old)).toEqual([]);
  });
});

describe('Secret', () => {
  it('merges stringData into base64 data and never keeps stringData', () => {
    const { obj, causes } = admit(secrets, { metadata: { name: 's' }, data: { a: Buffer.from('old').toString('base64'), keep: 'eA==' }, stringData: { a: 'new', b: 'héllo' } });
    expect(causes).toEqual([]);
    expect(obj.type).toBe('Opaque');
    expect(obj).not.toHaveProperty('stringData');
    // stringData wins over data for the same key, as in Kubernetes.
    expect(obj.data).toEqual({ a: Buffer.from('new').toString('base64'), keep: 'eA==', b: Buffer.from('héllo', 'utf8').toString('base64') });
  });

  it('stringData alone creates data', () => {
    const { obj } = admit(secrets, { metadata: { name: 's' }, stringData: { password: 's3cret' } });
    expect(obj.data).toEqual({ password: 'czNjcmV0' });
  });

  it('refuses data that is not base64, without echoing the secret value', () => {
    const { causes } = admit(secrets, { metadata: { name: 's' }, data: { a: 'not base64!' } });
    expect(causes).toEqual([expect.objectContaining({ field: 'data[a]', reason: 'FieldValueInvalid' })]);
    expect(causes[0].message).not.toContain('not base64!');
  });
});

describe('ConfigMap', () => {
  it('refuses non-string values and changes to an immutable ConfigMap', () => {
    expect(fields(admit(configmaps, { metadata: { name: 'c' }, data: { n: 1 } }).causes)).toEqual(['data[n]']);
    const old = { metadata: { name: 'c' }, immutable: true, data: { a: '1' } } as KubeObject;
    expect(configmaps.validateUpdate?.({ ...old, data: { a: '2' } }, old)).toEqual([expect.objectContaining({ field: 'data' })]);
    expect(configmaps.validateUpdate?.({ ...old, metadata: { name: 'c', labels: { x: 'y' } } }, old)).toEqual([]);
  });
});

describe('printer columns', () => {
  const running = { name: 'app', ready: true, restartCount: 2, state: { running: {} } };

  it.each<{ name: string; pod: Json; ready: string; status: string }>([
    { name: 'a new pod', pod: podOf({ containers: [{ name: 'app', image: 'x' }] }), ready: '0/1', status: 'Pending' },
    {
      name: 'a running pod',
      pod: podOf({ containers: [{ name: 'app', image: 'x' }, { name: 'side', image: 'y' }] }, { status: { phase: 'Running', containerStatuses: [running, { name: 'side', ready: false, state: { running: {} } }] } }),
      ready: '1/2',
      status: 'Running',
    },
    {
      name: 'a deleting pod',
      pod: { ...podOf({ containers: [{ name: 'app', image: 'x' }] }, { status: { phase: 'Running', containerStatuses: [running] } }), metadata: { name: 'web', deletionTimestamp: '2026-01-01T00:00:00Z' } },
      ready: '1/1',
      status: 'Terminating',
    },
    {
      name: 'a crash-looping container',
      pod: podOf({ containers: [{ name: 'app', image: 'x' }] }, { status: { phase: 'Running', containerStatuses: [{ name: 'app', ready: false, restartCount: 5, state: { waiting: { reason: 'CrashLoopBackOff' } } }] } }),
      ready: '0/1',
      status: 'CrashLoopBackOff',
    },
    {
      name: 'a completed container',
      pod: podOf({ containers: [{ name: 'app', image: 'x' }] }, { status: { phase: 'Succeeded', containerStatuses: [{ name: 'app', ready: false, state: { terminated: { reason: 'Completed', exitCode: 0 } } }] } }),
      ready: '0/1',
      status: 'Completed',
    },
    {
      name: 'an init container still running',
      pod: podOf({ initContainers: [{ name: 'init', image: 'x' }], containers: [{ name: 'app', image: 'y' }] }, { status: { phase: 'Pending', initContainerStatuses: [{ name: 'init', state: { running: {} } }], containerStatuses: [{ name: 'app', state: { waiting: { reason: 'PodInitializing' } } }] } }),
      ready: '0/1',
      status: 'Init:0/1',
    },
    {
      name: 'the second of two init containers',
      pod: podOf({ initContainers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'x' }], containers: [{ name: 'app', image: 'y' }] }, { status: { phase: 'Pending', initContainerStatuses: [{ name: 'a', state: { terminated: { exitCode: 0, reason: 'Completed' } } }, { name: 'b', state: { waiting: { reason: 'PodInitializing' } } }] } }),
      ready: '0/1',
      status: 'Init:1/2',
    },
    {
      name: 'an init container failing to pull',
      pod: podOf({ initContainers: [{ name: 'init', image: 'x' }], containers: [{ name: 'app', image: 'y' }] }, { status: { phase: 'Pending', initContainerStatuses: [{ name: 'init', state: { waiting: { reason: 'ImagePullBackOff' } } }] } }),
      ready: '0/1',
      status: 'Init:ImagePullBackOff',
    },
    {
      name: 'an evicted pod (status.reason wins over phase)',
      pod: podOf({ containers: [{ name: 'app', image: 'x' }] }, { status: { phase: 'Failed', reason: 'Evicted' } }),
      ready: '0/1',
      status: 'Evicted',
    },
  ])('pod: $name → READY $ready, STATUS $status', ({ pod, ready, status }) => {
    expect(cell(pods, 'Ready', pod)).toBe(ready);
    expect(cell(pods, 'Status', pod)).toBe(status);
  });

  it('pod RESTARTS sums the containers and the -o wide columns show <none> when unset', () => {
    const pod = podOf({ containers: [{ name: 'app', image: 'x' }, { name: 'b', image: 'y' }] }, { status: { containerStatuses: [running, { ...running, name: 'b', restartCount: 1 }] } });
    expect(cell(pods, 'Restarts', pod)).toBe('3');
    expect(cell(pods, 'IP', pod)).toBe('<none>');
    expect(cell(pods, 'Node', pod)).toBe('<none>');
    expect(cell(pods, 'Node', podOf({ nodeName: 'n1', containers: [] }))).toBe('n1');
  });

  it('pod AGE is computed by the server from creationTimestamp', () => {
    const pod = { ...podOf({ containers: [] }), metadata: { name: 'web', creationTimestamp: '2025-12-31T23:59:15Z' } };
    expect(cell(pods, 'Age', pod)).toBe('45s');
  });

  it.each<{ name: string; node: Json; want: string }>([
    { name: 'ready', node: { status: { conditions: [{ type: 'Ready', status: 'True' }] } }, want: 'Ready' },
    { name: 'not ready', node: { status: { conditions: [{ type: 'Ready', status: 'False' }] } }, want: 'NotReady' },
    { name: 'without a Ready condition', node: { status: {} }, want: 'Unknown' },
    { name: 'cordoned', node: { spec: { unschedulable: true }, status: { conditions: [{ type: 'Ready', status: 'True' }] } }, want: 'Ready,SchedulingDisabled' },
    { name: 'cordoned and not ready', node: { spec: { unschedulable: true }, status: { conditions: [{ type: 'Ready', status: 'Unknown' }] } }, want: 'NotReady,SchedulingDisabled' },
  ])('node STATUS when $name is $want', ({ node, want }) => {
    expect(cell(nodes, 'Status', { metadata: { name: 'n1' }, ...node })).toBe(want);
  });

  it('node ROLES come from node-role.kubernetes.io/* labels', () => {
    expect(cell(nodes, 'Roles', { metadata: { name: 'n1', labels: { 'node-role.kubernetes.io/worker': '', 'node-role.kubernetes.io/control-plane': '', other: 'x' } } })).toBe('control-plane,worker');
    expect(cell(nodes, 'Roles', { metadata: { name: 'n1' } })).toBe('<none>');
  });

  it.each<{ name: string; svc: Json; want: string }>([
    { name: 'a LoadBalancer without an address', svc: { spec: { type: 'LoadBalancer' } }, want: '<pending>' },
    { name: 'a LoadBalancer with addresses', svc: { spec: { type: 'LoadBalancer' }, status: { loadBalancer: { ingress: [{ ip: '1.2.3.4' }, { hostname: 'lb.example.com' }] } } }, want: '1.2.3.4,lb.example.com' },
    { name: 'a ClusterIP service', svc: { spec: { type: 'ClusterIP' } }, want: '<none>' },
  ])('service EXTERNAL-IP for $name is $want', ({ svc, want }) => {
    expect(cell(services, 'External-IP', { metadata: { name: 's' }, ...svc })).toBe(want);
  });

  it('service PORT(S) shows port[:nodePort]/protocol', () => {
    const svc = { metadata: { name: 's' }, spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }] } };
    expect(cell(services, 'Port(s)', svc)).toBe('80:30080/TCP,53/UDP');
    expect(cell(services, 'Cluster-IP', svc)).toBe('<none>');
  });

  it('deployment READY is ready/desired, and missing status reads as 0', () => {
    const d = { metadata: { name: 'd' }, spec: { replicas: 3 }, status: { readyReplicas: 1, updatedReplicas: 2, availableReplicas: 1 } };
    expect(cell(deployments, 'Ready', d)).toBe('1/3');
    expect(cell(deployments, 'Up-to-date', d)).toBe(2);
    expect(cell(deployments, 'Available', d)).toBe(1);
    expect(cell(deployments, 'Ready', { metadata: { name: 'd' }, spec: { replicas: 2 } })).toBe('0/2');
  });
});

describe('Registry', () => {
  const reg = builtinRegistry();

  it('looks resources up by group, version and plural, and by kind', () => {
    expect(reg.lookup('', 'v1', 'pods')).toBe(pods);
    expect(reg.lookup('apps', 'v1', 'deployments')).toBe(deployments);
    expect(reg.lookupKind('apps', 'v1', 'Deployment')).toBe(deployments);
    expect(reg.lookupKind('', 'v1', 'Pod')).toBe(pods);
    // The core group is "", never "core"; a kind is not a resource; group matters.
    expect(reg.lookup('core', 'v1', 'pods')).toBeUndefined();
    expect(reg.lookup('', 'v1', 'Pod')).toBeUndefined();
    expect(reg.lookup('', 'v1', 'deployments')).toBeUndefined();
    expect(reg.lookup('apps', 'v2', 'deployments')).toBeUndefined();
  });

  it('lists groups with the core group first', () => {
    const groups = reg.groups();
    expect(groups[0]).toEqual({ group: '', versions: ['v1'] });
    expect(groups.map((g) => g.group)).toEqual(['', 'apps', 'coordination.k8s.io', 'rbac.authorization.k8s.io', 'authorization.k8s.io']);
    expect(reg.inGroupVersion('apps', 'v1').map((d) => d.resource)).toEqual(['deployments', 'replicasets']);
  });

  it('refuses a resource defined twice', () => {
    expect(() => new Registry([pods, pods])).toThrow(/defined twice/);
  });

  it.each(builtinRegistry().all.map((d) => [qualifiedResource(d), d] as const))('%s has kind, listKind, a lower-case plural and a singular', (_name, d) => {
    expect(d.kind).toMatch(/^[A-Z][A-Za-z]+$/);
    expect(d.listKind).toBe(`${d.kind}List`);
    expect(d.resource).toMatch(/^[a-z]+s$/);
    expect(d.singular).toBe(d.singular.toLowerCase());
    expect(d.singular.length).toBeGreaterThan(0);
    expect(apiVersionOfDef(d)).toBe(d.group === '' ? 'v1' : `${d.group}/v1`);
    for (const v of verbsOf(d)) expect(ALL_VERBS).toContain(v);
    // Every scale subresource needs the accessors that serve it.
    if (d.subresources?.includes('scale')) expect(d.scale).toBeDefined();
  });

  it('defines the short names kubectl users type (kubectl has no built-in fallback)', () => {
    const byShort = new Map<string, string>();
    for (const d of reg.all) for (const s of d.shortNames ?? []) byShort.set(s, d.resource);
    expect(Object.fromEntries(['po', 'svc', 'deploy', 'rs', 'ns', 'no', 'cm', 'sa', 'ev', 'ep'].map((s) => [s, byShort.get(s)]))).toEqual({
      po: 'pods',
      svc: 'services',
      deploy: 'deployments',
      rs: 'replicasets',
      ns: 'namespaces',
      no: 'nodes',
      cm: 'configmaps',
      sa: 'serviceaccounts',
      ev: 'events',
      ep: 'endpoints',
    });
  });

  it('puts pods, services, deployments and replicasets in the "all" category', () => {
    const all = reg.all.filter((d) => d.categories?.includes('all')).map((d) => d.resource).sort();
    expect(all).toEqual(['deployments', 'pods', 'replicasets', 'services']);
  });

  it('serves every verb by default, and only create for the computed SelfSubjectAccessReview', () => {
    expect(verbsOf(pods)).toEqual([...ALL_VERBS]);
    const ssar = reg.lookup('authorization.k8s.io', 'v1', 'selfsubjectaccessreviews');
    expect(ssar && verbsOf(ssar)).toEqual(['create']);
  });

  it('names resources as errors and RBAC do', () => {
    expect(qualifiedResource(pods)).toBe('pods');
    expect(qualifiedResource(deployments)).toBe('deployments.apps');
  });
});

describe('container resources', () => {
  const podWith = (resources: unknown): KubeObject => ({ metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x', resources }] } });
  const causesOf = (resources: unknown): string[] => (pods.validate?.(podWith(resources)) ?? []).map((c) => `${c.field}: ${c.message}`);

  it('accepts quantities as Kubernetes writes them', () => {
    expect(causesOf({ requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: 1, memory: '2Gi' } })).toEqual([]);
  });

  it('names the field of a bad, negative or inconsistent quantity', () => {
    expect(causesOf({ requests: { memory: '1 Gi' } })[0]).toMatch(/^spec\.containers\[0\]\.resources\.requests\[memory\]: Invalid value: "1 Gi": quantities must match/);
    expect(causesOf({ limits: { cpu: '-1' } })[0]).toBe('spec.containers[0].resources.limits[cpu]: Invalid value: "-1": must be greater than or equal to 0');
    expect(causesOf({ requests: { cpu: '2' }, limits: { cpu: '1' } })[0]).toBe('spec.containers[0].resources.requests[cpu]: Invalid value: "2": must be less than or equal to cpu limit of 1');
    expect(causesOf({ requests: ['cpu'] })[0]).toMatch(/resources\.requests: Invalid value/);
  });
});
