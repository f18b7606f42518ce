/**
 * The filters, each deciding one reason a node cannot take a pod. Their messages are the ones
 * `kubectl describe pod` shows Kubernetes users ("Insufficient memory", "node(s) had untolerated
 * taint {key: value}"…), so the aggregated event reads the same.
 */
import type { KubeObject } from '@flotilla/api';
import { podHostPorts, podRequests, type NodeInfo } from '../node-info.js';
import { list, podFacts, tolerates, type Json } from './facts.js';
import type { Plugin } from './plugin.js';
import { fewerIsBetter } from './scores.js';

export const nodeUnschedulable: Plugin = {
  name: 'NodeUnschedulable',
  filter(pod, n) {
    if (!n.facts.unschedulable) return undefined;
    return podFacts(pod).toleratesUnschedulable ? undefined : "node(s) were unschedulable";
  },
};

export const nodeReady: Plugin = {
  name: 'NodeReady',
  filter(_pod, n) {
    return n.facts.ready ? undefined : "node(s) were not ready";
  },
};

export const nodeName: Plugin = {
  name: 'NodeName',
  filterSkips: (pod) => podFacts(pod).nodeName === undefined,
  filter(pod, n) {
    const wanted = podFacts(pod).nodeName;
    return wanted !== undefined && wanted !== n.node.metadata.name ? "node(s) didn't match the requested node name" : undefined;
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
  filterSkips: (pod) => podFacts(pod).nodeSelector === undefined && podFacts(pod).requiredTerms.length === 0,
  scoreSkips: (pod) => podFacts(pod).preferredWeight === 0,
  filter(pod, n) {
    const f = podFacts(pod);
    if (f.nodeSelector) {
      const labels = n.facts.labels;
      for (const [k, v] of f.nodeSelector) if (labels[k] !== v) return "node(s) didn't match Pod's node affinity/selector";
    }
    if (f.requiredTerms.length > 0 && !f.requiredTerms.some((t) => termMatches(t, n.node))) return "node(s) didn't match Pod's node affinity/selector";
    return undefined;
  },
  // Preferred terms: the share of their weight the node satisfies.
  score(pod, n) {
    const f = podFacts(pod);
    if (f.preferredWeight === 0) return 0;
    const got = f.preferred.filter((p) => termMatches(p.preference, n.node)).reduce((s, p) => s + p.weight, 0);
    return Math.round((100 * got) / f.preferredWeight);
  },
  scoreAll(pod, all) {
    if (podFacts(pod).preferredWeight === 0) return all.map(() => 0);
    return all.map((n) => nodeAffinity.score!(pod, n, all));
  },
};

export const taintToleration: Plugin = {
  name: 'TaintToleration',
  filter(pod, n) {
    const taints = n.facts.hardTaints;
    if (taints.length === 0) return undefined;
    const tolerations = podFacts(pod).tolerations;
    const blocking = taints.find((t) => !tolerates(tolerations, t));
    return blocking ? `node(s) had untolerated taint {${String(blocking.key)}: ${String(blocking.value ?? '')}}` : undefined;
  },
  // Fewer untolerated PreferNoSchedule taints is better.
  score(pod, n, all) {
    const tolerations = podFacts(pod).tolerations;
    const max = Math.max(0, ...all.map((x) => preferNoScheduleCount(tolerations, x)));
    return max === 0 ? 100 : Math.round(100 * (1 - preferNoScheduleCount(tolerations, n) / max));
  },
  scoreAll(pod, all) {
    const tolerations = podFacts(pod).tolerations;
    return fewerIsBetter(all.map((x) => preferNoScheduleCount(tolerations, x)));
  },
};

function preferNoScheduleCount(tolerations: Json[], n: NodeInfo): number {
  const taints = n.facts.preferNoScheduleTaints;
  if (taints.length === 0) return 0;
  let count = 0;
  for (const t of taints) if (!tolerates(tolerations, t)) count++;
  return count;
}

export const nodeResourcesFit: Plugin = {
  name: 'NodeResourcesFit',
  filter(pod, n) {
    const r = podRequests(pod);
    const { allocatable: a, requested: used } = n;
    if (a.pods - used.pods < 1) return 'Too many pods';
    if (r.milliCPU > a.milliCPU - used.milliCPU) return 'Insufficient cpu';
    if (r.memory > a.memory - used.memory) return 'Insufficient memory';
    return undefined;
  },
};

export const nodePorts: Plugin = {
  name: 'NodePorts',
  filterSkips: (pod) => podHostPorts(pod).length === 0,
  filter(pod, n) {
    const wanted = podHostPorts(pod);
    if (wanted.length === 0) return undefined;
    for (const hp of wanted) {
      const [proto, ip, port] = hp.split('/');
      const clash = n.hostPorts.has(hp) || (ip === '0.0.0.0'
        ? [...n.hostPorts].some((u) => u.startsWith(`${proto}/`) && u.endsWith(`/${port}`))
        : n.hostPorts.has(`${proto}/0.0.0.0/${port}`));
      if (clash) return "node(s) didn't have free ports for the requested pod ports";
    }
    return undefined;
  },
};
