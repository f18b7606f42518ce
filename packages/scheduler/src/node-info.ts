/**
 * What the scheduler knows of a node: its allocatable resources, and the pods placed on it
 * (bound, or assumed by this scheduler before the bind is seen back) with what they request.
 * Quantities are integers: milli-CPU, bytes, pod count.
 */
import { isObject, parseQuantity, type KubeObject } from '@flotilla/api';

export interface Resources {
  milliCPU: number;
  memory: number;
  pods: number;
}

export const ZERO: Resources = { milliCPU: 0, memory: 0, pods: 0 };

export interface NodeInfo {
  node: KubeObject;
  allocatable: Resources;
  requested: Resources;
  pods: KubeObject[];
  /** "protocol/hostIP/port" of every host port in use. */
  hostPorts: Set<string>;
}

function quantity(v: unknown, milli: boolean): number {
  if (typeof v !== 'string' && typeof v !== 'number') return 0;
  try {
    const q = parseQuantity(v);
    return milli ? q.milli : q.value;
  } catch {
    return 0;
  }
}

function containers(pod: KubeObject, field: 'containers' | 'initContainers'): Record<string, unknown>[] {
  const spec = isObject(pod.spec) ? pod.spec : {};
  const list = spec[field];
  return Array.isArray(list) ? list.filter(isObject) : [];
}

/**
 * A pod's effective request: the sum over its containers, or the largest init container's if
 * that is more (init containers run one at a time, before the others), as Kubernetes counts it.
 */
export function podRequests(pod: KubeObject): Resources {
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

/** Host ports a pod needs, as "protocol/hostIP/port" (hostIP "0.0.0.0" when unset). */
export function podHostPorts(pod: KubeObject): string[] {
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

export function newNodeInfo(node: KubeObject, pods: KubeObject[] = []): NodeInfo {
  const info: NodeInfo = { node, allocatable: nodeAllocatable(node), requested: { ...ZERO }, pods: [], hostPorts: new Set() };
  for (const p of pods) addPod(info, p);
  return info;
}

/** Counts a pod against the node (placing or assuming it). */
export function addPod(info: NodeInfo, pod: KubeObject): void {
  const r = podRequests(pod);
  info.requested = { milliCPU: info.requested.milliCPU + r.milliCPU, memory: info.requested.memory + r.memory, pods: info.requested.pods + 1 };
  info.pods.push(pod);
  for (const hp of podHostPorts(pod)) info.hostPorts.add(hp);
}

export function nodeName(info: NodeInfo): string {
  return info.node.metadata.name ?? '';
}
