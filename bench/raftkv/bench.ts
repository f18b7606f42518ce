/**
 * raftkv vs etcd: the same etcd-v3-JSON load against a 3-member raftkv cluster and a 3-member etcd
 * cluster on loopback, both fsyncing, on the same disk. Both run side by side; each scenario is
 * measured in alternating windows (see runAll), then each system's leader is killed in turn.
 *
 *   npm run build && npm run bench:raftkv
 *
 * Environment:
 *   BENCH_SECONDS          measured time per scenario and system (default 10)
 *   BENCH_ROUNDS           windows it is split into, alternating between the systems (default 4)
 *   BENCH_INITIAL_WARMUP_SECONDS  unmeasured writes to each system before the first window (default 6)
 *   BENCH_WARMUP_SECONDS   warm-up before each window (default 1)
 *   BENCH_KILL_ROUNDS      leader SIGKILL rounds (default 5)
 *   BENCH_KILL_WRITERS     concurrent writers during the kill rounds (default 8)
 *   BENCH_KILL_TIMEOUT_MS  client-side per-request timeout of those writers before they try
 *                          another member (default 250)
 *   BENCH_SYSTEMS          comma list, default "raftkv,etcd"
 *   BENCH_RAFTKV_CLI       flotilla launcher to run raftkv members with (default: this repo's
 *                          packages/cli/bin/flotilla.js), e.g. to compare another build
 *
 * This is a measurement, not a test: it exits 0 after printing even when targets are missed, and
 * non-zero only when the harness itself fails (e.g. a cluster does not come up).
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { LocalCluster, type ClusterKind, type Member } from '../lib/cluster.js';
import { ensureEtcd, etcdKind, etcdVersion } from '../lib/etcd.js';
import { b64, findLeader, putRequest, rangeRequest } from '../lib/etcdv3.js';
import { FailoverWriter } from '../lib/failover.js';
import { envNumber } from '../lib/env.js';
import { fsyncLatency } from '../lib/machine.js';
import { formatErrorKinds, mergeLoadResults, postJson, runClosedLoop, type LoadResult, type RequestSpec } from '../lib/load.js';
import { commandOutput, Supervisor } from '../lib/proc.js';
import { raftkvKind } from '../lib/raftkv.js';
import { median, sleep } from '../lib/stats.js';
import { fmtMiB, fmtMs, fmtOps, fmtRatio, printTable } from '../lib/table.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

const cfg = {
  seconds: envNumber('BENCH_SECONDS', 10),
  warmupSeconds: envNumber('BENCH_WARMUP_SECONDS', 1),
  /** Unmeasured writes to each system before the first window (1 client, then 64). */
  initialWarmupSeconds: envNumber('BENCH_INITIAL_WARMUP_SECONDS', 6),
  killRounds: Math.round(envNumber('BENCH_KILL_ROUNDS', 5)),
  killWriters: Math.round(envNumber('BENCH_KILL_WRITERS', 8)),
  killTimeoutMs: envNumber('BENCH_KILL_TIMEOUT_MS', 250),
  /** Alternating measurement windows per scenario and system; each is BENCH_SECONDS / rounds long. */
  rounds: Math.max(1, Math.round(envNumber('BENCH_ROUNDS', 4))),
  /** A round with no acknowledged put this long after the kill counts as "> this". */
  gapGiveUpMs: 30_000,
  /** Steady writing before each kill. */
  steadyMs: 2_000,
  systems: (process.env.BENCH_SYSTEMS ?? 'raftkv,etcd').split(',').map((s) => s.trim()).filter(Boolean),
};

type SystemName = 'raftkv' | 'etcd';

interface KillRound {
  member: string;
  gapMs: number | undefined; // undefined: nothing acknowledged within gapGiveUpMs
}

interface SystemResult {
  put1: LoadResult;
  put64: LoadResult;
  range64: LoadResult;
  kills: KillRound[];
  writer: { ok: number; errors: number; kinds: string };
  rssAfterLoad: Map<string, number | undefined>;
  /** Keys the store held when rssAfterLoad was read (the faster system has written more). */
  keysAfterLoad: number | undefined;
  rssEnd: Map<string, number | undefined>;
  startupMs: number;
}

const log = (sys: string, msg: string): void => {
  process.stdout.write(`[${sys}] ${msg}\n`);
};

function summary(r: LoadResult): string {
  const errs = r.errors ? `, ${r.errors} errors: ${formatErrorKinds(r.errorKinds)}` : ', 0 errors';
  return `${fmtOps(r.opsPerSec)} ops/s, p50 ${fmtMs(r.p50Ms)}, p99 ${fmtMs(r.p99Ms)}, max ${fmtMs(r.maxMs)} (${r.ok} ok${errs})`;
}

async function leaderOf(cluster: LocalCluster): Promise<string> {
  const leader = (await findLeader(cluster.origins)) ?? (await cluster.waitHealthy(30_000));
  return leader;
}

/** A system's cluster while the benchmark runs, and what has been measured of it so far. */
interface Running {
  sys: SystemName;
  cluster: LocalCluster;
  startupMs: number;
  /** Key prefix of this run, so that rounds never rewrite each other's keys. */
  run: string;
  windows: { put1: LoadResult[]; put64: LoadResult[]; range64: LoadResult[] };
  rangeBody?: RequestSpec;
}

async function startSystem(sys: SystemName, sup: Supervisor, kind: ClusterKind): Promise<Running> {
  const cluster = await LocalCluster.create(sup, kind, 3);
  const t0 = performance.now();
  await cluster.start(60_000);
  const startupMs = performance.now() - t0;
  log(sys, `3 members up and agreeing on a leader in ${(startupMs / 1000).toFixed(1)} s (${cluster.origins.join(', ')})`);
  return { sys, cluster, startupMs, run: randomBytes(4).toString('hex'), windows: { put1: [], put64: [], range64: [] } };
}

type Scenario = 'put1' | 'put64' | 'range64';
const scenarioLabel: Record<Scenario, string> = { put1: 'put, 1 client', put64: 'put, 64 clients', range64: 'linearizable range, 64 clients' };

/** One measurement window of one scenario against the current leader. */
async function measure(r: Running, scenario: Scenario, round: number, value: string): Promise<void> {
  const leader = await leaderOf(r.cluster);
  const load = { warmupMs: cfg.warmupSeconds * 1000, durationMs: (cfg.seconds * 1000) / cfg.rounds };
  let result: LoadResult;
  if (scenario === 'range64') {
    if (!r.rangeBody) {
      const rangeKey = `bench/${r.run}/range-key`;
      const seed = await postJson(`${leader}/v3/kv/put`, { key: b64(rangeKey), value }, 5_000);
      if (seed.status < 200 || seed.status >= 300) throw new Error(`seeding the range key failed: HTTP ${seed.status} ${seed.text.slice(0, 200)}`);
      const check = await postJson<{ kvs?: { value?: string }[] }>(`${leader}/v3/kv/range`, { key: b64(rangeKey), serializable: false }, 5_000);
      if (check.json?.kvs?.[0]?.value !== value) throw new Error(`range of the seeded key did not return its value: HTTP ${check.status} ${check.text.slice(0, 200)}`);
      r.rangeBody = rangeRequest(rangeKey, false);
    }
    const body = r.rangeBody;
    result = await runClosedLoop({ origin: leader, concurrency: 64, ...load, makeRequest: () => body });
  } else {
    const clients = scenario === 'put1' ? 1 : 64;
    result = await runClosedLoop({ origin: leader, concurrency: clients, ...load, makeRequest: (w, s) => putRequest(`bench/${r.run}/${scenario}/${round}/${w}/${s}`, value) });
  }
  r.windows[scenario].push(result);
  log(r.sys, `${scenarioLabel[scenario]}, round ${round + 1}/${cfg.rounds} → leader ${r.cluster.member(leader).name}: ${summary(result)}`);
}

async function runKillRounds(r: Running): Promise<{ kills: KillRound[]; writer: SystemResult['writer'] }> {
  const { sys, cluster, run } = r;
  const value = b64(randomBytes(256));
  const writer = new FailoverWriter({
    endpoints: cluster.origins,
    concurrency: cfg.killWriters,
    timeoutMs: cfg.killTimeoutMs,
    makeRequest: (w, s) => putRequest(`bench/${run}/kill/${w}/${s}`, value),
  });
  const kills: KillRound[] = [];
  writer.start();
  try {
    for (let round = 1; round <= cfg.killRounds; round++) {
      await sleep(cfg.steadyMs);
      cluster.checkAlive();
      const target = await findLeader(cluster.origins);
      if (!target) throw new Error('no leader found before a kill round');
      const m: Member = cluster.member(target);
      const sinceSuccess = performance.now() - writer.lastSuccessAt;
      if (sinceSuccess > 1_000) log(sys, `warning: the writer had no success in the last ${Math.round(sinceSuccess)} ms before kill ${round}`);
      const { gap } = writer.markEvent(cfg.gapGiveUpMs);
      const killed = cluster.kill(m, 'SIGKILL'); // the signal is sent synchronously here
      writer.removeEndpoint(target);
      const gapMs = await gap;
      await killed;
      kills.push({ member: m.name, gapMs });
      log(sys, `kill ${round}/${cfg.killRounds}: SIGKILL leader ${m.name} → first acknowledged new put after ${gapMs === undefined ? `> ${cfg.gapGiveUpMs} ms` : fmtMs(gapMs)}`);
      await cluster.restart(m);
      await cluster.waitHealthy(60_000);
      writer.addEndpoint(target); // back in the rotation once it serves again
    }
  } finally {
    await writer.stop();
  }
  return { kills, writer: { ok: writer.ok, errors: writer.errors, kinds: formatErrorKinds(writer.errorKinds, 4) } };
}

/**
 * Both clusters run side by side, and each scenario is measured in `cfg.rounds` windows that
 * alternate between them (raftkv first in even rounds, etcd first in odd ones). The machine's
 * speed drifts (other tenants of the host): measured one after the other, a system could get a
 * fast or a slow spell to itself and the ratio moved by 20 % between runs. The idle cluster
 * costs little (heartbeats). Kill rounds then run one system at a time, since they restart members.
 */
async function runAll(systems: SystemName[], sup: Supervisor, kinds: Map<SystemName, ClusterKind>, results: Map<SystemName, SystemResult | Error>): Promise<void> {
  const live: Running[] = [];
  const fail = (r: Running | SystemName, err: unknown): void => {
    const sys = typeof r === 'string' ? r : r.sys;
    const e = err instanceof Error ? err : new Error(String(err));
    process.stderr.write(`[${sys}] benchmark failed: ${e.message}\n`);
    results.set(sys, e);
    const i = live.findIndex((x) => x.sys === sys);
    if (i >= 0) live.splice(i, 1);
  };
  for (const sys of systems) {
    try {
      log(sys, 'starting a 3-member cluster');
      live.push(await startSystem(sys, sup, kinds.get(sys) as ClusterKind));
    } catch (err) {
      fail(sys, err);
    }
  }
  const value = b64(randomBytes(256));
  // Before anything is measured, each system serves the write load for a while: raftkv runs on a
  // JIT and a heap that sizes itself to the load, and is slower for its first seconds (a 2.5 s
  // window after 1 s of warm-up: p50 1.2 ms, later ones 0.7 ms). etcd gets the same. Not much
  // longer: about 35k writes here, so that the one-client windows stay clear of the snapshots
  // taken at 100k entries (they fall in the 64-client ones, whose max latency shows them; with a
  // 16 s warm-up they landed in the one-client windows and took its p99 from 1.7 to 4.7 ms).
  for (const r of [...live]) {
    try {
      const leader = await leaderOf(r.cluster);
      for (const clients of [1, 64]) {
        await runClosedLoop({ origin: leader, concurrency: clients, warmupMs: (cfg.initialWarmupSeconds * 1000) / 2, durationMs: 0, makeRequest: (w, s) => putRequest(`bench/${r.run}/warm${clients}/${w}/${s}`, value) });
      }
      log(r.sys, `warmed up for ${cfg.initialWarmupSeconds} s`);
    } catch (err) {
      fail(r, err);
    }
  }
  for (const scenario of ['put1', 'put64', 'range64'] as const) {
    for (let round = 0; round < cfg.rounds; round++) {
      const order = round % 2 === 0 ? [...live] : [...live].reverse();
      for (const r of order) {
        if (!live.includes(r)) continue; // failed earlier in this round
        try {
          await measure(r, scenario, round, value);
        } catch (err) {
          fail(r, err);
        }
      }
    }
  }
  const afterLoad = new Map(live.map((r) => [r.sys, r.cluster.rss()] as const));
  const keysAfterLoad = new Map<SystemName, number | undefined>();
  for (const r of live) keysAfterLoad.set(r.sys, await keysStored(r).catch(() => undefined));
  for (const r of [...live]) {
    try {
      const { kills, writer } = await runKillRounds(r);
      results.set(r.sys, {
        put1: mergeLoadResults(r.windows.put1),
        put64: mergeLoadResults(r.windows.put64),
        range64: mergeLoadResults(r.windows.range64),
        kills,
        writer,
        rssAfterLoad: afterLoad.get(r.sys) as Map<string, number | undefined>,
        keysAfterLoad: keysAfterLoad.get(r.sys),
        rssEnd: r.cluster.rss(),
        startupMs: r.startupMs,
      });
      const res = results.get(r.sys) as SystemResult;
      for (const sc of ['put1', 'put64', 'range64'] as const) log(r.sys, `${scenarioLabel[sc]}, all rounds: ${summary(res[sc])}`);
    } catch (err) {
      fail(r, err);
    } finally {
      await r.cluster.stop();
    }
  }
}

function gapMedian(r: SystemResult | undefined): number | undefined {
  if (!r || r.kills.length === 0) return undefined;
  return median(r.kills.map((k) => k.gapMs ?? Number.POSITIVE_INFINITY));
}

/** How many keys the benchmark has written to a system so far (a count-only range over its prefix). */
async function keysStored(r: Running): Promise<number> {
  const leader = await leaderOf(r.cluster);
  const res = await postJson<{ count?: string | number }>(`${leader}/v3/kv/range`, { key: b64('bench/'), range_end: b64('bench0'), count_only: true }, 30_000);
  const n = Number(res.json?.count ?? Number.NaN);
  if (res.status !== 200 || !Number.isSafeInteger(n)) throw new Error(`counting keys: HTTP ${res.status} ${res.text.slice(0, 200)}`);
  return n;
}

/** RSS per member per key stored, in bytes. */
function rssPerKey(r: SystemResult): number | undefined {
  const kib = sumRss(r.rssAfterLoad);
  if (kib === undefined || !r.keysAfterLoad) return undefined;
  return (kib * 1024) / r.rssAfterLoad.size / r.keysAfterLoad;
}

function sumRss(m: Map<string, number | undefined>): number | undefined {
  const vals = [...m.values()];
  if (vals.some((v) => v === undefined)) return undefined;
  return (vals as number[]).reduce((a, b) => a + b, 0);
}

function printReport(results: Map<SystemName, SystemResult | Error>, machine: string[]): void {
  const ok = (s: SystemName): SystemResult | undefined => {
    const r = results.get(s);
    return r instanceof Error ? undefined : r;
  };
  const rk = ok('raftkv');
  const et = ok('etcd');
  const cellFor = (s: SystemName, f: (r: SystemResult) => string): string => {
    const r = results.get(s);
    if (r === undefined) return 'not run';
    if (r instanceof Error) return 'failed';
    return f(r);
  };
  const verdict = (pass: boolean | undefined): string => (pass === undefined ? 'n/a' : pass ? 'PASS' : 'MISS');
  const both = <T>(f: (r: SystemResult) => T): [T | undefined, T | undefined] => [rk ? f(rk) : undefined, et ? f(et) : undefined];
  const atLeast = (f: (r: SystemResult) => number, factor: number): boolean | undefined => {
    const [a, b] = both(f);
    return a === undefined || b === undefined ? undefined : a >= factor * b;
  };
  const noWorse = (f: (r: SystemResult) => number): boolean | undefined => {
    const [a, b] = both(f);
    return a === undefined || b === undefined ? undefined : a <= b;
  };

  type Row = { metric: string; get: (r: SystemResult) => number | undefined; fmt: (n: number | undefined) => string; lowerIsBetter?: boolean; target: string; pass: boolean | undefined; earlier: string };
  const gapFmt = (n: number | undefined): string => (n === undefined ? 'n/a' : Number.isFinite(n) ? fmtMs(n) : `> ${cfg.gapGiveUpMs / 1000} s`);
  const rows: Row[] = [
    { metric: 'put throughput, 1 client', get: (r) => r.put1.opsPerSec, fmt: fmtOps, target: '≥ 1.5× etcd', pass: atLeast((r) => r.put1.opsPerSec, 1.5), earlier: '~400 ops/s' },
    { metric: 'put p50, 1 client', get: (r) => r.put1.p50Ms, fmt: fmtMs, lowerIsBetter: true, target: '', pass: undefined, earlier: '' },
    { metric: 'put p99, 1 client', get: (r) => r.put1.p99Ms, fmt: fmtMs, lowerIsBetter: true, target: '≤ etcd', pass: noWorse((r) => r.put1.p99Ms), earlier: '' },
    { metric: 'put throughput, 64 clients', get: (r) => r.put64.opsPerSec, fmt: fmtOps, target: '≥ 1.5× etcd', pass: atLeast((r) => r.put64.opsPerSec, 1.5), earlier: '~2,400 ops/s' },
    { metric: 'put p50, 64 clients', get: (r) => r.put64.p50Ms, fmt: fmtMs, lowerIsBetter: true, target: '', pass: undefined, earlier: '' },
    { metric: 'put p99, 64 clients', get: (r) => r.put64.p99Ms, fmt: fmtMs, lowerIsBetter: true, target: '≤ etcd', pass: noWorse((r) => r.put64.p99Ms), earlier: '~57 ms' },
    { metric: 'linearizable range, 64 clients', get: (r) => r.range64.opsPerSec, fmt: fmtOps, target: '≥ 1.5× etcd', pass: atLeast((r) => r.range64.opsPerSec, 1.5), earlier: '' },
    { metric: 'range p50, 64 clients', get: (r) => r.range64.p50Ms, fmt: fmtMs, lowerIsBetter: true, target: '', pass: undefined, earlier: '' },
    { metric: 'range p99, 64 clients', get: (r) => r.range64.p99Ms, fmt: fmtMs, lowerIsBetter: true, target: '', pass: undefined, earlier: '' },
    {
      metric: `leader-kill write gap, median of ${cfg.killRounds}`,
      get: (r) => gapMedian(r),
      fmt: gapFmt,
      lowerIsBetter: true,
      target: '< 1 s',
      pass: rk ? (gapMedian(rk) ?? Number.POSITIVE_INFINITY) < 1_000 : undefined,
      earlier: '',
    },
    { metric: 'RSS after load, sum of 3 members', get: (r) => sumRss(r.rssAfterLoad), fmt: fmtMiB, lowerIsBetter: true, target: '', pass: undefined, earlier: '' },
    { metric: 'keys stored after load', get: (r) => r.keysAfterLoad, fmt: fmtOps, target: '', pass: undefined, earlier: '' },
    { metric: 'RSS after load per key, per member', get: rssPerKey, fmt: (n) => (n === undefined ? 'n/a' : `${Math.round(n).toLocaleString('en-US')} B`), lowerIsBetter: true, target: '', pass: undefined, earlier: '' },
    { metric: 'RSS at end, sum of 3 members', get: (r) => sumRss(r.rssEnd), fmt: fmtMiB, lowerIsBetter: true, target: '', pass: undefined, earlier: '' },
  ];
  const table = rows.map((row) => {
    const [a, b] = both(row.get);
    return [
      row.metric,
      cellFor('raftkv', () => row.fmt(a)),
      cellFor('etcd', () => row.fmt(b)),
      fmtRatio(a, b),
      row.target,
      row.target ? verdict(row.pass) : '',
      row.earlier,
    ];
  });

  process.stdout.write(`\n=== raftkv vs etcd: 3 members each on 127.0.0.1, fsync on, same load generator (${cfg.seconds} s per scenario in ${cfg.rounds} alternating windows, each after ${cfg.warmupSeconds} s warm-up) ===\n`);
  for (const line of machine) process.stdout.write(`${line}\n`);
  process.stdout.write('\n');
  printTable(['metric', 'raftkv', 'etcd (this run)', 'raftkv/etcd', 'target', 'result', 'etcd 3.4 earlier (issue)'], table);

  process.stdout.write('\nAnchor from the issue: etcd 3.4 measured here earlier: ~2,400 puts/s at 64 clients (p99 ~57 ms), ~400 puts/s with 1 client.\n');
  process.stdout.write('Targets: raftkv put throughput ≥1.5× etcd at 64 and at 1 client, p99 no worse than etcd, linearizable range ≥1.5× etcd, leader-kill gap median < 1 s.\n');
  process.stdout.write('PASS/MISS compares with etcd measured in this same run (the gap row is absolute).\n');

  process.stdout.write('\nDetails:\n');
  const detail: string[][] = [];
  for (const s of ['raftkv', 'etcd'] as const) {
    const r = results.get(s);
    if (r === undefined) continue;
    if (r instanceof Error) {
      const lines = r.message.split('\n');
      const cause = lines.slice(1).find((l) => /error/i.test(l));
      detail.push([s, 'error', `${lines[0]}${cause ? ` ${cause.trim()}` : ''}`.slice(0, 200)]);
      continue;
    }
    for (const [label, lr] of [['put 1 client', r.put1], ['put 64 clients', r.put64], ['range 64 clients', r.range64]] as const) {
      detail.push([s, label, `${lr.ok} ok, ${lr.errors} errors${lr.errors ? ` (${formatErrorKinds(lr.errorKinds)})` : ''}, max ${fmtMs(lr.maxMs)}`]);
    }
    detail.push([s, 'kill gaps', r.kills.map((k) => `${k.member}: ${gapFmt(k.gapMs ?? Number.POSITIVE_INFINITY)}`).join(', ')]);
    detail.push([s, 'kill-round writer', `${r.writer.ok} ok, ${r.writer.errors} failed/timed out/retried${r.writer.kinds ? ` (${r.writer.kinds})` : ''}`]);
    const perMember = (m: Map<string, number | undefined>): string => [...m.entries()].map(([n, v]) => `${n} ${fmtMiB(v)}`).join(', ');
    detail.push([s, 'RSS after load', perMember(r.rssAfterLoad)]);
    detail.push([s, 'RSS at end', `${perMember(r.rssEnd)} (the last-killed member was restarted)`]);
    detail.push([s, 'startup', `${(r.startupMs / 1000).toFixed(1)} s to a healthy cluster`]);
  }
  printTable(['system', 'what', 'value'], detail, ['left', 'left', 'left']);
}

async function main(): Promise<number> {
  for (const s of cfg.systems) if (s !== 'raftkv' && s !== 'etcd') throw new Error(`BENCH_SYSTEMS: unknown system "${s}"`);
  const systems = cfg.systems as SystemName[];

  const etcdBin = systems.includes('etcd') ? ensureEtcd() : undefined;
  const sup = new Supervisor('flotilla-bench-raftkv-');
  sup.installExitHandlers();

  const fsync = fsyncLatency(sup.root);
  const gitRev = commandOutput('git', ['-C', repoRoot, 'describe', '--always', '--dirty']) ?? 'unknown';
  const machine = [
    `machine: nproc ${availableParallelism()}, ${cpus()[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM; node ${process.version}; etcd ${etcdBin ? etcdVersion(etcdBin) : 'n/a'} (${etcdBin ?? 'not used'}); raftkv at ${gitRev}`,
    `disk: data dirs of both under ${sup.root}; 4 KiB write+fdatasync there: p50 ${fmtMs(fsync.p50Ms)}, p99 ${fmtMs(fsync.p99Ms)}`,
    'flags: etcd defaults (heartbeat 100 ms, election 1000 ms, fsync on; no --unsafe-no-fsync), raftkv CLI defaults (WAL fsync on)',
    `kill rounds: ${cfg.killWriters} writers over the live members, ${cfg.killTimeoutMs} ms client timeout per request then next member; gap = SIGKILL → first acknowledged put sent after it`,
  ];
  for (const line of machine) process.stdout.write(`${line}\n`);

  const results = new Map<SystemName, SystemResult | Error>();
  try {
    const kinds = new Map<SystemName, ClusterKind>();
    for (const sys of systems) kinds.set(sys, sys === 'etcd' ? etcdKind(etcdBin as string) : raftkvKind(repoRoot, [], process.env.BENCH_RAFTKV_CLI || undefined));
    await runAll(systems, sup, kinds, results);
    printReport(results, machine);
  } finally {
    await sup.killAll();
    sup.cleanupSync();
  }
  return [...results.values()].some((r) => r instanceof Error) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
