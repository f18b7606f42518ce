/**
 * Where one pod goes: the pure decision at the heart of the scheduler. Every filter must pass;
 * the feasible node with the highest weighted score wins, ties broken by the injected random
 * source (so that equal nodes share the load, and tests stay deterministic). When no node fits,
 * the answer is the message Kubernetes users know, with the reasons counted across nodes:
 * "0/3 nodes are available: 2 Insufficient memory, 1 node(s) had untolerated taint {…}."
 */
import type { KubeObject } from '@flotilla/api';
import { nodeName, type NodeInfo } from './node-info.js';
import { nodeAffinity, nodeName as nodeNamePlugin, nodePorts, nodeReady, nodeResourcesFit, nodeUnschedulable, taintToleration } from './plugins/filters.js';
import type { Plugin } from './plugins/plugin.js';
import { balancedAllocation, leastAllocated, selectorSpread } from './plugins/scores.js';

export const DEFAULT_PLUGINS: readonly Plugin[] = [
  nodeUnschedulable,
  nodeReady,
  nodeNamePlugin,
  nodeAffinity,
  taintToleration,
  nodeResourcesFit,
  nodePorts,
  leastAllocated,
  balancedAllocation,
  selectorSpread,
];

export type Decision =
  | { node: string; scores: Map<string, number> }
  | { unschedulable: string; reasons: Map<string, number> };

export function scheduleOne(pod: KubeObject, nodes: readonly NodeInfo[], opts: { plugins?: readonly Plugin[]; random: () => number }): Decision {
  const plugins = opts.plugins ?? DEFAULT_PLUGINS;
  const reasons = new Map<string, number>();
  const feasible: NodeInfo[] = [];
  for (const n of nodes) {
    let why: string | undefined;
    for (const p of plugins) {
      why = p.filter?.(pod, n);
      if (why !== undefined) break;
    }
    if (why === undefined) feasible.push(n);
    else reasons.set(why, (reasons.get(why) ?? 0) + 1);
  }
  if (feasible.length === 0) {
    const parts = [...reasons].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([why, count]) => `${count} ${why}`);
    return { unschedulable: `0/${nodes.length} nodes are available${parts.length > 0 ? `: ${parts.join(', ')}` : ''}.`, reasons };
  }
  const scores = new Map<string, number>();
  for (const n of feasible) {
    let total = 0;
    for (const p of plugins) if (p.score) total += (p.weight ?? 1) * p.score(pod, n, feasible);
    scores.set(nodeName(n), total);
  }
  const best = Math.max(...scores.values());
  const top = feasible.filter((n) => scores.get(nodeName(n)) === best);
  const chosen = top[Math.min(top.length - 1, Math.floor(opts.random() * top.length))];
  return { node: nodeName(chosen), scores };
}
