/**
 * The scheduler's picture of the cluster, kept current event by event: a NodeInfo per node with
 * the pods counted against it — bound ones (as the pods informer shows them) and ones this
 * scheduler has *assumed* on a node while their binding is under way or not yet seen back.
 * Each change costs a few operations on one node, so a decision never has to rebuild the picture
 * from every pod in the cluster (what made scheduling O(pods) per pod).
 *
 * Synchronous and clock-free, like the decision it feeds: the host passes the time in.
 *
 * The life of an assumed pod, as in Kubernetes' scheduler cache: assume() when the decision is
 * made (before the bind is sent), then either forget() (the bind failed) or finishBinding() (the
 * bind succeeded: from then on it expires after the TTL unless the informer shows it bound
 * first). When the informer shows the pod bound, the bound object replaces the assumed one,
 * on the node the server says.
 */
import { isObject, type KubeObject } from '@flotilla/api';
import { addPod, newNodeInfo, removePod, setNode, type NodeInfo } from './node-info.js';

interface Placement {
  node: string;
  /** Assumed by this scheduler, not yet seen bound. */
  assumed: boolean;
  /** For an assumed pod whose bind succeeded: when it stops being counted (ms, the host's clock). */
  expiresAt?: number;
}

export function podKey(pod: KubeObject): string {
  return pod.metadata.namespace ? `${pod.metadata.namespace}/${pod.metadata.name ?? ''}` : pod.metadata.name ?? '';
}

function boundNode(pod: KubeObject): string | undefined {
  const n = isObject(pod.spec) ? pod.spec.nodeName : undefined;
  return typeof n === 'string' && n !== '' ? n : undefined;
}

function isTerminated(pod: KubeObject): boolean {
  const phase = isObject(pod.status) ? pod.status.phase : undefined;
  return phase === 'Succeeded' || phase === 'Failed';
}

export class SchedulerCache {
  /**
   * Every node name that has a Node object or counted pods. Invariant: a name without a Node
   * object (pods bound to a node the informer has not shown, or no longer shows) is kept only
   * while it has pods, and is never offered to the decision.
   */
  private readonly infos = new Map<string, NodeInfo>();
  private readonly known = new Set<string>();
  /** The known nodes' infos in a stable order (for the rotating search start); rebuilt when nodes come or go. */
  private ordered: NodeInfo[] | undefined;
  /** Invariant: a pod is in `placed` exactly when it is counted in infos.get(placed.node).pods. */
  private readonly placed = new Map<string, Placement>();
  private readonly assumedKeys = new Set<string>();

  /** The nodes to decide on (shared and updated in place: use it within one synchronous decision). */
  nodes(): readonly NodeInfo[] {
    if (!this.ordered) this.ordered = [...this.known].sort().map((n) => this.infos.get(n) as NodeInfo);
    return this.ordered;
  }

  nodeInfo(name: string): NodeInfo | undefined {
    return this.known.has(name) ? this.infos.get(name) : undefined;
  }

  get assumedCount(): number {
    return this.assumedKeys.size;
  }

  isAssumed(key: string): boolean {
    return this.assumedKeys.has(key);
  }

  /** A node added or changed. */
  upsertNode(node: KubeObject): void {
    const name = node.metadata.name ?? '';
    const info = this.infos.get(name);
    if (info) setNode(info, node);
    else this.infos.set(name, newNodeInfo(node));
    if (!this.known.has(name)) {
      this.known.add(name);
      this.ordered = undefined;
    }
  }

  /** A node deleted: no longer offered; its pods stay counted until they go too. */
  removeNode(node: KubeObject): void {
    const name = node.metadata.name ?? '';
    if (!this.known.delete(name)) return;
    this.ordered = undefined;
    const info = this.infos.get(name);
    if (info && info.pods.length === 0) this.infos.delete(name);
  }

  /** A pod added or changed, as the informer shows it: counted where it is bound, until it ends. */
  upsertPod(pod: KubeObject): void {
    const key = podKey(pod);
    const node = boundNode(pod);
    if (isTerminated(pod)) {
      this.remove(key);
      return;
    }
    if (node === undefined) return; // not bound (yet): counted only if assumed, which stays as it is
    this.place(key, pod, node, false);
  }

  deletePod(pod: KubeObject): void {
    this.remove(podKey(pod));
  }

  /** Counts `pod` on `node` before its bind is sent, so the next decisions see it there. */
  assume(pod: KubeObject, node: string): void {
    const key = podKey(pod);
    if (this.placed.get(key)?.assumed === false) return; // already seen bound: that is what counts
    this.place(key, pod, node, true);
  }

  /** The bind of an assumed pod succeeded at `now`: it is counted until the informer shows it, or until now + ttlMs. */
  finishBinding(key: string, now: number, ttlMs: number): void {
    const p = this.placed.get(key);
    if (p?.assumed) p.expiresAt = now + ttlMs;
  }

  /** The bind of an assumed pod failed: stop counting it. */
  forget(key: string): void {
    if (this.placed.get(key)?.assumed) this.remove(key);
  }

  /** Stops counting assumed pods whose bind succeeded but was not seen back in time; returns their keys. */
  expire(now: number): string[] {
    const gone: string[] = [];
    for (const key of this.assumedKeys) {
      const p = this.placed.get(key);
      if (p?.expiresAt !== undefined && p.expiresAt <= now) gone.push(key);
    }
    for (const key of gone) this.remove(key);
    return gone;
  }

  private place(key: string, pod: KubeObject, node: string, assumed: boolean): void {
    this.remove(key);
    let info = this.infos.get(node);
    if (!info) {
      info = newNodeInfo({ metadata: { name: node } });
      this.infos.set(node, info);
    }
    addPod(info, pod);
    this.placed.set(key, { node, assumed });
    if (assumed) this.assumedKeys.add(key);
  }

  private remove(key: string): void {
    const p = this.placed.get(key);
    if (!p) return;
    this.placed.delete(key);
    this.assumedKeys.delete(key);
    const info = this.infos.get(p.node);
    if (!info) return;
    const slash = key.indexOf('/');
    removePod(info, { metadata: slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) } });
    if (info.pods.length === 0 && !this.known.has(p.node)) this.infos.delete(p.node);
  }
}
