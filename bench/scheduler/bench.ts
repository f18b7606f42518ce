/**
 * Scheduling throughput: 3 raftkv members, BENCH_APISERVERS apiserver replicas (default 1) and
 * ONE `flotilla scheduler` process with its own kubeconfig and the system:kube-scheduler
 * identity, as `flotilla up` runs each replica, all real processes on 127.0.0.1. Registers
 * BENCH_NODES Node objects (no kubelets: Ready, 16/32/64 CPU, three zones, 2 % tainted
 * NoSchedule, 2 % PreferNoSchedule), then:
 *
 * 1. burst: creates BENCH_PODS pods (100m CPU, 128Mi; every 10th with a zone nodeSelector) at
 *    BENCH_CONCURRENCY while the scheduler runs, and follows them with a watch: pods bound per
 *    second from the first create to the last bind, the steady rate over the middle 80 % of
 *    binds, create→bound latency p50/p99; checks that every pod was bound exactly once (the
 *    watch never sees a pod move, LIST agrees, no pod has two Scheduled events), on a node the
 *    rules allow (taints, selector, capacity), and how evenly;
 * 2. backlog: with the scheduler stopped, creates as many pods again, starts a fresh scheduler
 *    and times how fast it binds them: the scheduler's own rate, without the creates beside it.
 *
 * One API server by default: the scheduler talks to one replica anyway, and on a small machine
 * more replicas take CPU from the processes measured (Kubernetes' scheduler_perf also runs one).
 * The scheduler runs with --no-leader-elect (it is the only replica); BENCH_LEADER_ELECT=1 makes
 * it take the Lease first, as `flotilla up`'s replicas do.
 *
 *   npm run build && npm run bench:scheduler
 *
 * Environment: BENCH_NODES (1000), BENCH_PODS (10000), BENCH_CONCURRENCY (32), BENCH_APISERVERS
 * (1), BENCH_BACKLOG (1; 0 skips phase 2), BENCH_LEADER_ELECT (0), BENCH_STALL_SECONDS (60: give
 * up when no pod is bound for this long), BENCH_CPU_PROF_DIR (run the scheduler under
 * `node --cpu-prof` and leave its profiles there), BENCH_SCHEDULER_CLI (flotilla launcher for the
 * scheduler only, e.g. another checkout's build, to compare). A measurement, not a test: exit 0
 * after printing.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { LocalCluster } from '../lib/cluster.js';
import { envNumber } from '../lib/env.js';
import { Api, forEachConcurrently, kubeconfig, startApiServers, watch, writePki, type WatchEvent, type WatchStream } from '../lib/kube.js';
import { cpuSeconds, rssKiB, Supervisor, tail, type ManagedProcess } from '../lib/proc.js';
import { raftkvKind } from '../lib/raftkv.js';
import { percentile, sleep, sortNumbers } from '../lib/stats.js';
import { fmtMiB, fmtMs, fmtOps, printTable } from '../lib/table.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = join(repoRoot, 'packages/cli/bin/flotilla.js');

const envInt = (name: string, def: number): number => envNumber(name, def, { integer: true });

const cfg = {
  nodes: envInt('BENCH_NODES', 1_000),
  pods: envInt('BENCH_PODS', 10_000),
  concurrency: envInt('BENCH_CONCURRENCY', 32),
  apiservers: envInt('BENCH_APISERVERS', 1),
  stallSeconds: envInt('BENCH_STALL_SECONDS', 60),
  cpuProfDir: process.env.BENCH_CPU_PROF_DIR ? resolve(process.env.BENCH_CPU_PROF_DIR) : undefined,
  schedulerCli: process.env.BENCH_SCHEDULER_CLI ? resolve(process.env.BENCH_SCHEDULER_CLI) : BIN,
  /** 1: take the kube-scheduler Lease first, as `flotilla up`'s replicas do (see the README on renewals under load). */
  leaderElect: process.env.BENCH_LEADER_ELECT === '1',
  /** 0: skip the backlog phase. */
  backlog: process.env.BENCH_BACKLOG !== '0',
};

/** Kubernetes' scheduler_perf CI floor for SchedulingBasic (5,000 nodes), the anchor. */
const ANCHOR_PODS_PER_SECOND = 700;
const NS = 'bench';
const BACKLOG_NS = 'bench-backlog';
const ZONES = 3;
/** Every 10th pod asks for one zone by nodeSelector. */
const SELECTOR_ZONE = 'zone-1';

interface NodeShape {
  name: string;
  cores: number;
  memoryGi: number;
  pods: number;
  zone: string;
  noSchedule: boolean;
}

function nodeShape(i: number): NodeShape {
  const size = i % 3; // 16, 32 or 64 cores with 4 GiB per core
  return {
    name: `node-${String(i).padStart(4, '0')}`,
    cores: 16 << size,
    memoryGi: 64 << size,
    pods: 110,
    zone: `zone-${i % ZONES}`,
    noSchedule: i % 50 === 7, // 2 % dedicated to something else: no pod here tolerates it
  };
}

function nodeObject(s: NodeShape, i: number): unknown {
  const taints = s.noSchedule
    ? [{ key: 'dedicated', value: 'infra', effect: 'NoSchedule' }]
    : i % 50 === 13 ? [{ key: 'maintenance', value: 'soon', effect: 'PreferNoSchedule' }] : [];
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: s.name, labels: { 'kubernetes.io/hostname': s.name, 'kubernetes.io/os': 'linux', 'topology.kubernetes.io/zone': s.zone, 'node.kubernetes.io/instance-type': `c${s.cores}` } },
    spec: { taints },
  };
}

function nodeStatus(s: NodeShape): unknown {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const res = { cpu: String(s.cores), memory: `${s.memoryGi}Gi`, pods: String(s.pods) };
  return {
    status: {
      capacity: res, allocatable: res,
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'benchmark node (no kubelet)', lastHeartbeatTime: now, lastTransitionTime: now }],
      nodeInfo: { kubeletVersion: 'v1.30.0-bench', osImage: 'none', kernelVersion: 'none', containerRuntimeVersion: 'none', architecture: 'amd64', operatingSystem: 'linux' },
    },
  };
}

const POD_CPU_MILLI = 100;
const POD_MEMORY_MI = 128;

function podBody(ns: string, i: number): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: `pod-${i}`, namespace: ns, labels: { app: `app-${i % 50}`, bench: 'scheduler' } },
    spec: {
      containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.9', resources: { requests: { cpu: `${POD_CPU_MILLI}m`, memory: `${POD_MEMORY_MI}Mi` } } }],
      ...(i % 10 === 0 ? { nodeSelector: { 'topology.kubernetes.io/zone': SELECTOR_ZONE } } : {}),
    },
  });
}

/** The last lines of a scheduler log without the one-per-pod "bound" lines. */
function logTail(file: string, lines = 15): string {
  return tail(file, 1_000_000).split('\n').filter((l) => !l.includes('"msg":"bound"')).slice(-lines).join('\n');
}

const podIndex = (name: string | undefined): number => (name?.startsWith('pod-') ? Number(name.slice(4)) : -1);

/** Follows pods `pod-0…pod-{count-1}` of a namespace with a watch: when each was first seen bound, and where. */
class BindTracker {
  readonly boundAt: Float64Array;
  readonly nodeOf: (string | undefined)[];
  bound = 0;
  /** A pod seen on one node and later on another (never possible if binding is exactly once). */
  rebinds = 0;
  lastBind = performance.now();
  error: string | undefined;
  private stream: WatchStream | undefined;

  constructor(private readonly count: number) {
    this.boundAt = new Float64Array(count).fill(Number.NaN);
    this.nodeOf = new Array<string | undefined>(count).fill(undefined);
  }

  async start(api: Api, url: string, caPem: string, token: string, ns: string): Promise<void> {
    const list = (await api.must('GET', `/api/v1/namespaces/${ns}/pods?limit=1`)) as { metadata: { resourceVersion: string } };
    this.stream = watch(url, caPem, token, `/api/v1/namespaces/${ns}/pods`, list.metadata.resourceVersion, (ev: WatchEvent, at: number) => {
      if (ev.type === 'ERROR') {
        this.error = `watch error ${ev.object.code ?? ''}: ${ev.object.message ?? ''}`;
        return;
      }
      const i = podIndex(ev.object.metadata.name);
      if (i < 0 || i >= this.count) return;
      const node = typeof ev.object.spec?.nodeName === 'string' && ev.object.spec.nodeName !== '' ? ev.object.spec.nodeName : undefined;
      if (!node) return;
      if (this.nodeOf[i] === undefined) {
        this.nodeOf[i] = node;
        this.boundAt[i] = at;
        this.lastBind = at;
        this.bound++;
      } else if (this.nodeOf[i] !== node) {
        this.rebinds++;
      }
    });
    await this.stream.opened;
  }

  /** Waits until `expected` pods are bound, or none was for `stallSeconds`; `check` throws if something died. */
  async waitAll(expected: number, check: () => void): Promise<void> {
    let lastReport = performance.now();
    while (this.bound < expected) {
      if (performance.now() - this.lastBind > cfg.stallSeconds * 1000) {
        process.stdout.write(`[bench] no pod bound for ${cfg.stallSeconds} s; giving up with ${this.bound} of ${expected} bound\n`);
        return;
      }
      check();
      if (this.error) throw new Error(this.error);
      if (performance.now() - lastReport > 5_000) {
        process.stdout.write(`[bench] ${this.bound} of ${expected} bound …\n`);
        lastReport = performance.now();
      }
      await sleep(20);
    }
  }

  stop(): void {
    this.stream?.stop();
  }

  sortedBindTimes(): Float64Array {
    return sortNumbers(Array.from(this.boundAt).filter((t) => !Number.isNaN(t)));
  }
}

interface CreateResult {
  createdAt: Float64Array;
  created: number;
  seconds: number;
  latencies: Float64Array;
  errors: Map<string, number>;
}

async function createPods(api: Api, ns: string, count: number): Promise<CreateResult> {
  const createdAt = new Float64Array(count).fill(Number.NaN);
  const errors = new Map<string, number>();
  const latencies: number[] = [];
  const c0 = performance.now();
  await forEachConcurrently(count, cfg.concurrency, async (i) => {
    const t0 = performance.now();
    const r = await api.call('POST', `/api/v1/namespaces/${ns}/pods`, podBody(ns, i), { replica: i }).catch((err: Error) => ({ status: 0, text: err.message }));
    if (r.status === 201) {
      createdAt[i] = t0;
      latencies.push(performance.now() - t0);
    } else {
      const k = `HTTP ${r.status} ${r.text.slice(0, 80)}`;
      errors.set(k, (errors.get(k) ?? 0) + 1);
    }
  });
  return { createdAt, created: latencies.length, seconds: (performance.now() - c0) / 1000, latencies: sortNumbers(latencies), errors };
}

function errorsText(m: Map<string, number>): string {
  return [...m].map(([k, v]) => `${v}× ${k}`).join('; ');
}

async function main(): Promise<void> {
  const sup = new Supervisor('flotilla-bench-scheduler-');
  sup.installExitHandlers();
  try {
    const kv = await LocalCluster.create(sup, raftkvKind(repoRoot), 3);
    await kv.start(60_000);
    process.stdout.write(`[bench] raftkv: 3 members at ${kv.origins.join(', ')}\n`);
    const pki = writePki(sup.root);
    const apis = await startApiServers(sup, BIN, repoRoot, kv, pki, cfg.apiservers);
    process.stdout.write(`[bench] apiserver: ${apis.length} replica(s) at ${apis.map((a) => a.url).join(', ')}\n`);
    const api = new Api(apis.map((a) => a.url), pki.caPem, pki.adminToken, cfg.concurrency);
    for (const ns of [NS, BACKLOG_NS, 'bench-warmup']) await api.must('POST', '/api/v1/namespaces', { metadata: { name: ns } });

    // 1. Nodes without kubelets: the object, then its status (create ignores the status).
    const shapes = Array.from({ length: cfg.nodes }, (_, i) => nodeShape(i));
    const n0 = performance.now();
    await forEachConcurrently(cfg.nodes, cfg.concurrency, async (i) => {
      await api.must('POST', '/api/v1/nodes', nodeObject(shapes[i], i), { replica: i });
      await api.must('PATCH', `/api/v1/nodes/${shapes[i].name}/status`, nodeStatus(shapes[i]), { replica: i, contentType: 'application/merge-patch+json' });
    });
    process.stdout.write(`[bench] registered ${cfg.nodes} Ready nodes in ${((performance.now() - n0) / 1000).toFixed(1)} s\n`);

    // 2. One scheduler with its own kubeconfig and the system:kube-scheduler identity, as `flotilla up` runs each replica.
    const schedCfg = join(pki.dir, 'scheduler.kubeconfig');
    writeFileSync(schedCfg, kubeconfig(apis[0].url, pki.caPem, pki.schedulerToken, 'system:kube-scheduler'), { mode: 0o600 });
    if (cfg.cpuProfDir) mkdirSync(cfg.cpuProfDir, { recursive: true });
    const startScheduler = (label: string): ManagedProcess => sup.spawn(label, process.execPath, [
      ...(cfg.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cfg.cpuProfDir, '--cpu-prof-name', `${label}.cpuprofile`] : []),
      cfg.schedulerCli, 'scheduler', '--kubeconfig', schedCfg, '--name', 'bench-scheduler', ...(cfg.leaderElect ? [] : ['--no-leader-elect']),
    ], { logFile: join(sup.root, `${label}.log`), cwd: repoRoot });
    const scheduler = startScheduler('scheduler');
    // Ready when it has synced its informers (and taken the Lease) and bound a warm-up pod.
    await api.must('POST', '/api/v1/namespaces/bench-warmup/pods', { metadata: { name: 'warmup' }, spec: { containers: [{ name: 'c', image: 'x' }] } });
    const w0 = performance.now();
    for (;;) {
      const p = (await api.must('GET', '/api/v1/namespaces/bench-warmup/pods/warmup')) as { spec: { nodeName?: string } };
      if (p.spec.nodeName) break;
      if (scheduler.exit || performance.now() - w0 > 60_000) throw new Error(`the scheduler did not bind a warm-up pod; last log lines:\n${logTail(scheduler.logFile)}`);
      await sleep(50);
    }
    await api.must('DELETE', '/api/v1/namespaces/bench-warmup/pods/warmup', { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0 });
    process.stdout.write(`[bench] scheduler (pid ${scheduler.pid}) is scheduling; it bound a warm-up pod ${((performance.now() - w0) / 1000).toFixed(1)} s after start\n`);
    const schedulerAlive = (p: ManagedProcess) => (): void => {
      if (p.exit) throw new Error(`the scheduler exited (${p.exit.code ?? p.exit.signal}); its last log lines but "bound":\n${logTail(p.logFile)}`);
    };

    // 3. Burst: create the pods while the scheduler runs, follow them with a watch.
    // CPU time of every process during the run tells which one was the bottleneck.
    const procs = [
      ...kv.members.map((m) => ({ label: `raftkv ${m.name}`, pid: m.proc?.pid ?? 0 })),
      ...apis.map((a, i) => ({ label: `apiserver ${i + 1}`, pid: a.proc.pid })),
      { label: 'scheduler', pid: scheduler.pid },
    ];
    const cpuAt = (): number[] => [...procs.map((p) => cpuSeconds(p.pid) ?? Number.NaN), (process.cpuUsage().user + process.cpuUsage().system) / 1e6];
    const cpuBefore = cpuAt();
    const runStart = performance.now();
    const tracker = new BindTracker(cfg.pods);
    await tracker.start(api, apis[0].url, pki.caPem, pki.adminToken, NS);
    process.stdout.write(`[bench] burst: creating ${cfg.pods} pods at concurrency ${cfg.concurrency} while the scheduler runs …\n`);
    const burst = await createPods(api, NS, cfg.pods);
    process.stdout.write(`[bench] created ${burst.created} pods in ${burst.seconds.toFixed(1)} s (${fmtOps(burst.created / burst.seconds)}/s); ${tracker.bound} bound so far\n`);
    await tracker.waitAll(burst.created, schedulerAlive(scheduler));
    const runSeconds = (performance.now() - runStart) / 1000;
    const cpuDelta = cpuAt().map((c, i) => c - cpuBefore[i]);
    const cpuUsed = cpuDelta[procs.length - 1];
    const cpuLine = [...procs.map((p, i) => `${p.label} ${cpuDelta[i].toFixed(1)}`), `bench ${cpuDelta[procs.length].toFixed(1)}`].join(', ');
    const schedRss = rssKiB(scheduler.pid);

    const binds = tracker.sortedBindTimes();
    const firstCreate = Math.min(...Array.from(burst.createdAt).filter((t) => !Number.isNaN(t)));
    const overall = binds.length / ((binds[binds.length - 1] - firstCreate) / 1000);
    const steady = middleRate(binds);
    const latencies = sortNumbers(Array.from({ length: cfg.pods }, (_, i) => tracker.boundAt[i] - burst.createdAt[i]).filter((x) => !Number.isNaN(x)));

    // 4. Checks against the server's state: every pod bound once, where the rules allow.
    const podsNow = (await api.must('GET', `/api/v1/namespaces/${NS}/pods`)) as { items: { metadata: { name: string }; spec: { nodeName?: string } }[] };
    let disagree = 0;
    const perNode = new Map<string, number>();
    for (const p of podsNow.items) {
      if (p.spec.nodeName !== tracker.nodeOf[podIndex(p.metadata.name)]) disagree++;
      if (p.spec.nodeName) perNode.set(p.spec.nodeName, (perNode.get(p.spec.nodeName) ?? 0) + 1);
    }
    const byName = new Map(shapes.map((s) => [s.name, s]));
    let onTainted = 0;
    let selectorMiss = 0;
    let overfull = 0;
    for (let i = 0; i < cfg.pods; i++) {
      const s = tracker.nodeOf[i] ? byName.get(tracker.nodeOf[i] as string) : undefined;
      if (!s) continue;
      if (s.noSchedule) onTainted++;
      if (i % 10 === 0 && s.zone !== SELECTOR_ZONE) selectorMiss++;
    }
    for (const [name, count] of perNode) {
      const s = byName.get(name);
      if (s && (count > s.pods || count * POD_CPU_MILLI > s.cores * 1000 || count * POD_MEMORY_MI > s.memoryGi * 1024)) overfull++;
    }
    const schedulable = shapes.filter((s) => !s.noSchedule);
    const counts = schedulable.map((s) => perNode.get(s.name) ?? 0);
    const bySize = [16, 32, 64].map((cores) => {
      const of = schedulable.filter((s) => s.cores === cores).map((s) => perNode.get(s.name) ?? 0);
      return `${cores} CPU ${(of.reduce((a, b) => a + b, 0) / Math.max(1, of.length)).toFixed(1)}`;
    });
    const mean = counts.reduce((a, b) => a + b, 0) / Math.max(1, counts.length);

    // 5. Backlog: with no scheduler running, create as many pods again; then start a scheduler
    // and time how fast it binds them all: the scheduler's own rate, without the creates beside it.
    await sup.kill(scheduler, 'SIGTERM');
    const scheduledEvents = new Map<string, number>();
    const evs = (await api.must('GET', `/api/v1/namespaces/${NS}/events?fieldSelector=reason%3DScheduled`)) as { items: { involvedObject: { name: string } }[] };
    for (const e of evs.items) scheduledEvents.set(e.involvedObject.name, (scheduledEvents.get(e.involvedObject.name) ?? 0) + 1);
    const eventTotal = evs.items.length;
    const duplicateEvents = [...scheduledEvents.values()].filter((n) => n > 1).length;
    tracker.stop();
    let backlog: { bound: number; created: number; firstBindS: number; drain: number; cpu: number; rebinds: number } | undefined;
    if (cfg.backlog) {
      process.stdout.write(`[bench] backlog: creating ${cfg.pods} pods with no scheduler running …\n`);
      const bt = new BindTracker(cfg.pods);
      await bt.start(api, apis[0].url, pki.caPem, pki.adminToken, BACKLOG_NS);
      const made = await createPods(api, BACKLOG_NS, cfg.pods);
      const s0 = performance.now();
      const second = startScheduler('scheduler-backlog');
      await bt.waitAll(made.created, schedulerAlive(second));
      const b = bt.sortedBindTimes();
      backlog = {
        bound: bt.bound, created: made.created, rebinds: bt.rebinds,
        firstBindS: (b[0] - s0) / 1000,
        drain: b.length / ((b[b.length - 1] - b[0]) / 1000),
        cpu: cpuSeconds(second.pid) ?? Number.NaN,
      };
      process.stdout.write(`[bench] backlog: ${bt.bound} bound; first bind ${backlog.firstBindS.toFixed(1)} s after the scheduler started, then ${fmtOps(backlog.drain)} pods/s\n`);
      bt.stop();
      await sup.kill(second, 'SIGTERM');
    }
    if (cfg.cpuProfDir) {
      const profiles = readdirSync(cfg.cpuProfDir).filter((f) => f.endsWith('.cpuprofile'));
      process.stdout.write(`[bench] scheduler CPU profile(s) in ${cfg.cpuProfDir}: ${profiles.join(', ')}\n`);
    }
    await api.close();

    const allBound = tracker.bound === burst.created && burst.created === cfg.pods;
    const exactlyOnce = allBound && tracker.rebinds === 0 && disagree === 0 && duplicateEvents === 0;
    const rulesKept = onTainted === 0 && selectorMiss === 0 && overfull === 0;
    const lat = (p: number): string => fmtMs(percentile(latencies, p));
    process.stdout.write([
      '',
      `=== scheduler: 1 flotilla scheduler${cfg.leaderElect ? ' (leader-elected)' : ''}, ${cfg.nodes} nodes, ${cfg.pods} pods created at concurrency ${cfg.concurrency}; ${apis.length} apiserver replica(s) over 3 raftkv members on 127.0.0.1 ===`,
      `machine: nproc ${availableParallelism()}, ${cpus()[0]?.model.split(' ').slice(0, 2).join(' ')}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM; node ${process.version}; load average before the run ${loadBefore}`,
      '', '',
    ].join('\n'));
    const rows: string[][] = [
      ['scheduling throughput (first create → last bind)', `${fmtOps(overall)} pods/s`, `Kubernetes scheduler CI floor ≈ ${ANCHOR_PODS_PER_SECOND} pods/s on 5,000 nodes`, overall > ANCHOR_PODS_PER_SECOND ? 'PASS' : 'MISS'],
      ['steady rate (middle 80 % of binds)', `${fmtOps(steady)} pods/s`, `> ${ANCHOR_PODS_PER_SECOND} pods/s`, steady > ANCHOR_PODS_PER_SECOND ? 'PASS' : 'MISS'],
      [`create rate beside it (concurrency ${cfg.concurrency}): caps the above`, `${fmtOps(burst.created / burst.seconds)} pods/s, p50 ${fmtMs(percentile(burst.latencies, 50))}, p99 ${fmtMs(percentile(burst.latencies, 99))}`, '', burst.errors.size ? errorsText(burst.errors) : ''],
      ['create → bound latency p50 / p99 / max', `${lat(50)} / ${lat(99)} / ${fmtMs(latencies[latencies.length - 1])}`, '', ''],
    ];
    if (backlog) {
      rows.push([`backlog: ${fmtOps(backlog.created)} pending pods, a fresh scheduler`, `${fmtOps(backlog.drain)} pods/s (first bind after ${backlog.firstBindS.toFixed(1)} s)`, `> ${ANCHOR_PODS_PER_SECOND} pods/s`, backlog.bound === backlog.created && backlog.rebinds === 0 ? (backlog.drain > ANCHOR_PODS_PER_SECOND ? 'PASS' : 'MISS') : `MISS (${backlog.bound} bound)`]);
    }
    rows.push(
      ['pods bound, each exactly once', `${tracker.bound}/${cfg.pods}; ${tracker.rebinds} rebinds, ${disagree} differ from LIST; ${eventTotal} Scheduled events, ${duplicateEvents} pods with two`, 'all, once', exactlyOnce ? 'PASS' : 'MISS'],
      ['placement rules', `${onTainted} on NoSchedule nodes, ${selectorMiss} nodeSelector misses, ${overfull} nodes over capacity`, 'all 0', rulesKept ? 'PASS' : 'MISS'],
      ['spread over schedulable nodes', `${counts.filter((c) => c > 0).length}/${schedulable.length} used; per node min ${Math.min(...counts)}, mean ${mean.toFixed(1)}, max ${Math.max(...counts)}`, '', ''],
      ['mean pods per node by size', bySize.join(', '), 'least allocated: ∝ size', ''],
      ['scheduler CPU, RSS (burst)', `${cpuUsed.toFixed(1)} s = ${fmtMs((cpuUsed * 1000) / Math.max(1, tracker.bound))} per pod; ${fmtMiB(schedRss)}`, '', ''],
      [`CPU seconds during the burst (${runSeconds.toFixed(1)} s × ${availableParallelism()} cores)`, cpuLine, '', ''],
    );
    printTable(['metric', 'value', 'anchor / target', 'result'], rows, ['left', 'right', 'left', 'left']);
  } finally {
    await sup.killAll('SIGTERM');
    sup.cleanupSync();
  }
}

/** Binds per second between the 10th and the 90th percentile bind. */
function middleRate(sorted: Float64Array): number {
  const lo = Math.floor(sorted.length * 0.1);
  const hi = Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.9) - 1);
  return hi > lo ? (hi - lo) / ((sorted[hi] - sorted[lo]) / 1000) : Number.NaN;
}

const loadBefore = loadavg().map((l) => l.toFixed(1)).join(' ');

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
