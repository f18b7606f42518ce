/**
 * Container probes as Kubernetes defines them, decided purely: when a probe is due, and what a
 * run of results means. A probe's result changes only after `failureThreshold` failures or
 * `successThreshold` successes in a row, so one slow answer does not restart a container.
 *
 * - startup: until it succeeds the container is not "started", and the other probes wait;
 *   when it fails for good the container is killed (and restarted per restartPolicy).
 * - liveness: when it fails for good the container is killed.
 * - readiness: the container is ready only while it succeeds; it starts out not ready.
 *
 * The effects (an HTTP GET, a TCP connect, an exec) are prober.ts's.
 */
import { isObject } from '@flotilla/api';

export type ProbeType = 'startup' | 'liveness' | 'readiness';
export const PROBE_TYPES: readonly ProbeType[] = ['startup', 'liveness', 'readiness'];

export type ProbeAction =
  | { kind: 'http'; port: number | string; path: string; scheme: 'HTTP' | 'HTTPS'; host?: string; headers: [string, string][] }
  | { kind: 'tcp'; port: number | string; host?: string }
  | { kind: 'exec'; command: string[] };

export interface ProbeSpec {
  action: ProbeAction;
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  failureThreshold: number;
  successThreshold: number;
}

export interface ProbeState {
  /** The probe's standing result: it changes only when a threshold is reached. */
  result: 'success' | 'failure' | 'unknown';
  /** Same outcomes in a row, and which outcome. */
  streak: number;
  lastOutcome?: boolean;
  lastRunAt?: number;
  /** The last failure's message (for the event and the pod's condition). */
  message?: string;
}

/** Seconds → ms; 0 means "the default" for periods and timeouts (as the API server defaults them), not for delays. */
const seconds = (v: unknown, def: number, zeroAllowed = false): number =>
  typeof v === 'number' && Number.isFinite(v) && (v > 0 || (zeroAllowed && v === 0)) ? v * 1000 : def * 1000;
const count = (v: unknown, def: number): number => (typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : def);

/** The probe from a container's spec field (livenessProbe…), with Kubernetes' defaults. */
export function parseProbe(probe: unknown, type: ProbeType): ProbeSpec | undefined {
  if (!isObject(probe)) return undefined;
  let action: ProbeAction | undefined;
  if (isObject(probe.httpGet)) {
    const h = probe.httpGet;
    action = {
      kind: 'http',
      port: typeof h.port === 'number' || typeof h.port === 'string' ? h.port : 80,
      path: typeof h.path === 'string' && h.path ? h.path : '/',
      scheme: h.scheme === 'HTTPS' ? 'HTTPS' : 'HTTP',
      headers: (Array.isArray(h.httpHeaders) ? h.httpHeaders.filter(isObject) : []).map((x) => [String(x.name), String(x.value)]),
      ...(typeof h.host === 'string' && h.host ? { host: h.host } : {}),
    };
  } else if (isObject(probe.tcpSocket)) {
    const t = probe.tcpSocket;
    action = { kind: 'tcp', port: typeof t.port === 'number' || typeof t.port === 'string' ? t.port : 80, ...(typeof t.host === 'string' && t.host ? { host: t.host } : {}) };
  } else if (isObject(probe.exec) && Array.isArray(probe.exec.command)) {
    action = { kind: 'exec', command: probe.exec.command.map(String) };
  }
  if (!action) return undefined;
  return {
    action,
    initialDelayMs: seconds(probe.initialDelaySeconds, 0, true),
    periodMs: seconds(probe.periodSeconds, 10),
    timeoutMs: seconds(probe.timeoutSeconds, 1),
    failureThreshold: count(probe.failureThreshold, 3),
    // Liveness and startup must use 1: a dead container is dead at the first success's opposite.
    successThreshold: type === 'readiness' ? count(probe.successThreshold, 1) : 1,
  };
}

/** Before any run: not ready until proven, alive until proven otherwise, not started until it is. */
export function initialProbeState(type: ProbeType): ProbeState {
  return { result: type === 'liveness' ? 'success' : type === 'readiness' ? 'failure' : 'unknown', streak: 0 };
}

/** When the probe should run next, given when the container started. */
export function nextProbeAt(spec: ProbeSpec, state: ProbeState, startedAt: number): number {
  return state.lastRunAt === undefined ? startedAt + spec.initialDelayMs : state.lastRunAt + spec.periodMs;
}

/** The state after one more outcome. */
export function recordOutcome(spec: ProbeSpec, state: ProbeState, ok: boolean, at: number, message?: string): ProbeState {
  const streak = state.lastOutcome === ok ? state.streak + 1 : 1;
  let result = state.result;
  if (ok && streak >= spec.successThreshold) result = 'success';
  if (!ok && streak >= spec.failureThreshold) result = 'failure';
  const next: ProbeState = { result, streak, lastOutcome: ok, lastRunAt: at };
  if (!ok && message !== undefined) next.message = message;
  else if (ok) delete next.message;
  return next;
}

/** What the probes of one running container say, as syncPod reads them. */
export interface ContainerHealth {
  /** The startup probe has succeeded (or there is none). */
  started: boolean;
  /** Ready to serve: started, and the readiness probe succeeds (or there is none). */
  ready: boolean;
  /** Why the container must be killed: its liveness or startup probe failed for good. */
  kill?: string;
}

export function containerHealth(specs: Partial<Record<ProbeType, ProbeSpec>>, states: Partial<Record<ProbeType, ProbeState>>): ContainerHealth {
  const state = (t: ProbeType): ProbeState => states[t] ?? initialProbeState(t);
  const started = !specs.startup || state('startup').result === 'success';
  if (specs.startup && state('startup').result === 'failure') return { started: false, ready: false, kill: `Startup probe failed: ${state('startup').message ?? ''}`.trim() };
  if (started && specs.liveness && state('liveness').result === 'failure') return { started, ready: false, kill: `Liveness probe failed: ${state('liveness').message ?? ''}`.trim() };
  return { started, ready: started && (!specs.readiness || state('readiness').result === 'success') };
}
