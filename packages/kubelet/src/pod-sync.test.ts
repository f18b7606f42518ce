import { describe, expect, it } from 'vitest';
import type { KubeObject } from '@flotilla/api';
import { syncPod, type BackoffPolicy } from './pod-sync.js';
import type { ContainerRecord } from './runtime/runtime.js';

const T0 = Date.parse('2026-11-29T10:00:00Z');
const policy: BackoffPolicy = { baseMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 };
const at = (ms: number): string => new Date(T0 + ms).toISOString();

function pod(opts: { restartPolicy?: string; containers?: string[]; inits?: string[]; deleting?: boolean } = {}): KubeObject {
  return {
    metadata: { name: 'p', namespace: 'default', uid: 'u1', ...(opts.deleting ? { deletionTimestamp: at(0), deletionGracePeriodSeconds: 5 } : {}) },
    spec: {
      restartPolicy: opts.restartPolicy ?? 'Always',
      containers: (opts.containers ?? ['app']).map((name) => ({ name, image: 'busybox' })),
      ...(opts.inits ? { initContainers: opts.inits.map((name) => ({ name, image: 'busybox' })) } : {}),
    },
  };
}

let seq = 0;
function running(name: string, startedMs: number, extra: { init?: boolean; attempt?: number } = {}): ContainerRecord {
  return { id: `c${seq++}`, spec: { podUid: 'u1', podNamespace: 'default', podName: 'p', name, image: 'busybox', attempt: extra.attempt ?? 0, init: extra.init }, status: { state: 'running', startedAt: at(startedMs) } };
}
function exited(name: string, startedMs: number, finishedMs: number, exitCode: number, extra: { init?: boolean; attempt?: number; streak?: number } = {}): ContainerRecord {
  return {
    id: `c${seq++}`,
    spec: { podUid: 'u1', podNamespace: 'default', podName: 'p', name, image: 'busybox', attempt: extra.attempt ?? 0, init: extra.init, backoffStreak: extra.streak ?? 0 },
    status: { state: 'exited', startedAt: at(startedMs), finishedAt: at(finishedMs), exitCode, reason: exitCode === 0 ? 'Completed' : 'Error' },
  };
}
const cs = (r: ReturnType<typeof syncPod>, i = 0): Record<string, unknown> => (r.status.containerStatuses as Record<string, unknown>[])[i];

describe('syncPod', () => {
  it('starts every container of a new pod; the pod is Pending, its containers ContainerCreating', () => {
    const r = syncPod(pod({ containers: ['a', 'b'] }), [], T0, policy);
    expect(r.actions).toEqual([{ kind: 'start', container: 'a', init: false, attempt: 0, backoffStreak: 0 }, { kind: 'start', container: 'b', init: false, attempt: 0, backoffStreak: 0 }]);
    expect(r.status.phase).toBe('Pending');
    expect(cs(r).state).toEqual({ waiting: { reason: 'ContainerCreating' } });
  });

  it('reports a running pod as Running and Ready, with nothing to do', () => {
    const r = syncPod(pod(), [running('app', 0)], T0 + 1000, policy);
    expect(r.actions).toEqual([]);
    expect(r.status.phase).toBe('Running');
    expect(r.status.conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'True' }));
    expect(cs(r)).toMatchObject({ ready: true, started: true, restartCount: 0, state: { running: { startedAt: at(0) } } });
  });

  it('backs off a crashing container (CrashLoopBackOff), doubling, then restarts it', () => {
    const first = [exited('app', 0, 1000, 1)];
    const waiting = syncPod(pod(), first, T0 + 2000, policy);
    expect(waiting.actions).toEqual([]);
    expect(cs(waiting).state).toMatchObject({ waiting: { reason: 'CrashLoopBackOff' } });
    expect(cs(waiting).lastState).toMatchObject({ terminated: { exitCode: 1 } });
    expect(waiting.wakeAt).toBe(T0 + 11_000);
    expect(syncPod(pod(), first, T0 + 11_000, policy).actions).toEqual([{ kind: 'start', container: 'app', init: false, attempt: 1, backoffStreak: 1 }]);
    // Third failure in a row: 10 s × 2² = 40 s.
    const three = [exited('app', 0, 1000, 1), exited('app', 11_000, 12_000, 1, { attempt: 1, streak: 1 }), exited('app', 32_000, 33_000, 1, { attempt: 2, streak: 2 })];
    const r = syncPod(pod(), three, T0 + 34_000, policy);
    expect(r.wakeAt).toBe(T0 + 73_000);
    expect(cs(r).restartCount).toBe(2);
    // Only the current and the previous run are kept.
    expect(r.actions).toEqual([{ kind: 'remove', id: three[0].id }]);
  });

  it('goes on with the back-off and the restart count from the runs kept, though older runs were removed', () => {
    // The 6th run (5 restarts) failed after 5 failures in a row: 10 s × 2⁵ = 320 s, capped at 300 s.
    const kept = [exited('app', 0, 1000, 1, { attempt: 4, streak: 4 }), exited('app', 200_000, 201_000, 1, { attempt: 5, streak: 5 })];
    const r = syncPod(pod(), kept, T0 + 202_000, policy);
    expect(r.wakeAt).toBe(T0 + 201_000 + 300_000);
    expect(cs(r).restartCount).toBe(5);
    expect(syncPod(pod(), kept, T0 + 501_000, policy).actions).toEqual([{ kind: 'start', container: 'app', init: false, attempt: 6, backoffStreak: 6 }]);
  });

  it('resets the back-off after a long healthy run', () => {
    const runs = [exited('app', 0, 1000, 1), exited('app', 11_000, 11_000 + 700_000, 1, { attempt: 1 })];
    expect(syncPod(pod(), runs, T0 + 711_001, policy).wakeAt).toBe(T0 + 711_000 + 10_000);
  });

  it('follows the restart policy: OnFailure finishes on success, Never fails on failure', () => {
    const ok = syncPod(pod({ restartPolicy: 'OnFailure' }), [exited('app', 0, 1000, 0)], T0 + 5000, policy);
    expect(ok.actions).toEqual([]);
    expect(ok.status.phase).toBe('Succeeded');
    const bad = syncPod(pod({ restartPolicy: 'Never' }), [exited('app', 0, 1000, 2)], T0 + 5000, policy);
    expect(bad.actions).toEqual([]);
    expect(bad.status.phase).toBe('Failed');
    expect(cs(bad).state).toMatchObject({ terminated: { exitCode: 2, reason: 'Error' } });
  });

  it('runs init containers one at a time, to success, before the others', () => {
    const p = pod({ inits: ['migrate', 'seed'] });
    expect(syncPod(p, [], T0, policy).actions).toEqual([{ kind: 'start', container: 'migrate', init: true, attempt: 0, backoffStreak: 0 }]);
    expect(syncPod(p, [running('migrate', 0, { init: true })], T0 + 100, policy).actions).toEqual([]);
    const afterFirst = syncPod(p, [exited('migrate', 0, 100, 0, { init: true })], T0 + 200, policy);
    expect(afterFirst.actions).toEqual([{ kind: 'start', container: 'seed', init: true, attempt: 0, backoffStreak: 0 }]);
    expect(afterFirst.status.conditions).toContainEqual(expect.objectContaining({ type: 'Initialized', status: 'False' }));
    const done = syncPod(p, [exited('migrate', 0, 100, 0, { init: true }), exited('seed', 200, 300, 0, { init: true })], T0 + 400, policy);
    expect(done.actions).toEqual([{ kind: 'start', container: 'app', init: false, attempt: 0, backoffStreak: 0 }]);
    expect(done.status.conditions).toContainEqual(expect.objectContaining({ type: 'Initialized', status: 'True' }));
    const failed = syncPod(pod({ inits: ['migrate'], restartPolicy: 'Never' }), [exited('migrate', 0, 100, 1, { init: true })], T0 + 200, policy);
    expect(failed.actions).toEqual([]);
    expect(failed.status.phase).toBe('Failed');
  });

  it('stops a deleted pod\'s containers within its grace period, then lets the pod go', () => {
    const r = syncPod(pod({ deleting: true }), [running('app', 0)], T0 + 1000, policy);
    expect(r.actions).toEqual([{ kind: 'stop', id: expect.any(String), graceMs: 5000 }]);
    expect(syncPod(pod({ deleting: true }), [exited('app', 0, 2000, 143)], T0 + 3000, policy).actions).toEqual([{ kind: 'deletePod' }]);
  });
});

describe('syncPod with probes', () => {
  type ProbeState = import('./probes.js').ProbeState;
  const exec = { exec: { command: ['true'] } };
  /** pod() with probes on its first container (and, if given, a pod-level grace period). */
  function probed(probes: Record<string, unknown>, opts: { deleting?: boolean; grace?: number } = {}): KubeObject {
    const p = pod({ deleting: opts.deleting });
    const spec = p.spec as { containers: Record<string, unknown>[]; terminationGracePeriodSeconds?: number };
    spec.containers[0] = { ...spec.containers[0], ...probes };
    if (opts.grace !== undefined) spec.terminationGracePeriodSeconds = opts.grace;
    return p;
  }
  const ok: ProbeState = { result: 'success', streak: 1, lastOutcome: true, lastRunAt: T0 };
  const failed = (message: string): ProbeState => ({ result: 'failure', streak: 3, lastOutcome: false, lastRunAt: T0, message });
  const ready = (r: ReturnType<typeof syncPod>): unknown => (r.status.conditions as Record<string, unknown>[]).find((c) => c.type === 'Ready')?.status;

  it('keeps a running container with a readiness probe and no result yet not ready', () => {
    const r = syncPod(probed({ readinessProbe: exec }), [running('app', 0)], T0 + 1000, policy);
    expect(r.actions).toEqual([]);
    expect(r.status.phase).toBe('Running');
    expect(cs(r)).toMatchObject({ ready: false, started: true });
    expect(r.status.conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'False', reason: 'ContainersNotReady' }));
    expect(r.status.conditions).toContainEqual(expect.objectContaining({ type: 'ContainersReady', status: 'False' }));
  });

  it('makes the container and the pod ready once the readiness probe succeeds', () => {
    const c = running('app', 0);
    const r = syncPod(probed({ readinessProbe: exec }), [c], T0 + 1000, policy, new Map([[c.id, { readiness: ok }]]));
    expect(r.actions).toEqual([]);
    expect(cs(r)).toMatchObject({ ready: true, started: true });
    expect(ready(r)).toBe('True');
  });

  it('reads probe states by container record id, not by name', () => {
    const c = running('app', 0);
    const r = syncPod(probed({ readinessProbe: exec }), [c], T0 + 1000, policy, new Map([['app', { readiness: ok }]]));
    expect(cs(r).ready).toBe(false);
  });

  it('makes a container not ready again when its readiness probe fails, without stopping it', () => {
    const c = running('app', 0);
    const r = syncPod(probed({ readinessProbe: exec }), [c], T0 + 1000, policy, new Map([[c.id, { readiness: failed('nope') }]]));
    expect(r.actions).toEqual([]);
    expect(r.status.phase).toBe('Running');
    expect(cs(r).ready).toBe(false);
    expect(ready(r)).toBe('False');
  });

  it('stops a container whose liveness probe failed, within the pod\'s grace period (30 s by default)', () => {
    const c = running('app', 0);
    const r = syncPod(probed({ livenessProbe: exec }), [c], T0 + 1000, policy, new Map([[c.id, { liveness: failed('HTTP probe failed with statuscode: 500') }]]));
    expect(r.actions).toEqual([{ kind: 'stop', id: c.id, graceMs: 30_000, container: 'app', reason: 'Liveness probe failed: HTTP probe failed with statuscode: 500' }]);
    expect(cs(r)).toMatchObject({ ready: false, started: true });
    expect(r.status.phase).toBe('Running');
  });

  it('uses terminationGracePeriodSeconds for a liveness kill', () => {
    const c = running('app', 0);
    const r = syncPod(probed({ livenessProbe: exec }, { grace: 7 }), [c], T0 + 1000, policy, new Map([[c.id, { liveness: failed('x') }]]));
    expect(r.actions).toEqual([{ kind: 'stop', id: c.id, graceMs: 7000, container: 'app', reason: 'Liveness probe failed: x' }]);
  });

  it('does not stop a container whose liveness probe has failed fewer times than its threshold', () => {
    const c = running('app', 0);
    const r = syncPod(probed({ livenessProbe: exec }), [c], T0 + 1000, policy, new Map([[c.id, { liveness: { result: 'success', streak: 2, lastOutcome: false, message: 'x' } }]]));
    expect(r.actions).toEqual([]);
    expect(cs(r)).toMatchObject({ ready: true, started: true });
  });

  it('holds a container with a startup probe not yet succeeded as not started, and ignores its liveness failure', () => {
    const c = running('app', 0);
    const p = probed({ startupProbe: exec, livenessProbe: exec, readinessProbe: exec });
    const r = syncPod(p, [c], T0 + 1000, policy, new Map([[c.id, { liveness: failed('dead'), readiness: ok }]]));
    expect(r.actions).toEqual([]);
    expect(cs(r)).toMatchObject({ ready: false, started: false });
    expect(ready(r)).toBe('False');
    expect(r.status.phase).toBe('Running');
    // Once started, the same states mean a kill.
    const after = syncPod(p, [c], T0 + 2000, policy, new Map([[c.id, { startup: ok, liveness: failed('dead'), readiness: ok }]]));
    expect(after.actions).toEqual([{ kind: 'stop', id: c.id, graceMs: 30_000, container: 'app', reason: 'Liveness probe failed: dead' }]);
  });

  it('stops a container whose startup probe failed for good', () => {
    const c = running('app', 0);
    const r = syncPod(probed({ startupProbe: exec }), [c], T0 + 1000, policy, new Map([[c.id, { startup: failed('timeout') }]]));
    expect(r.actions).toEqual([{ kind: 'stop', id: c.id, graceMs: 30_000, container: 'app', reason: 'Startup probe failed: timeout' }]);
    expect(cs(r)).toMatchObject({ ready: false, started: false });
  });

  it('never kills a container of a pod being deleted for a probe: it only stops it within the deletion grace', () => {
    const c = running('app', 0);
    const r = syncPod(probed({ livenessProbe: exec, readinessProbe: exec }, { deleting: true }), [c], T0 + 1000, policy, new Map([[c.id, { liveness: failed('dead'), readiness: ok }]]));
    expect(r.actions).toEqual([{ kind: 'stop', id: c.id, graceMs: 5000 }]);
    expect(cs(r).ready).toBe(false);
  });
});
