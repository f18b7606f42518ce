/**
 * What a pod worker should do next, and the pod status to report: a pure function of the pod
 * (as the API has it), the containers the runtime holds for it, and the time. The worker applies
 * the actions through the runtime and writes the status; then it calls this again. Kubernetes'
 * rules, in one place:
 * - init containers run one at a time, in order, each to success, before any other container;
 * - restartPolicy Always / OnFailure / Never decides whether an exited container runs again;
 * - a restart waits an exponential back-off (CrashLoopBackOff), capped, and reset after a run
 *   that lasted long enough to count as healthy;
 * - a pod being deleted has its containers stopped within its grace period, then is removed;
 * - probes: a container is started once its startup probe succeeds, ready while its readiness
 *   probe does, and killed (then restarted per restartPolicy) when liveness or startup fails.
 */
import { isObject, type KubeObject } from '@flotilla/api';
import { containerHealth, parseProbe, PROBE_TYPES, type ProbeSpec, type ProbeState, type ProbeType } from './probes.js';
import type { ContainerRecord } from './runtime/runtime.js';

export type SyncAction =
  | { kind: 'start'; container: string; init: boolean; attempt: number; backoffStreak: number }
  /** reason: why a running container is killed (a failed probe), for the event. */
  | { kind: 'stop'; id: string; graceMs: number; container?: string; reason?: string }
  | { kind: 'remove'; id: string }
  /** Every container is gone: the pod object may be removed from the API (graceful deletion done). */
  | { kind: 'deletePod' };

export interface BackoffPolicy {
  /** First wait before a restart, ms. Kubernetes: 10 s. */
  baseMs: number;
  /** Cap, ms. Kubernetes: 5 min. */
  maxMs: number;
  /** A run at least this long resets the back-off, ms. Kubernetes: 10 min. */
  resetAfterMs: number;
}

export const KUBERNETES_BACKOFF: BackoffPolicy = { baseMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 };

export interface SyncResult {
  actions: SyncAction[];
  status: Record<string, unknown>;
  /** When a back-off ends and the worker should sync again without any other trigger. */
  wakeAt?: number;
}

type Json = Record<string, unknown>;

/** Probe states of running containers, by container id (prober.ts keeps them). */
export type ProbeStates = ReadonlyMap<string, Partial<Record<ProbeType, ProbeState>>>;

/** A container's probes from its spec. */
export function probesOf(container: Json): Partial<Record<ProbeType, ProbeSpec>> {
  const out: Partial<Record<ProbeType, ProbeSpec>> = {};
  for (const t of PROBE_TYPES) {
    const p = parseProbe(container[`${t}Probe`], t);
    if (p) out[t] = p;
  }
  return out;
}

const iso = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

function containersOf(pod: KubeObject, field: 'containers' | 'initContainers'): Json[] {
  const spec = isObject(pod.spec) ? pod.spec : {};
  return Array.isArray(spec[field]) ? (spec[field] as unknown[]).filter(isObject) : [];
}

/** A container's runs, oldest first. */
function runsOf(records: readonly ContainerRecord[], name: string, init: boolean): ContainerRecord[] {
  return records.filter((r) => r.spec.name === name && (r.spec.init ?? false) === init);
}

function stateOf(r: ContainerRecord | undefined): Json | undefined {
  if (!r) return undefined;
  const s = r.status;
  if (s.state === 'running') return { running: { startedAt: s.startedAt } };
  // No `signal`: it is an int32 in the API that kubelets leave out; the exit code (128+n) tells it.
  return { terminated: { exitCode: s.exitCode, reason: s.reason, startedAt: s.startedAt, finishedAt: s.finishedAt } };
}

function shouldRestart(policy: string, r: ContainerRecord): boolean {
  if (r.status.state !== 'exited') return false;
  if (policy === 'Always') return true;
  if (policy === 'OnFailure') return r.status.exitCode !== 0;
  return false;
}

/**
 * The wait before the run after `last`, and the failure streak that wait belongs to. The streak
 * (failed runs in a row) is carried on each run's spec, not counted from the runs kept, since
 * old runs are removed and a restarted kubelet must go on where the last one stopped.
 */
function backoffAfter(last: ContainerRecord, policy: BackoffPolicy): { waitMs: number; streak: number } {
  if (last.status.state !== 'exited') return { waitMs: 0, streak: 0 };
  const lasted = Date.parse(last.status.finishedAt) - Date.parse(last.status.startedAt);
  const streak = lasted >= policy.resetAfterMs ? 1 : (last.spec.backoffStreak ?? 0) + 1;
  return { waitMs: Math.min(policy.maxMs, policy.baseMs * 2 ** (streak - 1)), streak };
}

export function syncPod(pod: KubeObject, records: readonly ContainerRecord[], now: number, policy: BackoffPolicy = KUBERNETES_BACKOFF, probeStates: ProbeStates = new Map()): SyncResult {
  const spec = isObject(pod.spec) ? pod.spec : {};
  const restartPolicy = typeof spec.restartPolicy === 'string' ? spec.restartPolicy : 'Always';
  const actions: SyncAction[] = [];
  let wakeAt: number | undefined;
  const wake = (at: number): void => {
    wakeAt = wakeAt === undefined ? at : Math.min(wakeAt, at);
  };
  const running = records.filter((r) => r.status.state === 'running');

  /** An exited container to run again: now if its back-off is over, else CrashLoopBackOff until then. */
  const restartAfterBackoff = (name: string, init: boolean, last: ContainerRecord, st: Json): void => {
    if (last.status.state !== 'exited') return;
    const finished = Date.parse(last.status.finishedAt);
    const { waitMs, streak } = backoffAfter(last, policy);
    const readyAt = finished + waitMs;
    if (now >= readyAt) {
      actions.push({ kind: 'start', container: name, init, attempt: last.spec.attempt + 1, backoffStreak: streak });
      return;
    }
    st.state = { waiting: { reason: 'CrashLoopBackOff', message: `back-off ${Math.round(waitMs / 1000)}s restarting failed container=${name} pod=${pod.metadata.name ?? ''}` } };
    st.lastState = stateOf(last);
    wake(readyAt);
  };

  // Deletion: stop everything within the grace period; once nothing runs, the pod may go.
  const podGraceMs = (typeof spec.terminationGracePeriodSeconds === 'number' ? spec.terminationGracePeriodSeconds : 30) * 1000;
  if (pod.metadata.deletionTimestamp) {
    const grace = pod.metadata.deletionGracePeriodSeconds !== undefined ? pod.metadata.deletionGracePeriodSeconds * 1000 : podGraceMs;
    for (const r of running) actions.push({ kind: 'stop', id: r.id, graceMs: grace });
    if (running.length === 0) actions.push({ kind: 'deletePod' });
  }
  const deleting = pod.metadata.deletionTimestamp !== undefined;

  // Init containers, in order: the first one not yet succeeded is the one to run.
  const inits = containersOf(pod, 'initContainers');
  const initStatuses: Json[] = [];
  let initDone = true;
  let initFailedForGood = false;
  for (const c of inits) {
    const name = String(c.name);
    const runs = runsOf(records, name, true);
    const last = runs[runs.length - 1];
    const succeeded = last?.status.state === 'exited' && last.status.exitCode === 0;
    const st: Json = { name, image: c.image, ready: succeeded, restartCount: last?.spec.attempt ?? 0 };
    if (!initDone) {
      st.state = { waiting: { reason: 'PodInitializing' } };
    } else if (!last) {
      if (!deleting) actions.push({ kind: 'start', container: name, init: true, attempt: 0, backoffStreak: 0 });
      st.state = { waiting: { reason: 'PodInitializing' } };
      initDone = false;
    } else if (last.status.state === 'running') {
      st.state = stateOf(last);
      initDone = false;
    } else if (!succeeded) {
      st.state = stateOf(last);
      initDone = false;
      if (restartPolicy === 'Never') initFailedForGood = true;
      else if (!deleting) restartAfterBackoff(name, true, last, st);
    } else {
      st.state = stateOf(last);
    }
    initStatuses.push(st);
  }

  // Regular containers, once initialisation is over.
  const statuses: Json[] = [];
  for (const c of containersOf(pod, 'containers')) {
    const name = String(c.name);
    const runs = runsOf(records, name, false);
    const last = runs[runs.length - 1];
    const prev = runs[runs.length - 2];
    const st: Json = { name, image: c.image, ready: false, started: false, restartCount: last?.spec.attempt ?? 0 };
    if (prev) st.lastState = stateOf(prev);
    if (!last) {
      st.state = { waiting: { reason: initDone ? 'ContainerCreating' : 'PodInitializing' } };
      if (initDone && !initFailedForGood && !deleting) actions.push({ kind: 'start', container: name, init: false, attempt: 0, backoffStreak: 0 });
    } else if (last.status.state === 'running') {
      st.state = stateOf(last);
      const health = containerHealth(probesOf(c), probeStates.get(last.id) ?? {});
      st.ready = !deleting && health.ready;
      st.started = health.started;
      if (health.kill && !deleting) actions.push({ kind: 'stop', id: last.id, graceMs: podGraceMs, container: name, reason: health.kill });
    } else if (shouldRestart(restartPolicy, last) && !deleting) {
      st.state = stateOf(last);
      restartAfterBackoff(name, false, last, st);
    } else {
      st.state = stateOf(last);
    }
    statuses.push(st);
    // Keep the current and the previous run (lastState, `kubectl logs --previous`); drop older ones.
    for (const old of runs.slice(0, -2)) if (old.status.state === 'exited') actions.push({ kind: 'remove', id: old.id });
  }

  const allTerminated = statuses.length > 0 && statuses.every((s) => isObject(s.state) && 'terminated' in s.state);
  const willRestart = actions.some((a) => a.kind === 'start') || wakeAt !== undefined;
  const failedCode = statuses.some((s) => isObject(s.state) && isObject(s.state.terminated) && s.state.terminated.exitCode !== 0);
  let phase = 'Pending';
  if (initFailedForGood) phase = 'Failed';
  else if (statuses.some((s) => isObject(s.state) && 'running' in s.state)) phase = 'Running';
  else if (allTerminated && !willRestart) phase = failedCode ? 'Failed' : 'Succeeded';
  else if (initDone && records.some((r) => !r.spec.init)) phase = 'Running'; // restarting: still a running pod

  const ready = statuses.length > 0 && statuses.every((s) => s.ready === true);
  const t = iso(now);
  const cond = (type: string, ok: boolean, reason?: string): Json => ({ type, status: ok ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: t, ...(ok || !reason ? {} : { reason }) });
  const status: Json = {
    phase,
    conditions: [
      cond('Initialized', initDone, 'ContainersNotInitialized'),
      cond('Ready', ready, 'ContainersNotReady'),
      cond('ContainersReady', ready, 'ContainersNotReady'),
      cond('PodScheduled', true),
    ],
    containerStatuses: statuses,
  };
  if (initStatuses.length > 0) status.initContainerStatuses = initStatuses;
  const first = records[0];
  if (first) status.startTime = first.status.startedAt;
  return wakeAt === undefined ? { actions, status } : { actions, status, wakeAt };
}
