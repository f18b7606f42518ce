/**
 * What the scheduler knows of a node: its allocatable resources, and the pods placed on it
 * (bound, or assumed by this scheduler before the bind is seen back) with what they request.
 * Quantities are integers: milli-CPU, bytes, pod count.
 *
 * Pods are treated as immutable values (informer caches share their objects and never modify
 * them), so what a pod requests is worked out once per pod object and remembered (a WeakMap,
 * which forgets with the object): a scheduling cycle asks for it once per node it looks at.
 */
import { isObject, parseQuantity, type KubeObject } from '@flotilla/api';
import { memoPerObject, nodeFacts, type NodeFacts } from './plugins/facts.js';

export interface Resources {
  milliCPU: number;
  memory: number;
  pods: number;
}

export const ZERO: Resources = { milliCPU: 0, memory: 0, pods: 0 };

export interface NodeInfo {
  node: KubeObject;
  /** What the plugins read of `node`. Invariant: nodeFacts(node) (newNodeInfo and setNode keep it so). */
  facts: NodeFacts;
  allocatable: Resources;
  /** Invariant: the sum of podRequests over `pods`. */
  requested: Resources;
  pods: KubeObject[];
  /** "protocol/hostIP/port" of every host port in use. Invariant: the union over `pods`. */
  hostPorts: Set<string>;
  /** Pods per controller ("namespace/Kind/uid" of the controller owner reference). Invariant: counted over `pods`. */
  owners: Map<string, number>;
}

/** Parsed quantities by their text: a cluster uses few distinct ones ("100m", "128Mi"), parsed once each. Bounded: cleared when full. */
const quantityMemo = new Map<string, { milli: number; value: number }>();
const QUANTITY_MEMO_MAX = 4096;

function quantity(v: unknown, milli: boolean): number {
  if (typeof v !== 'string' && typeof v !== 'number') return 0;
  const text = String(v);
  let q = quantityMemo.get(text);
  if (!q) {
    try {
      const parsed = parseQuantity(v);
      q = { milli: parsed.milli, value: parsed.value };
    } catch {
      q = { milli: 0, value: 0 };
    }
    if (quantityMemo.size >= QUANTITY_MEMO_MAX) quantityMemo.clear();
    quantityMemo.set(text, q);
  }
  return milli ? q.milli : q.value;
}

function containers(pod: KubeObject, field: 'containers' | 'initContainers'): Record<string, unknown>[] {
  const spec = isObject(pod.spec) ? pod.spec : {};
  const list = spec[field];
  return Array.isArray(list) ? list.filter(isObject) : [];
}

/**
 * A pod's effective request: the sum over its containers, or the largest init container's if
 * that is more (init containers run one at a time, before the others), as Kubernetes counts it.
 * Remembered per pod object; the result is shared, never modify it.
 */
export const podRequests: (pod: KubeObject) => Resources = memoPerObject(computePodRequests);

function computePodRequests(pod: KubeObject): Resources {
  const of = (c: Record<string, unknown>): { milliCPU: number; memory: number } => {
    const req = isObject(c.resources) && isObject(c.resources.requests) ? c.resources.requests : {};
    return { milliCPU: quantity(req.cpu, true), memory: quantity(req.memory, false) };
  };
  const sum = containers(pod, 'containers').map(of).reduce((a, b) => ({ milliCPU: a.milliCPU + b.milliCPU, memory: a.memory + b.memory }), { milliCPU: 0, memory: 0 });
  for (const init of containers(pod, 'initContainers').map(of)) {
    sum.milliCPU = Math.max(sum.milliCPU, init.milliCPU);
    sum.memory = Math.max(sum.memory, init.memory);
  }
  return { ...sum, pods: 1 };
}

/** Host ports a pod needs, as "protocol/hostIP/port" (hostIP "0.0.0.0" when unset). Remembered per pod object; shared, never modify it. */
export const podHostPorts: (pod: KubeObject) => string[] = memoPerObject(computeHostPorts);

function computeHostPorts(pod: KubeObject): string[] {
  const out: string[] = [];
  for (const c of containers(pod, 'containers')) {
    for (const p of Array.isArray(c.ports) ? c.ports.filter(isObject) : []) {
      if (typeof p.hostPort === 'number' && p.hostPort > 0) out.push(`${typeof p.protocol === 'string' ? p.protocol : 'TCP'}/${typeof p.hostIP === 'string' && p.hostIP ? p.hostIP : '0.0.0.0'}/${p.hostPort}`);
    }
  }
  return out;
}

export function nodeAllocatable(node: KubeObject): Resources {
  const status = isObject(node.status) ? node.status : {};
  const alloc = isObject(status.allocatable) ? status.allocatable : isObject(status.capacity) ? status.capacity : {};
  return { milliCPU: quantity(alloc.cpu, true), memory: quantity(alloc.memory, false), pods: quantity(alloc.pods, false) };
}

/** The controller owning a pod, as "namespace/Kind/uid" (what SelectorSpread counts), or undefined. */
export function podController(pod: KubeObject): string | undefined {
  const ref = (pod.metadata.ownerReferences ?? []).find((r) => r.controller === true);
  return ref ? `${pod.metadata.namespace ?? ''}/${ref.kind}/${ref.uid}` : undefined;
}

export function newNodeInfo(node: KubeObject, pods: KubeObject[] = []): NodeInfo {
  const info: NodeInfo = { node, facts: nodeFacts(node), allocatable: nodeAllocatable(node), requested: { ...ZERO }, pods: [], hostPorts: new Set(), owners: new Map() };
  for (const p of pods) addPod(info, p);
  return info;
}

/** A new version of the node object (labels, taints, status): the pods placed on it stay. */
export function setNode(info: NodeInfo, node: KubeObject): void {
  info.node = node;
  info.facts = nodeFacts(node);
  info.allocatable = nodeAllocatable(node);
}

/** Counts a pod against the node (placing or assuming it). */
export function addPod(info: NodeInfo, pod: KubeObject): void {
  const r = podRequests(pod);
  info.requested = { milliCPU: info.requested.milliCPU + r.milliCPU, memory: info.requested.memory + r.memory, pods: info.requested.pods + 1 };
  info.pods.push(pod);
  for (const hp of podHostPorts(pod)) info.hostPorts.add(hp);
  const owner = podController(pod);
  if (owner !== undefined) info.owners.set(owner, (info.owners.get(owner) ?? 0) + 1);
}

/**
 * Stops counting a pod against the node: the one placed with the same namespace and name (it may
 * be another version of the object, e.g. the assumed one when the bound one arrives). Returns
 * whether it was there.
 */
export function removePod(info: NodeInfo, pod: KubeObject): boolean {
  const { namespace, name } = pod.metadata;
  const at = info.pods.findIndex((p) => p.metadata.name === name && p.metadata.namespace === namespace);
  if (at < 0) return false;
  const placed = info.pods[at];
  info.pods.splice(at, 1);
  const r = podRequests(placed);
  info.requested = { milliCPU: info.requested.milliCPU - r.milliCPU, memory: info.requested.memory - r.memory, pods: info.requested.pods - 1 };
  if (podHostPorts(placed).length > 0) {
    info.hostPorts = new Set(info.pods.flatMap((p) => podHostPorts(p)));
  }
  const owner = podController(placed);
  if (owner !== undefined) {
    const left = (info.owners.get(owner) ?? 1) - 1;
    if (left > 0) info.owners.set(owner, left);
    else info.owners.delete(owner);
  }
  return true;
}

export function nodeName(info: NodeInfo): string {
  return info.node.metadata.name ?? '';
}
