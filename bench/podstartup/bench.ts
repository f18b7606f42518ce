/**
 * Pod startup latency on a whole local cluster, as `flotilla up` makes it: 3 servers (raftkv,
 * API server, scheduler each) and 2 agents (kubelets with the process runtime), started with
 * `flotilla up --detach` on a loopback prefix of its own and stopped with `flotilla down`.
 * Creates BENCH_PODS pods (a `sleep` command, small requests) at BENCH_CONCURRENCY and follows
 * them with a watch: the latency from the start of each create request to the first watch event
 * that shows the pod Running with Ready=True, p50/p99/max, against Kubernetes' pod startup SLO
 * (p99 ≤ 5 s) and the project's aim (p99 ≤ 1 s), with where the time went (scheduled, container
 * reported running, Ready). Then deletes the pods and stops everything, also on failure or Ctrl-C.
 *
 *   npm run build && npm run bench:podstartup
 *
 * Environment: BENCH_PODS (100), BENCH_CONCURRENCY (10), BENCH_TIMEOUT_SECONDS (120: give up
 * waiting for pods to run), BENCH_KEEP_LOGS (a directory: copy the cluster's logs there),
 * BENCH_FLOTILLA_CLI (the flotilla launcher for up/down, e.g. another checkout's build).
 * A measurement, not a test: exit 0 after printing.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { envNumber } from '../lib/env.js';
import { Api, forEachConcurrently, watch, type WatchEvent } from '../lib/kube.js';
import { cpuSeconds, rssKiB, Supervisor, tail } from '../lib/proc.js';
import { percentile, sleep, sortNumbers } from '../lib/stats.js';
import { fmtMiB, fmtMs, printTable } from '../lib/table.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = join(repoRoot, 'packages/cli/bin/flotilla.js');

const envInt = (name: string, def: number): number => envNumber(name, def, { integer: true });

const cfg = {
  pods: envInt('BENCH_PODS', 100),
  concurrency: envInt('BENCH_CONCURRENCY', 10),
  timeoutSeconds: envInt('BENCH_TIMEOUT_SECONDS', 120),
  keepLogs: process.env.BENCH_KEEP_LOGS ? resolve(process.env.BENCH_KEEP_LOGS) : undefined,
  /** The flotilla launcher for `up` and `down` (another checkout's build, to compare). */
  cli: process.env.BENCH_FLOTILLA_CLI ? resolve(process.env.BENCH_FLOTILLA_CLI) : BIN,
};

const SLO_MS = 5_000;
const AIM_MS = 1_000;
const NS = 'podstartup';
const SERVERS = 3;
const AGENTS = 2;

/** Whether every port of every address can be listened on now. */
async function canListen(addrs: { ip: string; ports: number[] }[]): Promise<boolean> {
  for (const { ip, ports } of addrs) {
    for (const port of ports) {
      const ok = await new Promise<boolean>((res) => {
        const s = createServer();
        s.once('error', () => res(false));
        s.listen(port, ip, () => s.close(() => res(true)));
      });
      if (!ok) return false;
    }
  }
  return true;
}

/** A loopback prefix 127.X.Y whose node addresses have the cluster's ports free (`flotilla up` uses fixed ports per address). */
async function freePrefix(): Promise<string> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const prefix = `127.${200 + Math.floor(Math.random() * 50)}.${1 + Math.floor(Math.random() * 250)}`;
    const addrs = [
      ...Array.from({ length: SERVERS }, (_, i) => ({ ip: `${prefix}.${i + 1}`, ports: [2379, 2380, 6443] })),
      ...Array.from({ length: AGENTS }, (_, i) => ({ ip: `${prefix}.${SERVERS + i + 1}`, ports: [10250] })),
    ];
    if (await canListen(addrs)) return prefix;
  }
  throw new Error('no free loopback prefix found for the cluster');
}

interface ClusterFile {
  processes: { name: string; role: string; pid: number; logFile: string }[];
  apiServers: string[];
  kubeconfig: string;
}

interface Kubeconfig {
  clusters: { cluster: { 'certificate-authority-data': string } }[];
  users: { user: { token: string } }[];
}

interface PodTimes {
  createdAt: number;
  createdMs: number;
  scheduledAt?: number;
  node?: string;
  containerRunningAt?: number;
  runningReadyAt?: number;
  deletedAt?: number;
}

type PodObject = WatchEvent['object'] & { status?: { phase?: string; conditions?: { type: string; status: string }[]; containerStatuses?: { state?: { running?: unknown } }[] } };

const isReady = (o: PodObject): boolean => o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const containersRunning = (o: PodObject): boolean => (o.status?.containerStatuses ?? []).length > 0 && (o.status?.containerStatuses ?? []).every((c) => c.state?.running !== undefined);

function podBody(i: number): unknown {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: `pod-${i}`, namespace: NS, labels: { bench: 'podstartup' } },
    spec: {
      terminationGracePeriodSeconds: 5,
      containers: [{ name: 'main', image: 'busybox:1.36', command: ['/bin/sh', '-c', 'sleep 3600'], resources: { requests: { cpu: '10m', memory: '16Mi' } } }],
    },
  };
}

const podIndex = (name: string | undefined): number => (name?.startsWith('pod-') ? Number(name.slice(4)) : -1);

/** p50 / p99 / max of the given values (ms) as text. */
function dist(values: number[]): { p50: number; p99: number; max: number; text: string } {
  const s = sortNumbers(values);
  const p50 = percentile(s, 50);
  const p99 = percentile(s, 99);
  const max = s.length ? s[s.length - 1] : Number.NaN;
  return { p50, p99, max, text: `${fmtMs(p50)} / ${fmtMs(p99)} / ${fmtMs(max)}` };
}

async function main(): Promise<void> {
  const loadBefore = loadavg().map((l) => l.toFixed(1)).join(' ');
  const sup = new Supervisor('flotilla-bench-podstartup-');
  const dataDir = join(sup.root, 'cluster');
  let upStarted = false;
  // `flotilla down` stops what `up` started in the background (by the PIDs in cluster.json), containers included.
  const down = (): void => {
    if (!upStarted) return;
    upStarted = false;
    if (cfg.keepLogs) {
      try {
        mkdirSync(cfg.keepLogs, { recursive: true });
        cpSync(dataDir, cfg.keepLogs, { recursive: true, filter: (src) => !/\/(containers|raftkv|pki)(\/|$)|peer-secret|kubeconfig/.test(src) });
      } catch {
        // best effort
      }
    }
    const r = spawnSync(process.execPath, [cfg.cli, 'down', '--data-dir', dataDir], { encoding: 'utf8', timeout: 60_000 });
    process.stdout.write(`[bench] flotilla down: ${(r.stdout ?? '').trim() || (r.stderr ?? '').trim() || `exit ${r.status}`}\n`);
  };
  sup.onCleanup(down);
  sup.installExitHandlers();
  try {
    const prefix = await freePrefix();
    process.stdout.write(`[bench] flotilla up --detach --data-dir ${dataDir} --ip-prefix ${prefix} (${SERVERS} servers, ${AGENTS} agents, process runtime) …\n`);
    upStarted = true;
    const u0 = performance.now();
    const up = spawnSync(process.execPath, [cfg.cli, 'up', '--detach', '--data-dir', dataDir, '--ip-prefix', prefix, '--servers', String(SERVERS), '--agents', String(AGENTS)], { encoding: 'utf8', timeout: 180_000 });
    if (up.status !== 0) throw new Error(`flotilla up failed (exit ${up.status ?? up.signal}):\n${up.stdout}\n${up.stderr}`);
    process.stdout.write(`[bench] cluster up in ${((performance.now() - u0) / 1000).toFixed(1)} s\n`);
    const cluster = JSON.parse(readFileSync(join(dataDir, 'cluster.json'), 'utf8')) as ClusterFile;
    const kc = JSON.parse(readFileSync(cluster.kubeconfig, 'utf8')) as Kubeconfig;
    const caPem = Buffer.from(kc.clusters[0].cluster['certificate-authority-data'], 'base64').toString('utf8');
    const token = kc.users[0].user.token;
    const api = new Api(cluster.apiServers, caPem, token, cfg.concurrency);
    await api.must('POST', '/api/v1/namespaces', { metadata: { name: NS } });
    const agentProcs = cluster.processes.filter((p) => p.role === 'agent');
    const roles = ['raftkv', 'apiserver', 'scheduler', 'agent'];
    const cpuByRole = (): number[] => roles.map((role) => cluster.processes.filter((p) => p.role === role).reduce((sum, p) => sum + (cpuSeconds(p.pid) ?? 0), 0));
    const cpuBefore = cpuByRole();

    // Follow the pods (each event's arrival time), then create them.
    const times: PodTimes[] = Array.from({ length: cfg.pods }, () => ({ createdAt: Number.NaN, createdMs: Number.NaN }));
    let runningReady = 0;
    let deleted = 0;
    let watchError: string | undefined;
    const list = (await api.must('GET', `/api/v1/namespaces/${NS}/pods?limit=1`)) as { metadata: { resourceVersion: string } };
    const stream = watch(cluster.apiServers[0], caPem, token, `/api/v1/namespaces/${NS}/pods`, list.metadata.resourceVersion, (ev, at) => {
      if (ev.type === 'ERROR') {
        watchError = `watch error ${ev.object.code ?? ''}: ${ev.object.message ?? ''}`;
        return;
      }
      const i = podIndex(ev.object.metadata.name);
      if (i < 0 || i >= cfg.pods) return;
      const t = times[i];
      const o = ev.object as PodObject;
      if (ev.type === 'DELETED') {
        if (t.deletedAt === undefined) {
          t.deletedAt = at;
          deleted++;
        }
        return;
      }
      const node = typeof o.spec?.nodeName === 'string' && o.spec.nodeName !== '' ? o.spec.nodeName : undefined;
      if (node && t.scheduledAt === undefined) {
        t.scheduledAt = at;
        t.node = node;
      }
      if (containersRunning(o) && t.containerRunningAt === undefined) t.containerRunningAt = at;
      if (o.status?.phase === 'Running' && isReady(o) && t.runningReadyAt === undefined) {
        t.runningReadyAt = at;
        runningReady++;
      }
    });
    await stream.opened;
    process.stdout.write(`[bench] creating ${cfg.pods} pods at concurrency ${cfg.concurrency} …\n`);
    const createErrors: string[] = [];
    const c0 = performance.now();
    await forEachConcurrently(cfg.pods, cfg.concurrency, async (i) => {
      const t0 = performance.now();
      times[i].createdAt = t0;
      const r = await api.call('POST', `/api/v1/namespaces/${NS}/pods`, podBody(i), { replica: i }).catch((err: Error) => ({ status: 0, text: err.message }));
      times[i].createdMs = performance.now() - t0;
      if (r.status !== 201) createErrors.push(`pod-${i}: HTTP ${r.status} ${r.text.slice(0, 120)}`);
    });
    const createSeconds = (performance.now() - c0) / 1000;
    if (createErrors.length > 0) throw new Error(`${createErrors.length} creates failed, e.g. ${createErrors[0]}`);
    process.stdout.write(`[bench] created ${cfg.pods} pods in ${createSeconds.toFixed(2)} s; waiting for Running and Ready …\n`);
    const deadline = performance.now() + cfg.timeoutSeconds * 1000;
    while (runningReady < cfg.pods && performance.now() < deadline) {
      if (watchError) throw new Error(watchError);
      await sleep(20);
    }
    if (runningReady < cfg.pods) process.stdout.write(`[bench] only ${runningReady} of ${cfg.pods} pods Running and Ready after ${cfg.timeoutSeconds} s\n`);
    const cpuUsed = cpuByRole().map((c, i) => c - cpuBefore[i]);
    const agentRss = agentProcs.map((p) => rssKiB(p.pid));
    // What the process runtime runs besides the containers: a waiting sh per container, a log collector per agent.
    const pgrep = (pattern: string): number[] => spawnSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).map(Number);
    const shims = [...pgrep(`flotilla-container ${dataDir}/`), ...pgrep(`log-collector.js ${dataDir}/`)];
    const shimRss = shims.map((pid) => rssKiB(pid) ?? 0);
    const shimCpu = shims.reduce((sum, pid) => sum + (cpuSeconds(pid) ?? 0), 0);
    const runSeconds = (performance.now() - c0) / 1000;

    // Delete them all (graceful, as kubectl delete does), and wait until they are gone.
    process.stdout.write(`[bench] deleting the pods …\n`);
    const d0 = performance.now();
    await forEachConcurrently(cfg.pods, cfg.concurrency, async (i) => {
      await api.call('DELETE', `/api/v1/namespaces/${NS}/pods/pod-${i}`, { kind: 'DeleteOptions', apiVersion: 'v1' }).catch(() => undefined);
    });
    const deleteDeadline = performance.now() + 60_000;
    while (deleted < cfg.pods && performance.now() < deleteDeadline) await sleep(50);
    const deleteSeconds = (performance.now() - d0) / 1000;
    stream.stop();
    await api.close();
    if (cfg.keepLogs) {
      // Per pod, wall-clock ms (to line up with the components' logs): create sent, create answered, seen bound, container running, Running+Ready.
      const wall = (t: number | undefined): string => (t === undefined || Number.isNaN(t) ? '' : String(Math.round(performance.timeOrigin + t)));
      mkdirSync(cfg.keepLogs, { recursive: true });
      writeFileSync(join(cfg.keepLogs, 'pods.csv'), `pod,node,create_sent,create_done,bound_seen,container_running_seen,running_ready_seen\n${times.map((t, i) => [
        `pod-${i}`, t.node ?? '', wall(t.createdAt), wall(t.createdAt + t.createdMs), wall(t.scheduledAt), wall(t.containerRunningAt), wall(t.runningReadyAt),
      ].join(',')).join('\n')}\n`);
    }

    // Where the time went, per pod, from the start of its create request.
    const done = times.filter((t) => t.runningReadyAt !== undefined);
    const e2e = dist(done.map((t) => (t.runningReadyAt as number) - t.createdAt));
    const toScheduled = dist(times.filter((t) => t.scheduledAt !== undefined).map((t) => (t.scheduledAt as number) - t.createdAt));
    const toContainer = dist(times.filter((t) => t.scheduledAt !== undefined && t.containerRunningAt !== undefined).map((t) => (t.containerRunningAt as number) - (t.scheduledAt as number)));
    const toReady = dist(times.filter((t) => t.containerRunningAt !== undefined && t.runningReadyAt !== undefined).map((t) => (t.runningReadyAt as number) - (t.containerRunningAt as number)));
    const created = dist(times.map((t) => t.createdMs));
    const perNode = new Map<string, number>();
    for (const t of times) if (t.node) perNode.set(t.node, (perNode.get(t.node) ?? 0) + 1);
    const byNode = [...perNode].sort().map(([n, c]) => `${n} ${c}`).join(', ');
    const lastRunning = Math.max(...done.map((t) => t.runningReadyAt as number));

    process.stdout.write([
      '',
      `=== pod startup: ${cfg.pods} pods created at concurrency ${cfg.concurrency} on \`flotilla up\` (${SERVERS} servers: raftkv + apiserver + scheduler; ${AGENTS} agents, process runtime) on ${prefix}.0/24 ===`,
      `machine: nproc ${availableParallelism()}, ${cpus()[0]?.model.split(' ').slice(0, 2).join(' ')}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM; node ${process.version}; load average before the run ${loadBefore}`,
      '', '',
    ].join('\n'));
    printTable(['metric', 'value', 'target', 'result'], [
      ['create → Running and Ready, p50 / p99 / max', e2e.text, `Kubernetes SLO: p99 ≤ ${SLO_MS / 1000} s`, done.length === cfg.pods && e2e.p99 <= SLO_MS ? 'PASS' : 'MISS'],
      ['', '', `project's aim: p99 ≤ ${AIM_MS / 1000} s`, done.length === cfg.pods && e2e.p99 <= AIM_MS ? 'PASS' : 'MISS'],
      ['pods Running and Ready', `${done.length}/${cfg.pods} (the last ${((lastRunning - c0) / 1000).toFixed(2)} s after the first create)`, 'all', done.length === cfg.pods ? 'PASS' : 'MISS'],
      ['  create request', created.text, '', ''],
      ['  create → bound (scheduler)', toScheduled.text, '', ''],
      ['  bound → container running (kubelet, runtime)', toContainer.text, '', ''],
      ['  container running → Running & Ready', toReady.text, '', ''],
      ['pods per node', byNode, '', ''],
      [`CPU seconds until all ran (${runSeconds.toFixed(1)} s × ${availableParallelism()} cores)`, `${roles.map((r, i) => `${r}s ${cpuUsed[i].toFixed(1)}`).join(', ')}, container waiters and log collectors ${shimCpu.toFixed(1)}`, '', ''],
      ['RSS: each agent; container waiters and log collectors', `${agentRss.map((k) => fmtMiB(k)).join(', ')}; ${shims.length} processes, ${fmtMiB(shimRss.reduce((a, b) => a + b, 0))} in all`, '', ''],
      ['delete all, until gone from the API', `${deleted}/${cfg.pods} in ${deleteSeconds.toFixed(1)} s`, '', deleted === cfg.pods ? '' : 'MISS'],
    ], ['left', 'right', 'left', 'left']);
  } catch (err) {
    if (upStarted) {
      for (const f of ['server-1/scheduler.log', 'agent-1/agent.log', 'agent-2/agent.log']) process.stderr.write(`--- ${f}:\n${tail(join(dataDir, f), 10)}\n`);
    }
    throw err;
  } finally {
    down();
    sup.cleanupSync();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
