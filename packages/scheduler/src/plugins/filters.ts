/**
 * The filters, each deciding one reason a node cannot take a pod. Their messages are the ones
 * `kubectl describe pod` shows Kubernetes users ("Insufficient memory", "node(s) had untolerated
 * taint {key: value}"…), so the aggregated event reads the same.
 */
import { isObject, labelSelectorFromObject, type KubeObject } from '@flotilla/api';
import { podHostPorts, podRequests, type NodeInfo } from '../node-info.js';
import type { Plugin } from './plugin.js';

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (isObject(v) ? v : {});
const list = (v: unknown): Json[] => (Array.isArray(v) ? v.filter(isObject) : []);

export const nodeUnschedulable: Plugin = {
  name: 'NodeUnschedulable',
  filter(pod, n) {
    if (obj(n.node.spec).unschedulable !== true) return undefined;
    const tolerated = list(obj(pod.spec).tolerations).some((t) => t.key === 'node.kubernetes.io/unschedulable' && (t.operator === 'Exists' || t.effect === 'NoSchedule'));
    return tolerated ? undefined : "node(s) were unschedulable";
  },
};

export const nodeReady: Plugin = {
  name: 'NodeReady',
  filter(_pod, n) {
    const ready = list(obj(n.node.status).conditions).find((c) => c.type === 'Ready');
    return ready?.status === 'True' ? undefined : "node(s) were not ready";
  },
};

export const nodeName: Plugin = {
  name: 'NodeName',
  filter(pod, n) {
    const wanted = obj(pod.spec).nodeName;
    return typeof wanted === 'string' && wanted !== '' && wanted !== n.node.metadata.name ? "node(s) didn't match the requested node name" : undefined;
  },
};

/** One nodeSelectorTerm: every matchExpression (on labels) and matchField (on metadata.name) holds. */
function termMatches(term: Json, node: KubeObject): boolean {
  const labels = node.metadata.labels ?? {};
  const exprs = list(term.matchExpressions);
  const fields = list(term.matchFields);
  if (exprs.length === 0 && fields.length === 0) return false; // an empty term matches nothing
  const holds = (e: Json, value: string | undefined): boolean => {
    const values = Array.isArray(e.values) ? (e.values as unknown[]).map(String) : [];
    switch (e.operator) {
      case 'In': return value !== undefined && values.includes(value);
      case 'NotIn': return value === undefined || !values.includes(value);
      case 'Exists': return value !== undefined;
      case 'DoesNotExist': return value === undefined;
      case 'Gt': return value !== undefined && Number(value) > Number(values[0]);
      case 'Lt': return value !== undefined && Number(value) < Number(values[0]);
      default: return false;
    }
  };
  return exprs.every((e) => holds(e, labels[String(e.key)])) && fields.every((f) => holds(f, f.key === 'metadata.name' ? node.metadata.name : undefined));
}

export const nodeAffinity: Plugin = {
  name: 'NodeAffinity',
  filter(pod, n) {
    const spec = obj(pod.spec);
    const labels = n.node.metadata.labels ?? {};
    if (isObject(spec.nodeSelector) && !labelSelectorFromObject({ matchLabels: spec.nodeSelector as Record<string, string> }).matches(labels)) {
      return "node(s) didn't match Pod's node affinity/selector";
    }
    const required = obj(obj(obj(spec.affinity).nodeAffinity).requiredDuringSchedulingIgnoredDuringExecution);
    const terms = list(required.nodeSelectorTerms);
    if (terms.length > 0 && !terms.some((t) => termMatches(t, n.node))) return "node(s) didn't match Pod's node affinity/selector";
    return undefined;
  },
  // Preferred terms: the share of their weight the node satisfies.
  score(pod, n) {
    const preferred = list(obj(obj(obj(pod.spec).affinity).nodeAffinity).preferredDuringSchedulingIgnoredDuringExecution);
    const total = preferred.reduce((s, p) => s + (typeof p.weight === 'number' ? p.weight : 0), 0);
    if (total === 0) return 0;
    const got = preferred.filter((p) => termMatches(obj(p.preference), n.node)).reduce((s, p) => s + (typeof p.weight === 'number' ? p.weight : 0), 0);
    return Math.round((100 * got) / total);
  },
};

function tolerates(tolerations: Json[], taint: Json): boolean {
  return tolerations.some((t) => {
    if (t.effect !== undefined && t.effect !== '' && t.effect !== taint.effect) return false;
    if (t.operator === 'Exists') return t.key === undefined || t.key === '' || t.key === taint.key;
    return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
  });
}

export const taintToleration: Plugin = {
  name: 'TaintToleration',
  filter(pod, n) {
    const tolerations = list(obj(pod.spec).tolerations);
    const blocking = list(obj(n.node.spec).taints).find((t) => (t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !tolerates(tolerations, t));
    return blocking ? `node(s) had untolerated taint {${String(blocking.key)}: ${String(blocking.value ?? '')}}` : undefined;
  },
  // Fewer untolerated PreferNoSchedule taints is better.
  score(pod, n, all) {
    const tolerations = list(obj(pod.spec).tolerations);
    const count = (x: NodeInfo): number => list(obj(x.node.spec).taints).filter((t) => t.effect === 'PreferNoSchedule' && !tolerates(tolerations, t)).length;
    const max = Math.max(0, ...all.map(count));
    return max === 0 ? 100 : Math.round(100 * (1 - count(n) / max));
  },
};

export const nodeResourcesFit: Plugin = {
  name: 'NodeResourcesFit',
  filter(pod, n) {
    const r = podRequests(pod);
    const free = (k: 'milliCPU' | 'memory' | 'pods'): number => n.allocatable[k] - n.requested[k];
    if (free('pods') < 1) return 'Too many pods';
    if (r.milliCPU > free('milliCPU')) return 'Insufficient cpu';
    if (r.memory > free('memory')) return 'Insufficient memory';
    return undefined;
  },
};

export const nodePorts: Plugin = {
  name: 'NodePorts',
  filter(pod, n) {
    for (const hp of podHostPorts(pod)) {
      const [proto, ip, port] = hp.split('/');
      const clash = n.hostPorts.has(hp) || (ip === '0.0.0.0'
        ? [...n.hostPorts].some((u) => u.startsWith(`${proto}/`) && u.endsWith(`/${port}`))
        : n.hostPorts.has(`${proto}/0.0.0.0/${port}`));
      if (clash) return "node(s) didn't have free ports for the requested pod ports";
    }
    return undefined;
  },
};
