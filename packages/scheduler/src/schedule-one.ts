/**
 * Where one pod goes: the pure decision at the heart of the scheduler. Every filter must pass;
 * the feasible node with the highest weighted score wins, ties broken by the injected random
 * source (so that equal nodes share the load, and tests stay deterministic). When no node fits,
 * the answer is the message Kubernetes users know, with the reasons counted across nodes:
 * "0/3 nodes are available: 2 Insufficient memory, 1 node(s) had untolerated taint {…}."
 *
 * In a large cluster not every node is looked at: as Kubernetes' percentageOfNodesToScore, the
 * filters run from a start index the host rotates until enough nodes fit (420 of 1,000, 500 of
 * 5,000), and only those are scored, so a decision costs about the same however big the
 * cluster, while over successive pods every node gets its turn.
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
  | {
      node: string;
      /** The chosen node's weighted total score. */
      score: number;
      /** How many feasible nodes were found (and scored). */
      feasible: number;
      /** How many nodes were looked at (filtered), starting at `startIndex`: where the next pod's search begins (Kubernetes' EvaluatedNodes). */
      processed: number;
    }
  | { unschedulable: string; reasons: Map<string, number>; processed: number };

export interface ScheduleOptions {
  plugins?: readonly Plugin[];
  /** Breaks ties between equally good nodes. */
  random: () => number;
  /**
   * Share of the nodes to find feasible before scoring, 1..100; 0 or unset: adaptive, as
   * Kubernetes' percentageOfNodesToScore (see feasibleNodesToFind). 100 looks at every node.
   */
  percentageOfNodesToScore?: number;
  /**
   * Where in `nodes` the search starts (wrapping around); the host passes the previous
   * decision's (startIndex + processed) so that, with sampling, every node gets its turn.
   */
  startIndex?: number;
}

/** Below this many nodes every node is looked at; and at least this many feasible are sought. */
export const MIN_FEASIBLE_NODES_TO_FIND = 100;
/** The adaptive percentage never goes below this. */
export const MIN_FEASIBLE_NODES_PERCENTAGE = 5;

/**
 * How many feasible nodes are enough to pick from, Kubernetes' numFeasibleNodesToFind: every node
 * in a cluster of fewer than 100; otherwise `percentage` of them (adaptive when 0: 50 % − 1 % per
 * 125 nodes, at least 5 %), but at least 100. 1,000 nodes: 420; 5,000: 500 (10 %).
 */
export function feasibleNodesToFind(allNodes: number, percentage = 0): number {
  if (allNodes < MIN_FEASIBLE_NODES_TO_FIND || percentage >= 100) return allNodes;
  let p = percentage;
  if (p <= 0) p = Math.max(MIN_FEASIBLE_NODES_PERCENTAGE, 50 - Math.trunc(allNodes / 125));
  return Math.max(MIN_FEASIBLE_NODES_TO_FIND, Math.trunc((allNodes * p) / 100));
}

/**
 * Filters nodes from `startIndex` on (wrapping around) until enough feasible ones are found
 * (feasibleNodesToFind) or every node was looked at, then scores those and picks the best.
 * Unschedulable only when no node at all fits: the reasons then cover every node.
 */
export function scheduleOne(pod: KubeObject, nodes: readonly NodeInfo[], opts: ScheduleOptions): Decision {
  const plugins = opts.plugins ?? DEFAULT_PLUGINS;
  // PreFilter and PreScore: leave out the plugins that have nothing to say about this pod.
  const filters = plugins.filter((p) => p.filter !== undefined && !p.filterSkips?.(pod));
  const scorers = plugins.filter((p) => (p.score !== undefined || p.scoreAll !== undefined) && !p.scoreSkips?.(pod));
  const reasons = new Map<string, number>();
  const feasible: NodeInfo[] = [];
  const wanted = feasibleNodesToFind(nodes.length, opts.percentageOfNodesToScore);
  const start = nodes.length > 0 ? ((Math.trunc(opts.startIndex ?? 0) % nodes.length) + nodes.length) % nodes.length : 0;
  let processed = 0;
  while (processed < nodes.length && feasible.length < wanted) {
    const n = nodes[(start + processed) % nodes.length];
    processed++;
    let why: string | undefined;
    for (const p of filters) {
      why = p.filter!(pod, n);
      if (why !== undefined) break;
    }
    if (why === undefined) feasible.push(n);
    else reasons.set(why, (reasons.get(why) ?? 0) + 1);
  }
  if (feasible.length === 0) {
    const parts = [...reasons].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([why, count]) => `${count} ${why}`);
    return { unschedulable: `0/${nodes.length} nodes are available${parts.length > 0 ? `: ${parts.join(', ')}` : ''}.`, reasons, processed };
  }
  const totals = new Float64Array(feasible.length);
  for (const p of scorers) {
    const w = p.weight ?? 1;
    if (p.scoreAll) {
      const s = p.scoreAll(pod, feasible);
      for (let i = 0; i < feasible.length; i++) totals[i] += w * s[i];
    } else {
      for (let i = 0; i < feasible.length; i++) totals[i] += w * p.score!(pod, feasible[i], feasible);
    }
  }
  let best = -Infinity;
  for (let i = 0; i < feasible.length; i++) if (totals[i] > best) best = totals[i];
  const top = feasible.filter((_, i) => totals[i] === best);
  const chosen = top[Math.min(top.length - 1, Math.floor(opts.random() * top.length))];
  return { node: nodeName(chosen), score: best, feasible: feasible.length, processed };
}
