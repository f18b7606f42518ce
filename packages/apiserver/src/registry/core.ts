/**
 * core/v1 resources. Each entry is the whole of what the generic handlers need to serve a kind.
 */
import { fieldError, type KubeObject, type StatusCause } from '@flotilla/api';
import { ageOf, arr, at, ensure, num, objects, setDefault, spec, str, type Json } from './fields.js';
import type { ResourceDef } from './types.js';
import { validatePodSpec, defaultPodSpec } from './pod-spec.js';
import { nodePatchSchema, podPatchSchema, servicePatchSchema } from '../patch/index.js';

const keysOf = (v: unknown): number => (v && typeof v === 'object' ? Object.keys(v).length : 0);

export const namespaces: ResourceDef = {
  group: '', version: 'v1', kind: 'Namespace', listKind: 'NamespaceList', resource: 'namespaces', singular: 'namespace',
  namespaced: false, shortNames: ['ns'], subresources: ['status', 'finalize'], nameRule: 'label', finalizersInSpec: true,
  defaults(obj) {
    // The finalizer that the namespace controller clears once the namespace's contents are gone.
    const s = spec(obj);
    if (!Array.isArray(s.finalizers)) s.finalizers = ['kubernetes'];
    setDefault(ensure(obj as unknown as Json, 'status'), 'phase', 'Active');
  },
  selectableFields: { 'status.phase': (o) => str(at(o, 'status', 'phase')) },
  columns: [{ name: 'Status', type: 'string', cell: (o) => str(at(o, 'status', 'phase')) ?? '' }],
};

export const pods: ResourceDef = {
  group: '', version: 'v1', kind: 'Pod', listKind: 'PodList', resource: 'pods', singular: 'pod', namespaced: true,
  shortNames: ['po'], categories: ['all'], subresources: ['status', 'binding', 'log'], patchSchema: podPatchSchema,
  specFields: [], // pods have no generation bumps in practice; spec is mostly immutable
  defaults(obj) {
    defaultPodSpec(spec(obj));
    setDefault(ensure(obj as unknown as Json, 'status'), 'phase', 'Pending');
  },
  validate(obj) {
    return validatePodSpec(spec(obj), 'spec');
  },
  validateUpdate(obj, old) {
    // Only a few pod spec fields may change after creation (images, activeDeadlineSeconds,
    // tolerations additions); the rest is fixed once the kubelet may have started it.
    const causes: StatusCause[] = [];
    const a = { ...(obj.spec as Json) };
    const b = { ...(old.spec as Json) };
    for (const o of [a, b]) {
      delete o.activeDeadlineSeconds;
      delete o.tolerations;
      o.containers = objects(o.containers).map((c) => ({ ...c, image: undefined }));
      o.initContainers = objects(o.initContainers).map((c) => ({ ...c, image: undefined }));
    }
    if (str(b.nodeName) && str(a.nodeName) !== str(b.nodeName)) causes.push(fieldError.immutable('spec.nodeName'));
    delete a.nodeName;
    delete b.nodeName;
    if (JSON.stringify(a) !== JSON.stringify(b)) {
      causes.push(fieldError.forbidden('spec', 'pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, `spec.activeDeadlineSeconds` or `spec.tolerations` (only additions to existing tolerations)'));
    }
    return causes;
  },
  selectableFields: {
    'spec.nodeName': (o) => str(at(o, 'spec', 'nodeName')) ?? '',
    'spec.restartPolicy': (o) => str(at(o, 'spec', 'restartPolicy')),
    'spec.schedulerName': (o) => str(at(o, 'spec', 'schedulerName')),
    'spec.serviceAccountName': (o) => str(at(o, 'spec', 'serviceAccountName')),
    'status.phase': (o) => str(at(o, 'status', 'phase')),
    'status.podIP': (o) => str(at(o, 'status', 'podIP')),
    'status.nominatedNodeName': (o) => str(at(o, 'status', 'nominatedNodeName')),
  },
  columns: [
    { name: 'Ready', type: 'string', cell: (o) => podReady(o) },
    { name: 'Status', type: 'string', cell: (o) => podStatusText(o) },
    { name: 'Restarts', type: 'string', cell: (o) => String(objects(at(o, 'status', 'containerStatuses')).reduce((n, c) => n + (num(c.restartCount) ?? 0), 0)) },
    { name: 'Age', type: 'string', cell: (o, now) => ageOf(o, now) },
    { name: 'IP', type: 'string', priority: 1, cell: (o) => str(at(o, 'status', 'podIP')) ?? '<none>' },
    { name: 'Node', type: 'string', priority: 1, cell: (o) => str(at(o, 'spec', 'nodeName')) ?? '<none>' },
    { name: 'Nominated Node', type: 'string', priority: 1, cell: (o) => str(at(o, 'status', 'nominatedNodeName')) ?? '<none>' },
    { name: 'Readiness Gates', type: 'string', priority: 1, cell: (o) => (arr(at(o, 'spec', 'readinessGates')).length === 0 ? '<none>' : String(arr(at(o, 'spec', 'readinessGates')).length)) },
  ],
};

function podReady(o: KubeObject): string {
  const total = objects(at(o, 'spec', 'containers')).length;
  const ready = objects(at(o, 'status', 'containerStatuses')).filter((c) => c.ready === true).length;
  return `${ready}/${total}`;
}

/** The STATUS column: the most telling reason, as `kubectl get pods` shows it. */
function podStatusText(o: KubeObject): string {
  if (o.metadata.deletionTimestamp) return 'Terminating';
  let text = str(at(o, 'status', 'reason')) ?? str(at(o, 'status', 'phase')) ?? 'Pending';
  for (const [i, c] of objects(at(o, 'status', 'initContainerStatuses')).entries()) {
    const term = at(c, 'state', 'terminated');
    if (term && num(at(term, 'exitCode')) === 0) continue;
    const waiting = str(at(c, 'state', 'waiting', 'reason'));
    if (waiting && waiting !== 'PodInitializing') return `Init:${waiting}`;
    return `Init:${i}/${objects(at(o, 'spec', 'initContainers')).length}`;
  }
  for (const c of objects(at(o, 'status', 'containerStatuses'))) {
    const waiting = str(at(c, 'state', 'waiting', 'reason'));
    const terminated = str(at(c, 'state', 'terminated', 'reason'));
    if (waiting) text = waiting;
    else if (terminated) text = terminated;
  }
  return text;
}

export const services: ResourceDef = {
  group: '', version: 'v1', kind: 'Service', listKind: 'ServiceList', resource: 'services', singular: 'service', namespaced: true,
  shortNames: ['svc'], categories: ['all'], subresources: ['status'], nameRule: 'label1035', patchSchema: servicePatchSchema,
  defaults(obj) {
    const s = spec(obj);
    setDefault(s, 'type', 'ClusterIP');
    setDefault(s, 'sessionAffinity', 'None');
    for (const p of objects(s.ports)) {
      setDefault(p, 'protocol', 'TCP');
      setDefault(p, 'targetPort', p.port);
    }
  },
  validate(obj) {
    const causes: StatusCause[] = [];
    const s = spec(obj);
    const types = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];
    if (!types.includes(String(s.type))) causes.push(fieldError.notSupported('spec.type', s.type, types));
    const ports = objects(s.ports);
    if (ports.length === 0 && s.type !== 'ExternalName' && s.clusterIP !== 'None') causes.push(fieldError.required('spec.ports'));
    for (const [i, p] of ports.entries()) {
      const port = p.port;
      if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
        causes.push(fieldError.invalid(`spec.ports[${i}].port`, port, 'must be between 1 and 65535, inclusive'));
      }
      if (ports.length > 1 && !str(p.name)) causes.push(fieldError.required(`spec.ports[${i}].name`));
      if (!['TCP', 'UDP', 'SCTP'].includes(String(p.protocol))) causes.push(fieldError.notSupported(`spec.ports[${i}].protocol`, p.protocol, ['TCP', 'UDP', 'SCTP']));
    }
    return causes;
  },
  validateUpdate(obj, old) {
    const was = str(at(old, 'spec', 'clusterIP'));
    const now = str(at(obj, 'spec', 'clusterIP'));
    return was && now !== undefined && now !== was ? [fieldError.immutable('spec.clusterIP')] : [];
  },
  columns: [
    { name: 'Type', type: 'string', cell: (o) => str(at(o, 'spec', 'type')) ?? '' },
    { name: 'Cluster-IP', type: 'string', cell: (o) => str(at(o, 'spec', 'clusterIP')) ?? '<none>' },
    {
      name: 'External-IP', type: 'string',
      cell: (o) => {
        const ips = objects(at(o, 'status', 'loadBalancer', 'ingress')).map((i) => str(i.ip) ?? str(i.hostname)).filter(Boolean);
        if (ips.length > 0) return ips.join(',');
        return str(at(o, 'spec', 'type')) === 'LoadBalancer' ? '<pending>' : '<none>';
      },
    },
    {
      name: 'Port(s)', type: 'string',
      cell: (o) => {
        const ports = objects(at(o, 'spec', 'ports')).map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`);
        return ports.length > 0 ? ports.join(',') : '<none>';
      },
    },
    { name: 'Age', type: 'string', cell: (o, now) => ageOf(o, now) },
    { name: 'Selector', type: 'string', priority: 1, cell: (o) => Object.entries((at(o, 'spec', 'selector') ?? {}) as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(',') || '<none>' },
  ],
};

export const endpoints: ResourceDef = {
  group: '', version: 'v1', kind: 'Endpoints', listKind: 'EndpointsList', resource: 'endpoints', singular: 'endpoints', namespaced: true,
  shortNames: ['ep'],
  columns: [
    {
      name: 'Endpoints', type: 'string',
      cell: (o) => {
        const out: string[] = [];
        for (const s of objects(o.subsets)) for (const a of objects(s.addresses)) for (const p of objects(s.ports)) out.push(`${a.ip}:${p.port}`);
        return out.length === 0 ? '<none>' : out.slice(0, 3).join(',') + (out.length > 3 ? ` + ${out.length - 3} more...` : '');
      },
    },
  ],
};

export const configmaps: ResourceDef = {
  group: '', version: 'v1', kind: 'ConfigMap', listKind: 'ConfigMapList', resource: 'configmaps', singular: 'configmap', namespaced: true,
  shortNames: ['cm'],
  validate(obj) {
    const causes: StatusCause[] = [];
    for (const field of ['data', 'binaryData'] as const) {
      const v = obj[field];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'object' || Array.isArray(v)) causes.push(fieldError.invalid(field, v, 'must be a map of strings'));
      else for (const [k, x] of Object.entries(v)) if (typeof x !== 'string') causes.push(fieldError.invalid(`${field}[${k}]`, x, 'must be a string'));
    }
    return causes;
  },
  validateUpdate(obj, old) {
    return old.immutable === true && (JSON.stringify(obj.data) !== JSON.stringify(old.data) || JSON.stringify(obj.binaryData) !== JSON.stringify(old.binaryData))
      ? [fieldError.forbidden('data', 'field is immutable when `immutable` is set')]
      : [];
  },
  columns: [{ name: 'Data', type: 'integer', cell: (o) => keysOf(o.data) + keysOf(o.binaryData) }],
};

export const secrets: ResourceDef = {
  group: '', version: 'v1', kind: 'Secret', listKind: 'SecretList', resource: 'secrets', singular: 'secret', namespaced: true,
  defaults(obj) {
    const o = obj as unknown as Json;
    setDefault(o, 'type', 'Opaque');
    // stringData is a write-only convenience: merged into data (base64) and never stored.
    const sd = o.stringData;
    if (sd && typeof sd === 'object') {
      const data = ensure(o, 'data');
      for (const [k, v] of Object.entries(sd)) if (typeof v === 'string') data[k] = Buffer.from(v, 'utf8').toString('base64');
      delete o.stringData;
    }
  },
  validate(obj) {
    const causes: StatusCause[] = [];
    const data = obj.data;
    if (data !== undefined && data !== null) {
      if (typeof data !== 'object' || Array.isArray(data)) causes.push(fieldError.invalid('data', '<redacted>', 'must be a map of base64 strings'));
      else {
        for (const [k, v] of Object.entries(data)) {
          if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) causes.push(fieldError.invalid(`data[${k}]`, '<redacted>', 'must be base64-encoded'));
        }
      }
    }
    return causes;
  },
  selectableFields: { type: (o) => str(o.type) },
  columns: [
    { name: 'Type', type: 'string', cell: (o) => str(o.type) ?? '' },
    { name: 'Data', type: 'integer', cell: (o) => keysOf(o.data) },
  ],
};

export const serviceaccounts: ResourceDef = {
  group: '', version: 'v1', kind: 'ServiceAccount', listKind: 'ServiceAccountList', resource: 'serviceaccounts', singular: 'serviceaccount',
  namespaced: true, shortNames: ['sa'], subresources: ['token'],
  columns: [{ name: 'Secrets', type: 'integer', cell: (o) => arr(o.secrets).length }],
};

export const events: ResourceDef = {
  group: '', version: 'v1', kind: 'Event', listKind: 'EventList', resource: 'events', singular: 'event', namespaced: true,
  shortNames: ['ev'], nameRule: 'any', ageColumn: false,
  validate(obj) {
    const causes: StatusCause[] = [];
    if (!str(at(obj, 'involvedObject', 'name')) && !str(at(obj, 'involvedObject', 'kind'))) causes.push(fieldError.required('involvedObject'));
    return causes;
  },
  selectableFields: {
    'involvedObject.kind': (o) => str(at(o, 'involvedObject', 'kind')),
    'involvedObject.namespace': (o) => str(at(o, 'involvedObject', 'namespace')),
    'involvedObject.name': (o) => str(at(o, 'involvedObject', 'name')),
    'involvedObject.uid': (o) => str(at(o, 'involvedObject', 'uid')),
    'involvedObject.apiVersion': (o) => str(at(o, 'involvedObject', 'apiVersion')),
    'involvedObject.resourceVersion': (o) => str(at(o, 'involvedObject', 'resourceVersion')),
    'involvedObject.fieldPath': (o) => str(at(o, 'involvedObject', 'fieldPath')),
    reason: (o) => str(o.reason),
    type: (o) => str(o.type),
    source: (o) => str(at(o, 'source', 'component')),
  },
  columns: [
    { name: 'Last Seen', type: 'string', cell: (o, now) => lastSeen(o, now) },
    { name: 'Type', type: 'string', cell: (o) => str(o.type) ?? '' },
    { name: 'Reason', type: 'string', cell: (o) => str(o.reason) ?? '' },
    { name: 'Object', type: 'string', cell: (o) => `${String(str(at(o, 'involvedObject', 'kind')) ?? '').toLowerCase()}/${str(at(o, 'involvedObject', 'name')) ?? ''}` },
    { name: 'Message', type: 'string', cell: (o) => str(o.message) ?? '' },
  ],
};

function lastSeen(o: KubeObject, now: number): string {
  const t = str(o.lastTimestamp) ?? str(o.eventTime) ?? o.metadata.creationTimestamp;
  return t ? ageOf({ metadata: { creationTimestamp: t } }, now) : '<unknown>';
}

export const nodes: ResourceDef = {
  group: '', version: 'v1', kind: 'Node', listKind: 'NodeList', resource: 'nodes', singular: 'node', namespaced: false,
  shortNames: ['no'], subresources: ['status'], patchSchema: nodePatchSchema,
  selectableFields: { 'spec.unschedulable': (o) => String(at(o, 'spec', 'unschedulable') === true) },
  columns: [
    {
      name: 'Status', type: 'string',
      cell: (o) => {
        const ready = objects(at(o, 'status', 'conditions')).find((c) => c.type === 'Ready');
        const base = !ready ? 'Unknown' : ready.status === 'True' ? 'Ready' : 'NotReady';
        return at(o, 'spec', 'unschedulable') === true ? `${base},SchedulingDisabled` : base;
      },
    },
    {
      name: 'Roles', type: 'string',
      cell: (o) => {
        const roles = Object.keys(o.metadata.labels ?? {}).filter((k) => k.startsWith('node-role.kubernetes.io/')).map((k) => k.slice('node-role.kubernetes.io/'.length));
        return roles.length > 0 ? roles.sort().join(',') : '<none>';
      },
    },
    { name: 'Age', type: 'string', cell: (o, now) => ageOf(o, now) },
    { name: 'Version', type: 'string', cell: (o) => str(at(o, 'status', 'nodeInfo', 'kubeletVersion')) ?? '' },
    { name: 'Internal-IP', type: 'string', priority: 1, cell: (o) => str(objects(at(o, 'status', 'addresses')).find((a) => a.type === 'InternalIP')?.address) ?? '<none>' },
    { name: 'External-IP', type: 'string', priority: 1, cell: (o) => str(objects(at(o, 'status', 'addresses')).find((a) => a.type === 'ExternalIP')?.address) ?? '<none>' },
    { name: 'OS-Image', type: 'string', priority: 1, cell: (o) => str(at(o, 'status', 'nodeInfo', 'osImage')) ?? '<unknown>' },
    { name: 'Kernel-Version', type: 'string', priority: 1, cell: (o) => str(at(o, 'status', 'nodeInfo', 'kernelVersion')) ?? '<unknown>' },
    { name: 'Container-Runtime', type: 'string', priority: 1, cell: (o) => str(at(o, 'status', 'nodeInfo', 'containerRuntimeVersion')) ?? '<unknown>' },
  ],
};

export const coreResources: ResourceDef[] = [namespaces, pods, services, endpoints, configmaps, secrets, serviceaccounts, events, nodes];
