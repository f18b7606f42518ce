/**
 * The scheduler loop around scheduleOne: informers on pods and nodes feeding a SchedulerCache
 * (each node with the pods counted against it, updated per event), a work queue of pods waiting
 * for a node, and binding through pods/binding.
 *
 * A decision is made on the cache as it stands; the pod is then *assumed* on its node and its
 * bind sent in the background (up to maxInFlightBinds at once) while the next pods are decided,
 * as Kubernetes' scheduling and binding cycles work. A failed bind un-assumes the pod and
 * retries it with back-off; a successful one keeps it counted until the informer shows it bound
 * (or assumeTtlMs passes). A pod that fits nowhere gets PodScheduled=False with the reason and a
 * FailedScheduling event, and is tried again with back-off and whenever a node changes. Binding
 * succeeds only for an unbound pod, so a pod is never bound twice, even when a standby scheduler
 * takes over mid-way. Events are sent in the background (EventRecorder).
 */
import { isConflict, isNotFound, isObject, type KubeObject } from '@flotilla/api';
import { Informer, keyOf, resources, WorkQueue, type KubeClient } from '@flotilla/client';
import { SchedulerCache } from './cache.js';
import { EventRecorder } from './recorder.js';
import { scheduleOne } from './schedule-one.js';

export interface SchedulerOptions {
  client: KubeClient;
  /** Pods naming another scheduler are left alone. Default "default-scheduler". */
  schedulerName?: string;
  random?: () => number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  /** How long an assumed placement waits, after its bind succeeded, to be seen bound before it is dropped, ms. Default 30,000. */
  assumeTtlMs?: number;
  /**
   * Share of the nodes to find feasible before scoring, 1..100 (Kubernetes'
   * percentageOfNodesToScore); default 0, adaptive: 50 % − 1 % per 125 nodes, at least 5 % and
   * 100 nodes (every node in clusters under 100 nodes).
   */
  percentageOfNodesToScore?: number;
  /** Binds sent and not yet answered, at most; the next decision waits for a free one. Default 16. */
  maxInFlightBinds?: number;
  /**
   * Where events go. A recorder passed in outlives this scheduler: stop() leaves it running and
   * its owner closes it. A replica that loses its Lease stops its Scheduler, but the events of
   * binds it already made are still true and must still be sent (a Scheduler of its own, closed
   * on stop, would drop them). Default: a recorder of its own, closed by stop().
   */
  recorder?: EventRecorder;
}

const spec = (p: KubeObject): Record<string, unknown> => (isObject(p.spec) ? p.spec : {});

/** Back-off of a pod whose bind failed for another reason than a conflict: doubling from 100 ms to 5 s. */
const BIND_RETRY_BASE_MS = 100;
const BIND_RETRY_MAX_MS = 5_000;
/** How long stop() waits for queued events to be sent before dropping them. */
export const EVENT_FLUSH_ON_STOP_MS = 2_000;

/** The recorder a Scheduler uses: failures and drops go to `log`. */
export function schedulerEventRecorder(client: KubeClient, component: string, log?: SchedulerOptions['log']): EventRecorder {
  return new EventRecorder({
    client,
    component,
    onError: (err) => log?.('could not record an event', { err: String(err) }),
    onDrop: (dropped) => {
      if (dropped === 1 || dropped % 1000 === 0) log?.('events dropped: the API server is behind and the event queue is full', { dropped });
    },
  });
}

export class Scheduler {
  readonly pods: Informer;
  readonly nodes: Informer;
  readonly cache = new SchedulerCache();
  private readonly queue = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 5_000, name: 'scheduler' });
  private readonly recorder: EventRecorder;
  private readonly ownsRecorder: boolean;
  private readonly unschedulable = new Set<string>();
  private readonly bindFailures = new Map<string, number>();
  private running: Promise<void> | undefined;
  private readonly name: string;
  private readonly maxInFlight: number;
  /** Binds under way. Invariant: size ≤ maxInFlight. */
  private readonly binding = new Set<Promise<void>>();
  private readonly slotWaiters: (() => void)[] = [];
  /** Where the next decision's search over the nodes starts (Kubernetes' nextStartNodeIndex). */
  private nextStartIndex = 0;
  private lastExpiry = 0;

  constructor(private readonly o: SchedulerOptions) {
    this.name = o.schedulerName ?? 'default-scheduler';
    this.maxInFlight = Math.max(1, Math.floor(o.maxInFlightBinds ?? 64));
    this.ownsRecorder = o.recorder === undefined;
    this.recorder = o.recorder ?? schedulerEventRecorder(o.client, this.name, o.log);
    this.pods = new Informer(o.client, resources.pods);
    this.nodes = new Informer(o.client, resources.nodes);
    this.pods.on({
      add: (p) => {
        this.cache.upsertPod(p);
        this.consider(p);
      },
      update: (_old, p) => {
        this.cache.upsertPod(p);
        this.consider(p);
      },
      delete: (p) => {
        this.cache.deletePod(p);
        this.unschedulable.delete(keyOf(p));
        this.bindFailures.delete(keyOf(p));
        this.retryUnschedulable(); // freed capacity
      },
    });
    // A node appearing or changing may make waiting pods fit.
    this.nodes.on({
      add: (n) => {
        this.cache.upsertNode(n);
        this.retryUnschedulable();
      },
      update: (_old, n) => {
        this.cache.upsertNode(n);
        this.retryUnschedulable();
      },
      delete: (n) => this.cache.removeNode(n),
    });
  }

  private wants(p: KubeObject): boolean {
    const s = spec(p);
    return !p.metadata.deletionTimestamp && !(typeof s.nodeName === 'string' && s.nodeName !== '') && (s.schedulerName ?? 'default-scheduler') === this.name;
  }

  private consider(p: KubeObject): void {
    const key = keyOf(p);
    if (!this.wants(p)) {
      this.unschedulable.delete(key); // bound (or going)
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

  /**
   * Stops deciding and the informers, lets the binds under way finish (each ends with its
   * request's timeout at the latest), and, unless the recorder was passed in, sends the recorded
   * events for up to 2 s more.
   */
  async stop(): Promise<void> {
    this.queue.shutDown();
    for (const wake of this.slotWaiters.splice(0)) wake();
    await this.running;
    await Promise.all([this.pods.stop(), this.nodes.stop()]);
    await Promise.all([...this.binding]);
    if (this.ownsRecorder) await this.recorder.close(EVENT_FLUSH_ON_STOP_MS);
  }

  /** Waits until fewer than maxInFlightBinds binds are under way. */
  private async freeBindSlot(): Promise<void> {
    while (this.binding.size >= this.maxInFlight && !this.queue.shuttingDown) {
      await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    }
  }

  private async sync(key: string): Promise<void> {
    const [namespace, name] = key.split('/');
    const skip = (): boolean => {
      const p = this.pods.get(name, namespace);
      return !p || !this.wants(p) || this.cache.isAssumed(key);
    };
    if (skip()) return;
    await this.freeBindSlot();
    if (this.queue.shuttingDown || skip()) return; // it may have changed while we waited
    const pod = this.pods.get(name, namespace) as KubeObject;
    const now = Date.now();
    if (now - this.lastExpiry >= 1_000) {
      this.lastExpiry = now;
      for (const gone of this.cache.expire(now)) this.o.log?.('assumed pod expired before its binding was seen', { pod: gone });
    }
    const nodes = this.cache.nodes();
    const decision = scheduleOne(pod, nodes, { random: this.o.random ?? Math.random, percentageOfNodesToScore: this.o.percentageOfNodesToScore, startIndex: this.nextStartIndex });
    this.nextStartIndex = nodes.length > 0 ? (this.nextStartIndex + decision.processed) % nodes.length : 0;
    if ('node' in decision) {
      this.cache.assume(pod, decision.node);
      this.unschedulable.delete(key);
      const done = this.bind(pod, key, decision.node);
      this.binding.add(done);
      void done.finally(() => {
        this.binding.delete(done);
        this.slotWaiters.shift()?.();
      });
      return;
    }
    this.unschedulable.add(key);
    await this.markUnschedulable(pod, decision.unschedulable);
    this.recorder.record(pod, 'Warning', 'FailedScheduling', decision.unschedulable);
    throw new Error(decision.unschedulable); // re-queued with back-off (and on any node change)
  }

  /** The binding cycle of an assumed pod. Never rejects. */
  private async bind(pod: KubeObject, key: string, node: string): Promise<void> {
    const namespace = pod.metadata.namespace ?? '';
    const name = pod.metadata.name ?? '';
    try {
      await this.o.client.bind(namespace, name, node);
    } catch (err) {
      this.cache.forget(key);
      if (isConflict(err) || isNotFound(err)) return; // bound meanwhile (by another scheduler), or gone
      const failures = this.bindFailures.get(key) ?? 0;
      this.bindFailures.set(key, failures + 1);
      this.o.log?.('binding failed; will retry', { pod: key, node, err: String(err) });
      this.queue.addAfter(key, Math.min(BIND_RETRY_BASE_MS * 2 ** failures, BIND_RETRY_MAX_MS));
      return;
    }
    this.bindFailures.delete(key);
    this.cache.finishBinding(key, Date.now(), this.o.assumeTtlMs ?? 30_000);
    this.recorder.record(pod, 'Normal', 'Scheduled', `Successfully assigned ${namespace}/${name} to ${node}`);
    this.o.log?.('bound', { pod: key, node });
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
}
