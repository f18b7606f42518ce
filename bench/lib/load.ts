/**
 * A closed-loop HTTP load generator: N workers, each doing request → await full response → next
 * request, against one endpoint through an undici Pool (connections = concurrency), for a warm-up
 * followed by a fixed measurement window. Only 2xx responses count as successes; everything else
 * is tallied by kind so the report can show it.
 */
import { performance } from 'node:perf_hooks';
import { Pool, request } from 'undici';
import { percentile, sleep, sortNumbers } from './stats.js';

export interface RequestSpec {
  path: string;
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  body?: string;
  headers?: Record<string, string>;
}

export interface LoadOptions {
  /** e.g. http://127.0.0.1:2379 */
  origin: string;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** Builds the request for worker `worker`'s `seq`-th call (seq counts from 0 per worker). */
  makeRequest: (worker: number, seq: number) => RequestSpec;
  /** Per-request headers/body timeout; default 30 s. */
  timeoutMs?: number;
  /** Pause after a failed request, so a dead endpoint does not turn into a busy loop; default 10 ms. */
  errorBackoffMs?: number;
}

export interface LoadResult {
  concurrency: number;
  durationMs: number;
  /** Successful (2xx) requests started inside the measurement window. */
  ok: number;
  /** Failed requests started inside the measurement window. */
  errors: number;
  /** Failure kind → count (e.g. "HTTP 503 etcdserver: request timed out", "ECONNREFUSED"). */
  errorKinds: Map<string, number>;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Every successful request's latency, ascending (to merge windows with mergeLoadResults). */
  latenciesMs: Float64Array;
}

export function errorKind(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; name?: unknown; message?: unknown };
    if (typeof e.code === 'string') return e.code;
    if (typeof e.name === 'string' && e.name !== 'Error') return e.name;
    if (typeof e.message === 'string') return e.message.slice(0, 80);
  }
  return String(err).slice(0, 80);
}

export function httpErrorKind(status: number, body: string): string {
  let msg = body;
  try {
    const parsed = JSON.parse(body) as { message?: unknown; error?: unknown };
    const m = parsed.message ?? parsed.error;
    if (typeof m === 'string') msg = m;
    else if (m && typeof m === 'object' && typeof (m as { message?: unknown }).message === 'string') msg = (m as { message: string }).message;
  } catch {
    /* not JSON */
  }
  return `HTTP ${status} ${msg.replace(/\s+/g, ' ').trim().slice(0, 70)}`;
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

export async function runClosedLoop(opts: LoadOptions): Promise<LoadResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const backoff = opts.errorBackoffMs ?? 10;
  const pool = new Pool(opts.origin, { connections: opts.concurrency, pipelining: 1, keepAliveTimeout: 30_000 });
  const start = performance.now();
  const measureFrom = start + opts.warmupMs;
  const end = measureFrom + opts.durationMs;
  const latencies: number[] = [];
  const errorKinds = new Map<string, number>();
  let ok = 0;
  let errors = 0;

  const worker = async (w: number): Promise<void> => {
    let seq = 0;
    for (;;) {
      const t0 = performance.now();
      if (t0 >= end) return;
      const spec = opts.makeRequest(w, seq++);
      const counted = t0 >= measureFrom;
      try {
        const res = await pool.request({
          path: spec.path,
          method: spec.method ?? 'POST',
          headers: spec.headers ?? { 'content-type': 'application/json' },
          body: spec.body,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
        if (res.statusCode >= 200 && res.statusCode < 300) {
          await res.body.dump({ limit: 1 << 20 });
          const t1 = performance.now();
          if (counted) {
            ok++;
            latencies.push(t1 - t0);
          }
        } else {
          const text = await res.body.text();
          if (counted) {
            errors++;
            bump(errorKinds, httpErrorKind(res.statusCode, text));
          }
          await sleep(backoff);
        }
      } catch (err) {
        if (counted) {
          errors++;
          bump(errorKinds, errorKind(err));
        }
        await sleep(backoff);
      }
    }
  };

  try {
    await Promise.all(Array.from({ length: opts.concurrency }, (_, w) => worker(w)));
  } finally {
    await pool.close().catch(() => undefined);
  }
  return summarize(opts.concurrency, opts.durationMs, ok, errors, errorKinds, sortNumbers(latencies));
}

function summarize(concurrency: number, durationMs: number, ok: number, errors: number, errorKinds: Map<string, number>, sorted: Float64Array): LoadResult {
  return {
    concurrency,
    durationMs,
    ok,
    errors,
    errorKinds,
    opsPerSec: ok / (durationMs / 1000),
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length ? sorted[sorted.length - 1] : Number.NaN,
    latenciesMs: sorted,
  };
}

/** Several measurement windows of one scenario as one: counts and time add up, percentiles of all requests. */
export function mergeLoadResults(parts: readonly LoadResult[]): LoadResult {
  if (parts.length === 0) throw new Error('mergeLoadResults: nothing to merge');
  const kinds = new Map<string, number>();
  for (const p of parts) for (const [k, n] of p.errorKinds) kinds.set(k, (kinds.get(k) ?? 0) + n);
  const all: number[] = [];
  for (const p of parts) for (const v of p.latenciesMs) all.push(v);
  const sum = (f: (p: LoadResult) => number): number => parts.reduce((a, p) => a + f(p), 0);
  return summarize(parts[0].concurrency, sum((p) => p.durationMs), sum((p) => p.ok), sum((p) => p.errors), kinds, sortNumbers(all));
}

export interface JsonResponse<T = unknown> {
  status: number;
  json: T | undefined;
  text: string;
}

/** One-off JSON POST (for setup, status polling and health checks; not for measurements). */
export async function postJson<T = unknown>(url: string, body: unknown, timeoutMs = 2_000): Promise<JsonResponse<T>> {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    reset: true, // do not keep connections to members that may be killed next
  });
  const text = await res.body.text();
  let json: T | undefined;
  try {
    json = JSON.parse(text) as T;
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, json, text };
}

export function formatErrorKinds(kinds: Map<string, number>, max = 3): string {
  return [...kinds.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, max)
    .map(([k, n]) => `${n}× ${k}`)
    .join('; ');
}
