/**
 * The scheduler loop around scheduleOne: informers on pods and nodes, a work queue of pods
 * waiting for a node, and binding through pods/binding. A pod placed here is *assumed* on its
 * node until the bind is seen back, so a burst of pods spreads correctly. A pod that fits nowhere
 * gets PodScheduled=False with the reason and a FailedScheduling event, and is tried again with
 * back-off and whenever a node changes. Binding succeeds only for an unbound pod, so a pod is
 * never bound twice, even when a standby scheduler takes over mid-way.
 */
import { isConflict, isNotFound, isObject, type KubeObject } from '@flotilla/api';
import { Informer, keyOf, resources, WorkQueue, type KubeClient } from '@flotilla/client';
import { addPod, newNodeInfo, type NodeInfo } from './node-info.js';
import { scheduleOne } from './schedule-one.js';

export interface SchedulerOptions {
  client: KubeClient;
  /** Pods naming another scheduler are left alone. Default "default-scheduler". */
  schedulerName?: string;
  random?: () => number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  /** How long an assumed placement waits for its bind to be seen before it is dropped, ms. */
  assumeTtlMs?: number;
}

const spec = (p: KubeObject): Record<string, unknown> => (isObject(p.spec) ? p.spec : {});

export class Scheduler {
  readonly pods: Informer;
  readonly nodes: Informer;
  private readonly queue = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 5_000, name: 'scheduler' });
  /** pod key → node, for pods bound here whose binding the informer has not shown yet. */
  private readonly assumed = new Map<string, { node: string; pod: KubeObject; at: number }>();
  private readonly unschedulable = new Set<string>();
  private running: Promise<void> | undefined;
  private readonly name: string;

  constructor(private readonly o: SchedulerOptions) {
    this.name = o.schedulerName ?? 'default-scheduler';
    this.pods = new Informer(o.client, resources.pods);
    this.nodes = new Informer(o.client, resources.nodes);
    this.pods.on({
      add: (p) => this.consider(p),
      update: (_old, p) => this.consider(p),
      delete: (p) => {
        this.assumed.delete(keyOf(p));
        this.unschedulable.delete(keyOf(p));
        this.retryUnschedulable(); // freed capacity
      },
    });
    // A node appearing or changing may make waiting pods fit.
    this.nodes.on({ add: () => this.retryUnschedulable(), update: () => this.retryUnschedulable() });
  }

  private wants(p: KubeObject): boolean {
    const s = spec(p);
    return !p.metadata.deletionTimestamp && !(typeof s.nodeName === 'string' && s.nodeName !== '') && (s.schedulerName ?? 'default-scheduler') === this.name;
  }

  private consider(p: KubeObject): void {
    const key = keyOf(p);
    if (!this.wants(p)) {
      this.assumed.delete(key); // the bind came back (or the pod is going)
      this.unschedulable.delete(key);
      return;
    }
    this.queue.add(key);
  }

  private retryUnschedulable(): void {
    for (const key of this.unschedulable) this.queue.add(key);
  }

  async start(): Promise<void> {
    await Promise.all([this.nodes.start(), this.pods.start()]);
    this.running = this.queue.run((key) => this.sync(key), 1, (key, err) => this.o.log?.('scheduling failed; will retry', { pod: key, err: String(err) }));
  }

  async stop(): Promise<void> {
    this.queue.shutDown();
    await Promise.all([this.pods.stop(), this.nodes.stop()]);
    await this.running;
  }

  /** The cluster as the scheduler sees it: every node with its bound and assumed pods. */
  private nodeInfos(now: number): NodeInfo[] {
    const byNode = new Map<string, KubeObject[]>();
    for (const p of this.pods.list()) {
      const n = spec(p).nodeName;
      if (typeof n === 'string' && n !== '' && !isTerminated(p)) byNode.set(n, [...(byNode.get(n) ?? []), p]);
    }
    for (const [key, a] of this.assumed) {
      if (now - a.at > (this.o.assumeTtlMs ?? 30_000)) this.assumed.delete(key);
      else byNode.set(a.node, [...(byNode.get(a.node) ?? []), a.pod]);
    }
    return this.nodes.list().map((n) => newNodeInfo(n, byNode.get(n.metadata.name ?? '') ?? []));
  }

  private async sync(key: string): Promise<void> {
    const [namespace, name] = key.split('/');
    const pod = this.pods.get(name, namespace);
    if (!pod || !this.wants(pod) || this.assumed.has(key)) return;
    const now = Date.now();
    const decision = scheduleOne(pod, this.nodeInfos(now), { random: this.o.random ?? Math.random });
    if ('node' in decision) {
      try {
        await this.o.client.bind(namespace, name, decision.node);
      } catch (err) {
        if (isConflict(err) || isNotFound(err)) return; // bound meanwhile (by another scheduler), or gone
        throw err;
      }
      this.assumed.set(key, { node: decision.node, pod, at: now });
      this.unschedulable.delete(key);
      await this.event(pod, 'Normal', 'Scheduled', `Successfully assigned ${namespace}/${name} to ${decision.node}`).catch(() => undefined);
      this.o.log?.('bound', { pod: key, node: decision.node });
      return;
    }
    this.unschedulable.add(key);
    await this.markUnschedulable(pod, decision.unschedulable);
    await this.event(pod, 'Warning', 'FailedScheduling', decision.unschedulable).catch(() => undefined);
    throw new Error(decision.unschedulable); // re-queued with back-off (and on any node change)
  }

  private async markUnschedulable(pod: KubeObject, message: string): Promise<void> {
    const status = isObject(pod.status) ? pod.status : {};
    const conditions = (Array.isArray(status.conditions) ? status.conditions.filter(isObject) : []).filter((c) => c.type !== 'PodScheduled');
    const current = (Array.isArray(status.conditions) ? status.conditions.filter(isObject) : []).find((c) => c.type === 'PodScheduled');
    if (current?.status === 'False' && current.message === message) return;
    conditions.push({ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message, lastProbeTime: null, lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') });
    await this.o.client.patch(resources.pods, pod.metadata.name ?? '', { status: { conditions } }, 'merge', { namespace: pod.metadata.namespace, subresource: 'status' }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }

  private async event(pod: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await this.o.client.create(resources.events, {
      metadata: { generateName: `${pod.metadata.name ?? 'pod'}.`, namespace: pod.metadata.namespace },
      involvedObject: { kind: 'Pod', apiVersion: 'v1', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
      type, reason, message, count: 1, firstTimestamp: now, lastTimestamp: now,
      source: { component: this.name },
    });
  }
}

function isTerminated(p: KubeObject): boolean {
  const phase = isObject(p.status) ? p.status.phase : undefined;
  return phase === 'Succeeded' || phase === 'Failed';
}
