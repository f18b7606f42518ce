/**
 * What the plugins read of a pod and of a node, taken out of the objects once per object (a
 * WeakMap, forgotten with the object) instead of once per (pod, node) pair: a decision looks at
 * hundreds of nodes for one pod, and a node at thousands of pods. Objects from informers are
 * immutable values, so a new version of a pod or node is a new object and gets its own facts.
 */
import { isObject, type KubeObject } from '@flotilla/api';

export type Json = Record<string, unknown>;
export const obj = (v: unknown): Json => (isObject(v) ? v : {});
export const list = (v: unknown): Json[] => (Array.isArray(v) ? v.filter(isObject) : []);

export interface PodFacts {
  tolerations: Json[];
  /** spec.nodeName when set. */
  nodeName?: string;
  /** spec.nodeSelector as [key, value] pairs, every one of which a node's labels must have. */
  nodeSelector?: [string, string][];
  /** requiredDuringScheduling…nodeSelectorTerms: one must match (none: no constraint). */
  requiredTerms: Json[];
  /** preferredDuringScheduling… terms with their weights, and the weights' sum. */
  preferred: { weight: number; preference: Json }[];
  preferredWeight: number;
  toleratesUnschedulable: boolean;
}

export interface NodeFacts {
  ready: boolean;
  unschedulable: boolean;
  labels: Record<string, string>;
  /** Taints that keep pods off (NoSchedule, NoExecute). */
  hardTaints: Json[];
  preferNoScheduleTaints: Json[];
}

/**
 * `compute` remembered per object: a WeakMap, with the object asked about last in front of it
 * (a decision asks about the same pod once per node, hundreds of times in a row).
 */
export function memoPerObject<T>(compute: (o: KubeObject) => T): (o: KubeObject) => T {
  const memo = new WeakMap<KubeObject, T>();
  let lastKey: KubeObject | undefined;
  let lastValue: T | undefined;
  return (o) => {
    if (o === lastKey) return lastValue as T;
    let v = memo.get(o);
    if (v === undefined) {
      v = compute(o);
      memo.set(o, v);
    }
    lastKey = o;
    lastValue = v;
    return v;
  };
}

export const podFacts: (pod: KubeObject) => PodFacts = memoPerObject((pod) => {
  const spec = obj(pod.spec);
  const tolerations = list(spec.tolerations);
  const nodeAffinity = obj(obj(spec.affinity).nodeAffinity);
  const preferred = list(nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution)
    .map((p) => ({ weight: typeof p.weight === 'number' ? p.weight : 0, preference: obj(p.preference) }));
  return {
    tolerations,
    nodeName: typeof spec.nodeName === 'string' && spec.nodeName !== '' ? spec.nodeName : undefined,
    nodeSelector: isObject(spec.nodeSelector) ? Object.entries(spec.nodeSelector).map(([k, v]) => [k, String(v)]) : undefined,
    requiredTerms: list(obj(nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution).nodeSelectorTerms),
    preferred,
    preferredWeight: preferred.reduce((s, p) => s + p.weight, 0),
    toleratesUnschedulable: tolerations.some((t) => t.key === 'node.kubernetes.io/unschedulable' && (t.operator === 'Exists' || t.effect === 'NoSchedule')),
  };
});

export const nodeFacts: (node: KubeObject) => NodeFacts = memoPerObject((node) => {
  const spec = obj(node.spec);
  const taints = list(spec.taints);
  return {
    ready: list(obj(node.status).conditions).find((c) => c.type === 'Ready')?.status === 'True',
    unschedulable: spec.unschedulable === true,
    labels: node.metadata.labels ?? {},
    hardTaints: taints.filter((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute'),
    preferNoScheduleTaints: taints.filter((t) => t.effect === 'PreferNoSchedule'),
  };
});

/** Whether any of `tolerations` tolerates `taint` (key/value/effect, operators Equal and Exists). */
export function tolerates(tolerations: Json[], taint: Json): boolean {
  return tolerations.some((t) => {
    if (t.effect !== undefined && t.effect !== '' && t.effect !== taint.effect) return false;
    if (t.operator === 'Exists') return t.key === undefined || t.key === '' || t.key === taint.key;
    return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
  });
}
