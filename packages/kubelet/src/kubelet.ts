/**
 * The kubelet's pod workers: the pods bound to this node (an informer with a spec.nodeName
 * field selector) are each synced by syncPod — the pure decision — whose actions are applied
 * through the container runtime, and whose status is written back to the API. Containers the
 * API no longer knows are stopped and removed; a restarted kubelet adopts the containers the
 * runtime still holds, so nothing runs twice and nothing is left behind. Also here: probes
 * (prober.ts), start errors as waiting reasons (ImagePullBackOff), and the logs the kubelet
 * server reads. What a container is started with is container-config.ts's.
 */
import type { Readable } from 'node:stream';
import { ApiError, badRequest, isObject, isNotFound, logContainerOf, notFound, type KubeObject, type PodLogOptions } from '@flotilla/api';
import { Informer, keyOf, recordEvent, resources, WorkQueue, type KubeClient } from '@flotilla/client';
import { ContainerConfig, qosClassOf } from './container-config.js';
import { allocatePodIP, inCidr, parseCidr, type Cidr } from './pod-ips.js';
import type { KubeletMetrics } from './metrics.js';
import { ProbeManager } from './prober.js';
import type { ProbeType } from './probes.js';
import { KUBERNETES_BACKOFF, syncPod, type BackoffPolicy } from './pod-sync.js';
import type { ContainerRecord, ContainerRuntime, ContainerSpec } from './runtime/runtime.js';
import { RuntimeError } from './runtime/runtime.js';

export interface KubeletOptions {
  client: KubeClient;
  runtime: ContainerRuntime;
  nodeName: string;
  /** The node's IP: reported as hostIP, and as the pods' IP when there is no podCIDR. */
  nodeIP: string;
  /**
   * The block pods get their own IPs from (e.g. 127.1.4.0/24); without it every pod has the
   * node's IP, as with Kubernetes' hostNetwork.
   */
  podCIDR?: string;
  backoff?: BackoffPolicy;
  /** How often every pod is synced even without an event (to notice exited containers), ms. */
  resyncMs?: number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  metrics?: KubeletMetrics;
  /** Pods synced at once. Default 8: syncs mostly wait on the runtime and the API. */
  podWorkers?: number;
}

type Json = Record<string, unknown>;

export class Kubelet {
  readonly pods: Informer;
  private readonly queue = new WorkQueue({ baseDelayMs: 200, maxDelayMs: 10_000, name: 'kubelet' });
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** Start errors per container, reported as waiting reasons until the next start succeeds. */
  private readonly startErrors = new Map<string, { reason: string; message: string; failures: number; failedAt: number; retryAt: number; image: string }>();

  private readonly probes: ProbeManager;
  /** CrashLoopBackOff's, and the image pulls' back-off too. */
  private readonly backoff: BackoffPolicy;
  private readonly config: ContainerConfig;
  private readonly podCIDR: Cidr | undefined;
  /** Pod uid → its IP, from podCIDR. */
  private readonly podIPs = new Map<string, string>();
  private readonly lastProbeEvent = new Map<string, number>();

  constructor(private readonly o: KubeletOptions) {
    this.pods = new Informer(o.client, resources.pods, { fieldSelector: `spec.nodeName=${o.nodeName}` });
    this.config = new ContainerConfig(o.client, o.nodeName, o.nodeIP);
    this.backoff = o.backoff ?? KUBERNETES_BACKOFF;
    if (o.podCIDR !== undefined) {
      this.podCIDR = parseCidr(o.podCIDR);
      if (!this.podCIDR) throw new Error(`podCIDR ${o.podCIDR}: expected an IPv4 block such as 127.1.4.0/24`);
    }
    this.probes = new ProbeManager({
      runtime: o.runtime,
      podIPOf: (podKey) => {
        const [namespace, name] = podKey.split('/');
        const uid = this.pods.get(name, namespace)?.metadata.uid ?? '';
        return this.podIPs.get(uid) ?? o.nodeIP;
      },
      observed: (podKey, id, type, ok, message) => {
        o.metrics?.probes.inc({ probe_type: type, result: ok ? 'successful' : 'failed' });
        if (!ok) this.probeFailed(podKey, id, type, message ?? '');
      },
      changed: (podKey) => this.queue.add(podKey),
    });
    const enqueue = (p: KubeObject): void => this.queue.add(keyOf(p));
    this.pods.on({ add: enqueue, update: (_o, p) => enqueue(p), delete: enqueue });
  }

  private stopExitWatch: (() => void) | undefined;

  async start(): Promise<void> {
    await this.pods.start();
    await this.recoverPodIPs();
    // A container's exit is acted on at once (restart, status), not at the next resync.
    this.stopExitWatch = this.o.runtime.watchExits((uid) => {
      const pod = this.pods.list().find((p) => p.metadata.uid === uid);
      if (pod) this.queue.add(keyOf(pod));
    });
    this.running = this.queue.run((key) => this.sync(key), this.o.podWorkers ?? 8, (key, err) => this.o.log?.('pod sync failed; will retry', { pod: key, err: String(err) }));
    this.timer = setInterval(() => {
      for (const p of this.pods.list()) this.queue.add(keyOf(p));
      void this.collectOrphans().catch(() => undefined);
    }, this.o.resyncMs ?? 1_000);
    await this.collectOrphans();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.stopExitWatch?.();
    this.probes.stop();
    this.queue.shutDown();
    await this.pods.stop();
    await this.running;
  }

  /**
   * A failed probe run is a Warning event (Unhealthy), as in Kubernetes; the same one again
   * within a minute is not repeated, so a probe failing every second does not flood the API.
   */
  private probeFailed(podKey: string, containerId: string, type: ProbeType, message: string): void {
    const key = `${containerId}/${type}/${message}`;
    const now = Date.now();
    if ((this.lastProbeEvent.get(key) ?? -Infinity) > now - 60_000) return;
    this.lastProbeEvent.set(key, now);
    if (this.lastProbeEvent.size > 10_000) this.lastProbeEvent.clear();
    const [namespace, name] = podKey.split('/');
    const pod = this.pods.get(name, namespace);
    if (pod) void this.event(pod, 'Warning', 'Unhealthy', `${type[0].toUpperCase()}${type.slice(1)} probe failed: ${message}`.trim());
  }

  /**
   * A container's log as `kubectl logs` asks for it: the current run, or with `previous` the one
   * before; following ends when the container exits. An ApiError (400, 404) says why there is none.
   */
  async containerLog(namespace: string, name: string, opts: PodLogOptions, signal?: AbortSignal): Promise<Readable> {
    const pod = this.pods.get(name, namespace);
    if (!pod) throw notFound({ resource: 'pods', group: '', name });
    const container = logContainerOf(pod, opts.container);
    const runs = (await this.o.runtime.list({ podUid: pod.metadata.uid ?? '' })).filter((r) => r.spec.name === container);
    const run = opts.previous ? runs.at(-2) : runs.at(-1);
    if (!run) {
      if (opts.previous) throw badRequest(`previous terminated container "${container}" in pod "${name}" not found`);
      const status = isObject(pod.status) ? pod.status : {};
      const all = [status.containerStatuses, status.initContainerStatuses].flatMap((l) => (Array.isArray(l) ? l.filter(isObject) : []));
      const st = all.find((c) => c.name === container)?.state;
      const reason = isObject(st) && isObject(st.waiting) && typeof st.waiting.reason === 'string' ? st.waiting.reason : 'ContainerCreating';
      throw badRequest(`container "${container}" in pod "${name}" is waiting to start: ${reason}`);
    }
    const sinceTime = opts.sinceTime ? new Date(opts.sinceTime) : opts.sinceSeconds !== undefined ? new Date(Date.now() - opts.sinceSeconds * 1000) : undefined;
    return this.o.runtime.logs(run.id, {
      follow: opts.follow && !opts.previous, timestamps: opts.timestamps, tailLines: opts.tailLines, limitBytes: opts.limitBytes, sinceTime, signal,
    });
  }

  /** Containers whose pod the API no longer has (deleted without us, or by force): stopped and removed. */
  private async collectOrphans(): Promise<void> {
    const known = new Set(this.pods.list().map((p) => p.metadata.uid));
    for (const uid of this.podIPs.keys()) if (!known.has(uid)) this.podIPs.delete(uid);
    const all = await this.o.runtime.list();
    const running = all.filter((r) => r.status.state === 'running');
    this.o.metrics?.runningContainers.set(running.length);
    this.o.metrics?.runningPods.set(new Set(running.map((r) => r.spec.podUid)).size);
    for (const r of all) {
      if (!known.has(r.spec.podUid)) {
        await this.o.runtime.stop(r.id, 2_000);
        await this.o.runtime.remove(r.id);
      }
    }
  }

  private async sync(key: string): Promise<void> {
    const [namespace, name] = key.split('/');
    const pod = this.pods.get(name, namespace);
    if (!pod) return; // gone from the API: collectOrphans stops what is left
    const uid = pod.metadata.uid ?? '';
    const records = await this.o.runtime.list({ podUid: uid });
    const podIP = this.podIPFor(pod, records);
    const now = Date.now();
    const began = performance.now();
    const result = syncPod(pod, records, now, this.backoff, this.probes.states());
    let acted = false;
    for (const a of result.actions) {
      switch (a.kind) {
        case 'start': {
          const id = `${uid}/${a.container}`;
          const failed = this.startErrors.get(id);
          if (failed && now < failed.retryAt) {
            // A failed pull is retried after a back-off, as ImagePullBackOff; other start errors at once.
            this.queue.addAfter(key, failed.retryAt - now);
            break;
          }
          acted = true;
          let spec: ContainerSpec | undefined;
          try {
            spec = { ...(await this.config.containerSpec(pod, a.container, a.init, a.attempt, podIP)), backoffStreak: a.backoffStreak };
            await this.o.runtime.start(spec);
            this.startErrors.delete(id);
            this.o.metrics?.startedContainers.inc();
          } catch (err) {
            if (!(err instanceof RuntimeError)) throw err;
            this.o.metrics?.startedContainerErrors.inc({ code: err.reason });
            const failures = (failed?.failures ?? 0) + 1;
            const pull = err.reason === 'ErrImagePull' || err.reason === 'ErrImageNeverPull';
            const wait = pull ? Math.min(this.backoff.maxMs, this.backoff.baseMs * 2 ** (failures - 1)) : 1_000;
            this.startErrors.set(id, { reason: err.reason, message: err.message, failures, failedAt: Date.now(), retryAt: Date.now() + wait, image: spec?.image ?? '' });
            if (pull) void this.event(pod, 'Warning', 'Failed', `Failed to pull image "${spec?.image ?? ''}": ${err.message}`);
            this.queue.addAfter(key, wait);
          }
          break;
        }
        case 'stop':
          if (a.reason) {
            this.o.log?.('killing a container', { pod: key, container: a.container, reason: a.reason });
            void this.event(pod, 'Normal', 'Killing', `Container ${a.container ?? ''} failed ${a.reason.startsWith('Startup') ? 'startup' : 'liveness'} probe, will be restarted`);
          }
          await this.o.runtime.stop(a.id, a.graceMs);
          acted = true;
          break;
        case 'remove':
          await this.o.runtime.remove(a.id);
          acted = true;
          break;
        case 'deletePod':
          // Gone already (an earlier sync deleted it and the informer has not shown that yet) is
          // done too: the node authorizer answers 403 for a pod no longer bound here, not 404.
          await this.o.client.delete(resources.pods, name, { namespace, gracePeriodSeconds: 0, preconditions: { uid } }).catch((err: unknown) => {
            if (!isNotFound(err) && !(err instanceof ApiError && err.code === 403)) throw err;
          });
          for (const r of records) await this.o.runtime.remove(r.id);
          this.probes.forget(key);
          this.podIPs.delete(uid);
          return;
      }
    }
    // What the actions changed is reported now, not a sync later: a started container is Running
    // in the status this sync writes. Whatever is left to do (the next init container) is queued.
    let final = result;
    let current = records;
    if (acted) {
      current = await this.o.runtime.list({ podUid: uid });
      final = syncPod(pod, current, Date.now(), this.backoff, this.probes.states());
      // More to do now (the next init container; the pod's removal once its containers stopped)
      // is worth a sync at once; a start that failed before waits for its retry time instead.
      if (final.actions.some((a) => a.kind === 'deletePod' || a.kind === 'stop' || (a.kind === 'start' && !this.startErrors.has(`${uid}/${a.container}`)))) this.queue.add(key);
    }
    this.probes.update(key, pod, current);
    this.o.metrics?.podWorkerDuration.observe((performance.now() - began) / 1000);
    if (final.wakeAt !== undefined) this.queue.addAfter(key, Math.max(0, final.wakeAt - Date.now()));
    await this.writeStatus(pod, final.status, current, podIP);
  }

  /**
   * After a restart: the IPs pods already have (their containers' POD_IP, else their status), so
   * that no new pod is given one of them before its owner is synced.
   */
  private async recoverPodIPs(): Promise<void> {
    const cidr = this.podCIDR;
    if (!cidr) return;
    const taken = new Set<string>();
    const claim = (uid: string | undefined, ip: unknown): void => {
      if (!uid || typeof ip !== 'string' || !inCidr(cidr, ip) || taken.has(ip) || this.podIPs.has(uid)) return;
      this.podIPs.set(uid, ip);
      taken.add(ip);
    };
    for (const r of await this.o.runtime.list()) claim(r.spec.podUid, r.spec.env?.POD_IP);
    for (const p of this.pods.list()) claim(p.metadata.uid, isObject(p.status) ? p.status.podIP : undefined);
  }

  /**
   * The pod's IP: the one it has (recorded in its containers' environment, or in its status,
   * which a restarted kubelet finds), else the lowest free one of the node's block.
   */
  private podIPFor(pod: KubeObject, records: readonly ContainerRecord[]): string {
    const cidr = this.podCIDR;
    const uid = pod.metadata.uid ?? '';
    if (!cidr) return this.o.nodeIP;
    const known = this.podIPs.get(uid);
    if (known) return known;
    const taken = new Set(this.podIPs.values());
    const status = isObject(pod.status) ? pod.status : {};
    const candidates = [...records.map((r) => r.spec.env?.POD_IP), typeof status.podIP === 'string' ? status.podIP : undefined];
    let ip = candidates.find((c): c is string => c !== undefined && inCidr(cidr, c) && !taken.has(c));
    ip ??= allocatePodIP(cidr, taken);
    if (!ip) throw new Error(`the node's pod block ${this.o.podCIDR ?? ''} has no free address`);
    this.podIPs.set(uid, ip);
    return ip;
  }

  private async event(pod: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    await recordEvent(this.o.client, pod, type, reason, message, { component: 'kubelet', host: this.o.nodeName }).catch((err: Error) => {
      this.o.log?.('recording an event failed', { reason, err: err.message });
    });
  }

  private async writeStatus(pod: KubeObject, status: Json, records: readonly ContainerRecord[], podIP: string): Promise<void> {
    const uid = pod.metadata.uid ?? '';
    for (const list of [status.containerStatuses, status.initContainerStatuses]) {
      for (const c of Array.isArray(list) ? list.filter(isObject) : []) {
        const err = this.startErrors.get(`${uid}/${String(c.name)}`);
        if (err) {
          // Between pull attempts Kubernetes says ImagePullBackOff; right after one, ErrImagePull.
          const backingOff = err.reason === 'ErrImagePull' && Date.now() - err.failedAt >= 1_000;
          c.state = backingOff
            ? { waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${err.image}": ${err.message}` } }
            : { waiting: { reason: err.reason, message: err.message } };
        }
        const current = records.filter((r) => r.spec.name === c.name).at(-1);
        if (current) c.containerID = `${this.o.runtime.name}://${current.id}`;
      }
    }
    const full: Json = { ...status, hostIP: this.o.nodeIP, hostIPs: [{ ip: this.o.nodeIP }], podIP, podIPs: [{ ip: podIP }], qosClass: qosClassOf(pod) };
    const was = isObject(pod.status) ? pod.status : {};
    // Conditions keep their transition times unless their status changed.
    const before = new Map((Array.isArray(was.conditions) ? was.conditions.filter(isObject) : []).map((c) => [c.type, c]));
    full.conditions = (status.conditions as Json[]).map((c) => {
      const b = before.get(c.type);
      return b && b.status === c.status ? { ...c, lastTransitionTime: b.lastTransitionTime } : c;
    });
    const strip = (s: Json): string => JSON.stringify({ ...s, conditions: undefined, startTime: undefined });
    if (strip(full) === strip(was) && JSON.stringify(full.conditions) === JSON.stringify(was.conditions)) return;
    await this.o.client.patch(resources.pods, pod.metadata.name ?? '', { status: full }, 'merge', { namespace: pod.metadata.namespace, subresource: 'status' }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }
}
