/**
 * The probes' effects: running one probe (an HTTP GET, a TCP connect, an exec in the container)
 * and a worker per running container that runs its probes on their schedules (probes.ts decides
 * when, and what the outcomes mean), telling the kubelet when a standing result changes so the
 * pod is synced at once.
 */
import { connect } from 'node:net';
import { Agent, request } from 'undici';
import { isObject, type KubeObject } from '@flotilla/api';
import { initialProbeState, nextProbeAt, PROBE_TYPES, recordOutcome, type ProbeAction, type ProbeSpec, type ProbeState, type ProbeType } from './probes.js';
import { probesOf, type ProbeStates } from './pod-sync.js';
import type { ContainerRecord, ContainerRuntime } from './runtime/runtime.js';

export interface ProbeOutcome {
  ok: boolean;
  message?: string;
}

/** HTTPS probes do not verify certificates, as Kubernetes' do not. */
const insecure = new Agent({ connect: { rejectUnauthorized: false } });
const plain = new Agent();

function resolvePort(port: number | string, container: Record<string, unknown>): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const ports = Array.isArray(container.ports) ? container.ports.filter(isObject) : [];
  const named = ports.find((p) => p.name === port)?.containerPort;
  return typeof named === 'number' ? named : undefined;
}

/** One run of a probe against a container whose pod has `podIP`. */
export async function runProbe(action: ProbeAction, timeoutMs: number, ctx: { podIP: string; container: Record<string, unknown>; runtime: ContainerRuntime; containerId: string }): Promise<ProbeOutcome> {
  if (action.kind === 'exec') {
    const r = await ctx.runtime.exec(ctx.containerId, action.command, timeoutMs).catch((err: Error) => ({ exitCode: -1, output: Buffer.from(err.message), timedOut: false }));
    if (r.timedOut) return { ok: false, message: `command ${JSON.stringify(action.command.join(' '))} timed out` };
    return r.exitCode === 0 ? { ok: true } : { ok: false, message: r.output.toString('utf8').trim() || `command exited with ${r.exitCode}` };
  }
  const port = resolvePort(action.port, ctx.container);
  if (port === undefined) return { ok: false, message: `port ${String(action.port)} is not a number nor the name of one of the container's ports` };
  const host = action.host ?? ctx.podIP;
  const hostPort = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  if (action.kind === 'tcp') {
    return new Promise((resolve) => {
      const socket = connect({ host, port, timeout: timeoutMs });
      const done = (o: ProbeOutcome): void => {
        socket.destroy();
        resolve(o);
      };
      socket.once('connect', () => done({ ok: true }));
      socket.once('timeout', () => done({ ok: false, message: `dial tcp ${hostPort}: i/o timeout` }));
      socket.once('error', (err: NodeJS.ErrnoException) => done({ ok: false, message: `dial tcp ${hostPort}: connect: ${err.code === 'ECONNREFUSED' ? 'connection refused' : err.message}` }));
    });
  }
  const url = `${action.scheme.toLowerCase()}://${hostPort}${action.path.startsWith('/') ? action.path : `/${action.path}`}`;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const res = await request(url, {
      method: 'GET',
      headers: { 'user-agent': 'kube-probe/1.32', accept: '*/*', ...Object.fromEntries(action.headers) },
      dispatcher: action.scheme === 'HTTPS' ? insecure : plain,
      signal: ac.signal,
    });
    await res.body.dump();
    if (res.statusCode >= 200 && res.statusCode < 400) return { ok: true };
    return { ok: false, message: `HTTP probe failed with statuscode: ${res.statusCode}` };
  } catch (err) {
    if (ac.signal.aborted) return { ok: false, message: `Get "${url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)` };
    const e = err as NodeJS.ErrnoException;
    return { ok: false, message: `Get "${url}": dial tcp ${hostPort}: connect: ${e.code === 'ECONNREFUSED' ? 'connection refused' : e.message}` };
  } finally {
    clearTimeout(timer);
  }
}

interface Worker {
  podKey: string;
  timers: Partial<Record<ProbeType, NodeJS.Timeout>>;
  specs: Partial<Record<ProbeType, ProbeSpec>>;
  states: Partial<Record<ProbeType, ProbeState>>;
}

export interface ProbeManagerOptions {
  runtime: ContainerRuntime;
  /** The IP of the pod with this key (probes without a host go there). */
  podIPOf: (podKey: string) => string;
  /** A container's standing result changed: its pod should be synced now. */
  changed: (podKey: string, containerId: string, type: ProbeType, state: ProbeState) => void;
  /** Every outcome, for metrics and events (message: why it failed). */
  observed?: (podKey: string, containerId: string, type: ProbeType, ok: boolean, message?: string) => void;
  now?: () => number;
}

export class ProbeManager {
  private readonly workers = new Map<string, Worker>();
  private readonly now: () => number;

  constructor(private readonly o: ProbeManagerOptions) {
    this.now = o.now ?? Date.now;
  }

  /** The probe states of every probed container, for syncPod. */
  states(): ProbeStates {
    return new Map([...this.workers].map(([id, w]) => [id, w.states]));
  }

  /**
   * Probes the pod's running containers that have probes; stops probing its containers that no
   * longer run. Called after every sync of the pod.
   */
  update(podKey: string, pod: KubeObject, records: readonly ContainerRecord[]): void {
    const spec = isObject(pod.spec) ? pod.spec : {};
    const containers = Array.isArray(spec.containers) ? spec.containers.filter(isObject) : [];
    const running = new Set<string>();
    for (const r of records) {
      if (r.status.state !== 'running' || r.spec.init) continue;
      const c = containers.find((x) => x.name === r.spec.name);
      if (!c) continue;
      running.add(r.id);
      if (this.workers.has(r.id)) continue;
      const specs = probesOf(c);
      if (Object.keys(specs).length === 0) continue;
      const w: Worker = { podKey, timers: {}, specs, states: {} };
      for (const t of PROBE_TYPES) if (specs[t]) w.states[t] = initialProbeState(t);
      this.workers.set(r.id, w);
      for (const t of PROBE_TYPES) if (specs[t]) this.schedule(r.id, w, t, Date.parse(r.status.startedAt), c);
    }
    for (const [id, w] of this.workers) if (w.podKey === podKey && !running.has(id)) this.drop(id);
  }

  /** Stops probing everything of a pod (it is gone). */
  forget(podKey: string): void {
    for (const [id, w] of this.workers) if (w.podKey === podKey) this.drop(id);
  }

  stop(): void {
    for (const id of [...this.workers.keys()]) this.drop(id);
  }

  private drop(id: string): void {
    for (const t of Object.values(this.workers.get(id)?.timers ?? {})) clearTimeout(t);
    this.workers.delete(id);
  }

  private schedule(id: string, w: Worker, type: ProbeType, startedAt: number, container: Record<string, unknown>): void {
    const spec = w.specs[type] as ProbeSpec;
    const at = nextProbeAt(spec, w.states[type] as ProbeState, startedAt);
    w.timers[type] = setTimeout(() => void this.fire(id, w, type, startedAt, container), Math.max(0, at - this.now()));
  }

  private async fire(id: string, w: Worker, type: ProbeType, startedAt: number, container: Record<string, unknown>): Promise<void> {
    if (this.workers.get(id) !== w) return;
    const spec = w.specs[type] as ProbeSpec;
    const before = w.states[type] as ProbeState;
    // Liveness and readiness wait for the startup probe: a slow starter is not killed for it.
    const waiting = type !== 'startup' && w.specs.startup !== undefined && w.states.startup?.result !== 'success';
    if (!waiting) {
      const outcome = await runProbe(spec.action, spec.timeoutMs, { podIP: this.o.podIPOf(w.podKey), container, runtime: this.o.runtime, containerId: id });
      if (this.workers.get(id) !== w) return;
      this.o.observed?.(w.podKey, id, type, outcome.ok, outcome.message);
      const after = recordOutcome(spec, before, outcome.ok, this.now(), outcome.message);
      w.states[type] = after;
      if (after.result !== before.result) this.o.changed(w.podKey, id, type, after);
      // Once started, the startup probe is done for this container.
      if (type === 'startup' && after.result === 'success') return;
    } else {
      w.states[type] = { ...before, lastRunAt: this.now() };
    }
    this.schedule(id, w, type, startedAt, container);
  }
}
