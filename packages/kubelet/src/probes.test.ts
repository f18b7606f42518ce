import { describe, expect, it } from 'vitest';
import { containerHealth, initialProbeState, nextProbeAt, parseProbe, PROBE_TYPES, recordOutcome, type ProbeSpec, type ProbeState } from './probes.js';

const spec = (over: Partial<ProbeSpec> = {}): ProbeSpec => ({
  action: { kind: 'exec', command: ['true'] },
  initialDelayMs: 0,
  periodMs: 10_000,
  timeoutMs: 1000,
  failureThreshold: 3,
  successThreshold: 1,
  ...over,
});

/** Runs a sequence of outcomes through recordOutcome, one period apart, from `state`. */
function run(s: ProbeSpec, state: ProbeState, outcomes: boolean[], start = 0): ProbeState[] {
  const out: ProbeState[] = [];
  let cur = state;
  outcomes.forEach((ok, i) => {
    cur = recordOutcome(s, cur, ok, start + i * s.periodMs, ok ? undefined : `fail ${i}`);
    out.push(cur);
  });
  return out;
}

describe('parseProbe', () => {
  it('parses an httpGet probe with Kubernetes defaults', () => {
    expect(parseProbe({ httpGet: { port: 8080 } }, 'liveness')).toEqual({
      action: { kind: 'http', port: 8080, path: '/', scheme: 'HTTP', headers: [] },
      initialDelayMs: 0,
      periodMs: 10_000,
      timeoutMs: 1000,
      failureThreshold: 3,
      successThreshold: 1,
    });
  });

  it('keeps every httpGet field given', () => {
    const p = parseProbe(
      {
        httpGet: { port: 'http', path: '/healthz', scheme: 'HTTPS', host: '10.0.0.5', httpHeaders: [{ name: 'X-A', value: 'b' }, 'junk', { name: 'X-C', value: 'd' }] },
        initialDelaySeconds: 5,
        periodSeconds: 2,
        timeoutSeconds: 3,
        failureThreshold: 7,
        successThreshold: 4,
      },
      'readiness',
    );
    expect(p).toEqual({
      action: { kind: 'http', port: 'http', path: '/healthz', scheme: 'HTTPS', host: '10.0.0.5', headers: [['X-A', 'b'], ['X-C', 'd']] },
      initialDelayMs: 5000,
      periodMs: 2000,
      timeoutMs: 3000,
      failureThreshold: 7,
      successThreshold: 4,
    });
  });

  it('parses a tcpSocket probe, keeping a named port as a string', () => {
    expect(parseProbe({ tcpSocket: { port: 'db' } }, 'readiness')?.action).toEqual({ kind: 'tcp', port: 'db' });
    expect(parseProbe({ tcpSocket: { port: 5432, host: 'db.local' } }, 'readiness')?.action).toEqual({ kind: 'tcp', port: 5432, host: 'db.local' });
  });

  it('parses an exec probe, stringifying its arguments', () => {
    expect(parseProbe({ exec: { command: ['cat', '/tmp/healthy', 3] } }, 'startup')?.action).toEqual({ kind: 'exec', command: ['cat', '/tmp/healthy', '3'] });
  });

  it('forces successThreshold to 1 for liveness and startup probes, but not readiness', () => {
    const raw = { exec: { command: ['true'] }, successThreshold: 3 };
    expect(parseProbe(raw, 'liveness')?.successThreshold).toBe(1);
    expect(parseProbe(raw, 'startup')?.successThreshold).toBe(1);
    expect(parseProbe(raw, 'readiness')?.successThreshold).toBe(3);
  });

  it('falls back to the defaults for invalid thresholds and times', () => {
    const p = parseProbe({ exec: { command: ['true'] }, failureThreshold: 0, successThreshold: 1.5, periodSeconds: -1, timeoutSeconds: 'x', initialDelaySeconds: Number.NaN }, 'readiness');
    expect(p).toMatchObject({ failureThreshold: 3, successThreshold: 1, periodMs: 10_000, timeoutMs: 1000, initialDelayMs: 0 });
  });

  it('treats periodSeconds 0 and timeoutSeconds 0 as unset, as Kubernetes defaulting does (10 s, 1 s)', () => {
    // Kubernetes' SetDefaults_Probe turns 0 into 10 (period) and 1 (timeout); a 0 ms period or timeout
    // would mean a probe that is always due, or one that always times out.
    const p = parseProbe({ exec: { command: ['true'] }, periodSeconds: 0, timeoutSeconds: 0, initialDelaySeconds: 0 }, 'liveness');
    expect(p).toMatchObject({ periodMs: 10_000, timeoutMs: 1000, initialDelayMs: 0 });
  });

  it('prefers httpGet over tcpSocket over exec when several are given', () => {
    expect(parseProbe({ httpGet: { port: 1 }, tcpSocket: { port: 2 }, exec: { command: ['x'] } }, 'liveness')?.action.kind).toBe('http');
    expect(parseProbe({ tcpSocket: { port: 2 }, exec: { command: ['x'] } }, 'liveness')?.action.kind).toBe('tcp');
  });

  it('is undefined without a valid handler', () => {
    expect(parseProbe(undefined, 'liveness')).toBeUndefined();
    expect(parseProbe(null, 'liveness')).toBeUndefined();
    expect(parseProbe('httpGet', 'liveness')).toBeUndefined();
    expect(parseProbe({}, 'liveness')).toBeUndefined();
    expect(parseProbe({ periodSeconds: 5 }, 'readiness')).toBeUndefined();
    expect(parseProbe({ exec: { command: 'true' } }, 'liveness')).toBeUndefined();
    expect(parseProbe({ exec: {} }, 'liveness')).toBeUndefined();
    expect(parseProbe({ httpGet: 'x' }, 'liveness')).toBeUndefined();
    expect(parseProbe({ tcpSocket: 8080 }, 'liveness')).toBeUndefined();
  });
});

describe('initialProbeState', () => {
  it('is alive for liveness, not ready for readiness, unknown for startup, with no streak', () => {
    expect(initialProbeState('liveness')).toEqual({ result: 'success', streak: 0 });
    expect(initialProbeState('readiness')).toEqual({ result: 'failure', streak: 0 });
    expect(initialProbeState('startup')).toEqual({ result: 'unknown', streak: 0 });
    expect(PROBE_TYPES).toEqual(['startup', 'liveness', 'readiness']);
  });
});

describe('nextProbeAt', () => {
  it('waits the initial delay after the start, then a period after each run', () => {
    const s = spec({ initialDelayMs: 5000, periodMs: 3000 });
    expect(nextProbeAt(s, initialProbeState('liveness'), 100_000)).toBe(105_000);
    const after = recordOutcome(s, initialProbeState('liveness'), true, 105_200);
    expect(nextProbeAt(s, after, 100_000)).toBe(108_200);
  });

  it('is the start itself without an initial delay', () => {
    expect(nextProbeAt(spec({ initialDelayMs: 0 }), initialProbeState('readiness'), 42)).toBe(42);
  });
});

describe('recordOutcome', () => {
  it('keeps a liveness probe alive through two failures and fails it on the third', () => {
    const s = spec({ failureThreshold: 3 });
    const [a, b, c] = run(s, initialProbeState('liveness'), [false, false, false]);
    expect(a).toEqual({ result: 'success', streak: 1, lastOutcome: false, lastRunAt: 0, message: 'fail 0' });
    expect(b).toEqual({ result: 'success', streak: 2, lastOutcome: false, lastRunAt: 10_000, message: 'fail 1' });
    expect(c).toEqual({ result: 'failure', streak: 3, lastOutcome: false, lastRunAt: 20_000, message: 'fail 2' });
  });

  it('resets the failure streak on a success in between', () => {
    const s = spec({ failureThreshold: 3 });
    const states = run(s, initialProbeState('liveness'), [false, false, true, false, false]);
    expect(states.map((x) => [x.result, x.streak])).toEqual([
      ['success', 1],
      ['success', 2],
      ['success', 1],
      ['success', 1],
      ['success', 2],
    ]);
    expect(states[2].message).toBeUndefined();
    // …and a third failure in a row now fails it.
    expect(recordOutcome(s, states[4], false, 99, 'boom')).toEqual({ result: 'failure', streak: 3, lastOutcome: false, lastRunAt: 99, message: 'boom' });
  });

  it('recovers a failed liveness probe at the first success', () => {
    const s = spec({ failureThreshold: 1 });
    const failed = recordOutcome(s, initialProbeState('liveness'), false, 1, 'down');
    expect(failed.result).toBe('failure');
    expect(recordOutcome(s, failed, true, 2)).toEqual({ result: 'success', streak: 1, lastOutcome: true, lastRunAt: 2 });
  });

  it('makes a readiness probe with successThreshold 2 ready only after two successes in a row', () => {
    const s = spec({ successThreshold: 2, failureThreshold: 2 });
    const states = run(s, initialProbeState('readiness'), [true, false, true, true, true, false, false]);
    expect(states.map((x) => x.result)).toEqual(['failure', 'failure', 'failure', 'success', 'success', 'success', 'failure']);
    expect(states.map((x) => x.streak)).toEqual([1, 1, 1, 2, 3, 1, 2]);
  });

  it('flips a startup probe from unknown to success at its first success', () => {
    const s = spec();
    expect(recordOutcome(s, initialProbeState('startup'), true, 5).result).toBe('success');
    const twice = run(s, initialProbeState('startup'), [false, false]);
    expect(twice[1].result).toBe('unknown');
  });

  it('does not change the state it is given', () => {
    const s = spec({ failureThreshold: 1 });
    const before = initialProbeState('liveness');
    recordOutcome(s, before, false, 1, 'x');
    expect(before).toEqual({ result: 'success', streak: 0 });
  });
});

describe('containerHealth', () => {
  const failed = (message: string): ProbeState => ({ result: 'failure', streak: 3, lastOutcome: false, lastRunAt: 1, message });
  const ok: ProbeState = { result: 'success', streak: 1, lastOutcome: true, lastRunAt: 1 };

  it('is started and ready without probes', () => {
    expect(containerHealth({}, {})).toEqual({ started: true, ready: true });
  });

  it('is neither started nor ready until the startup probe succeeds, and ignores liveness until then', () => {
    const specs = { startup: spec(), liveness: spec(), readiness: spec() };
    expect(containerHealth(specs, {})).toEqual({ started: false, ready: false });
    expect(containerHealth(specs, { liveness: failed('dead'), readiness: ok })).toEqual({ started: false, ready: false });
    expect(containerHealth(specs, { startup: { result: 'unknown', streak: 2, lastOutcome: false }, readiness: ok })).toEqual({ started: false, ready: false });
    expect(containerHealth(specs, { startup: ok, readiness: ok })).toEqual({ started: true, ready: true });
    // Started: now liveness counts.
    expect(containerHealth(specs, { startup: ok, liveness: failed('dead'), readiness: ok })).toEqual({ started: true, ready: false, kill: 'Liveness probe failed: dead' });
  });

  it('kills a container whose startup probe failed for good', () => {
    expect(containerHealth({ startup: spec() }, { startup: failed('connection refused') })).toEqual({ started: false, ready: false, kill: 'Startup probe failed: connection refused' });
    expect(containerHealth({ startup: spec() }, { startup: { result: 'failure', streak: 3 } })).toEqual({ started: false, ready: false, kill: 'Startup probe failed:' });
  });

  it('kills a container whose liveness probe failed for good', () => {
    expect(containerHealth({ liveness: spec() }, { liveness: failed('HTTP probe failed with statuscode: 500') })).toEqual({
      started: true,
      ready: false,
      kill: 'Liveness probe failed: HTTP probe failed with statuscode: 500',
    });
  });

  it('keeps a live container whose liveness probe has not failed for good', () => {
    expect(containerHealth({ liveness: spec() }, { liveness: { result: 'success', streak: 2, lastOutcome: false, message: 'x' } })).toEqual({ started: true, ready: true });
  });

  it('makes a container with a failing readiness probe not ready, without killing it', () => {
    expect(containerHealth({ readiness: spec() }, { readiness: failed('nope') })).toEqual({ started: true, ready: false });
    expect(containerHealth({ readiness: spec() }, {})).toEqual({ started: true, ready: false });
    expect(containerHealth({ readiness: spec() }, { readiness: ok })).toEqual({ started: true, ready: true });
  });

  it('ignores states of probes the container does not have', () => {
    expect(containerHealth({}, { liveness: failed('x'), readiness: failed('y'), startup: failed('z') })).toEqual({ started: true, ready: true });
  });
});
