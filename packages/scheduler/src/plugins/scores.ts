/**
 * The scores: how good a feasible node is for a pod, 0..100 each. A pod that requests nothing
 * is counted as a small default request, as Kubernetes does, so that such pods still spread.
 */
import type { KubeObject } from '@flotilla/api';
import { podController, podRequests, type NodeInfo } from '../node-info.js';
import type { Plugin } from './plugin.js';

/** Kubernetes' non-zero defaults for scoring only: 0.1 CPU, 200 MiB. */
const DEFAULT_MILLI_CPU = 100;
const DEFAULT_MEMORY = 200 * 1024 * 1024;

function scoringRequest(pod: KubeObject): { milliCPU: number; memory: number } {
  const r = podRequests(pod);
  return { milliCPU: r.milliCPU || DEFAULT_MILLI_CPU, memory: r.memory || DEFAULT_MEMORY };
}

/** The fractions of CPU and memory that would be in use with the pod placed. */
function usedAfter(pod: KubeObject, n: NodeInfo, r = scoringRequest(pod)): { cpu: number; memory: number } {
  const cpu = n.allocatable.milliCPU > 0 ? (n.requested.milliCPU + r.milliCPU) / n.allocatable.milliCPU : 1;
  const memory = n.allocatable.memory > 0 ? (n.requested.memory + r.memory) / n.allocatable.memory : 1;
  return { cpu: Math.min(1, cpu), memory: Math.min(1, memory) };
}

/** Prefers the node with the most left free (the seed's example: a 3 GB pod goes to the node with 6 GB free, not 2 or 4). */
export const leastAllocated: Plugin = {
  name: 'NodeResourcesLeastAllocated',
  score(pod, n) {
    return leastAllocatedScore(usedAfter(pod, n));
  },
  scoreAll(pod, all) {
    const r = scoringRequest(pod);
    return all.map((n) => leastAllocatedScore(usedAfter(pod, n, r)));
  },
};

function leastAllocatedScore(u: { cpu: number; memory: number }): number {
  return Math.round(((1 - u.cpu) * 100 + (1 - u.memory) * 100) / 2);
}

/** Prefers nodes whose CPU and memory would be used in similar proportions (no stranded capacity). */
export const balancedAllocation: Plugin = {
  name: 'NodeResourcesBalancedAllocation',
  score(pod, n) {
    return balancedScore(usedAfter(pod, n));
  },
  scoreAll(pod, all) {
    const r = scoringRequest(pod);
    return all.map((n) => balancedScore(usedAfter(pod, n, r)));
  },
};

function balancedScore(u: { cpu: number; memory: number }): number {
  return Math.round((1 - Math.abs(u.cpu - u.memory)) * 100);
}

/**
 * 100 × (1 − count / the largest count), the node with the most scoring 0 and nodes without any
 * 100 (all 100 when no node has any): the normalisation SelectorSpread and TaintToleration share.
 */
export function fewerIsBetter(counts: readonly number[]): number[] {
  let max = 0;
  for (const c of counts) if (c > max) max = c;
  return max === 0 ? counts.map(() => 100) : counts.map((c) => Math.round(100 * (1 - c / max)));
}

/** Spreads the replicas of one owner (a ReplicaSet, say): fewer of its pods already there is better. */
export const selectorSpread: Plugin = {
  name: 'SelectorSpread',
  weight: 2,
  scoreSkips: (pod) => podController(pod) === undefined,
  score(pod, n, all) {
    const owner = podController(pod);
    if (!owner) return 0;
    const max = Math.max(0, ...all.map((x) => x.owners.get(owner) ?? 0));
    return max === 0 ? 100 : Math.round(100 * (1 - (n.owners.get(owner) ?? 0) / max));
  },
  scoreAll(pod, all) {
    const owner = podController(pod);
    if (!owner) return all.map(() => 0);
    return fewerIsBetter(all.map((x) => x.owners.get(owner) ?? 0));
  },
};
