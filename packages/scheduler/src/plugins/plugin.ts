/**
 * A scheduling plugin: a filter says whether a pod may run on a node (and why not, in the words
 * Kubernetes users see in "0/3 nodes are available: …"); a score says how good a feasible node
 * is, from 0 to 100. Plugins are pure functions of the pod and the cluster as the scheduler sees it.
 */
import type { KubeObject } from '@flotilla/api';
import type { NodeInfo } from '../node-info.js';

export interface Plugin {
  readonly name: string;
  /** undefined: the node fits; otherwise the reason it does not. */
  filter?(pod: KubeObject, node: NodeInfo): string | undefined;
  /**
   * Kubernetes' PreFilter "Skip": true when, going by the pod alone, filter() would pass every
   * node (no nodeSelector, no host ports…), so it is not called once per node.
   */
  filterSkips?(pod: KubeObject): boolean;
  /** Kubernetes' PreScore "Skip": true when score() is the same for every node for this pod, so it is not computed. */
  scoreSkips?(pod: KubeObject): boolean;
  /** 0..100, higher is better; `all` are the nodes that passed every filter. */
  score?(pod: KubeObject, node: NodeInfo, all: readonly NodeInfo[]): number;
  /**
   * The same scores for every node of `all` at once, in order (scheduleOne uses it when present):
   * for a score that compares a node with the others (normalised by the best or worst, like
   * Kubernetes' NormalizeScore), one pass over the nodes instead of one per node.
   */
  scoreAll?(pod: KubeObject, all: readonly NodeInfo[]): number[];
  /** Multiplies this plugin's score in the total (default 1). */
  readonly weight?: number;
}
