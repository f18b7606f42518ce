/**
 * The Kubernetes API under load: 3 raftkv members and 3 apiserver replicas (https, bearer token)
 * as real processes on loopback. Creates BENCH_PODS pod objects at concurrency 32 spread over the
 * replicas, LISTs them, then has BENCH_WATCHERS watchers receive BENCH_UPDATES updates, and prints
 * throughput, p50/p99 latency per verb and each replica's RSS, against the issue's targets.
 *
 *   npm run build && npm run bench:apiserver
 *
 * Environment: BENCH_PODS (10000), BENCH_CONCURRENCY (32), BENCH_WATCHERS (500), BENCH_UPDATES
 * (1000), BENCH_LISTS (5). A measurement, not a test: exit 0 after printing.
 */
import { setMaxListeners } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Agent, Pool, request } from 'undici';
import { createCA, issue, newToken } from '@flotilla/apiserver';
import { LocalCluster } from '../lib/cluster.js';
import { envNumber } from '../lib/env.js';
import { freePorts, rssKiB, Supervisor, type ManagedProcess } from '../lib/proc.js';
import { raftkvKind } from '../lib/raftkv.js';
import { percentile, sleep, sortNumbers } from '../lib/stats.js';
import { fmtMiB, fmtMs, fmtOps, printTable } from '../lib/table.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = join(repoRoot, 'packages/cli/bin/flotilla.js');

const envInt = (name: string, def: number): number => envNumber(name, def, { integer: true });

const cfg = {
  pods: envInt('BENCH_PODS', 10_000),
  concurrency: envInt('BENCH_CONCURRENCY', 32),
  watchers: envInt('BENCH_WATCHERS', 500),
  updates: envInt('BENCH_UPDATES', 1_000),
  lists: envInt('BENCH_LISTS', 5),
};

interface Timing {
  ok: number;
  errors: Map<string, number>;
  latencies: number[];
  seconds: number;
}

function summarize(t: Timing): { ops: number; p50: number; p99: number; max: number } {
  const s = sortNumbers(t.latencies);
  return { ops: t.ok / t.seconds, p50: percentile(s, 50), p99: percentile(s, 99), max: s.length ? s[s.length - 1] : 0 };
}

/** `total` requests by `concurrency` workers, worker w using pools[w % pools.length]. */
async function runCount(pools: Pool[], concurrency: number, total: number, make: (i: number) => { method: 'POST' | 'PATCH' | 'GET'; path: string; body?: string; contentType?: string }, token: string): Promise<Timing> {
  let next = 0;
  const t: Timing = { ok: 0, errors: new Map(), latencies: [], seconds: 0 };
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async (_, w) => {
    const pool = pools[w % pools.length];
    for (let i = next++; i < total; i = next++) {
      const r = make(i);
      const t0 = performance.now();
      try {
        const res = await pool.request({ method: r.method, path: r.path, body: r.body, headers: { authorization: `Bearer ${token}`, 'content-type': r.contentType ?? 'application/json' } });
        const text = await res.body.text();
        if (res.statusCode >= 200 && res.statusCode < 300) {
          t.ok++;
          t.latencies.push(performance.now() - t0);
        } else {
          const k = `HTTP ${res.statusCode} ${text.slice(0, 80)}`;
          t.errors.set(k, (t.errors.get(k) ?? 0) + 1);
        }
      } catch (err) {
        const k = (err as { code?: string }).code ?? String(err).slice(0, 60);
        t.errors.set(k, (t.errors.get(k) ?? 0) + 1);
      }
    }
  }));
  t.seconds = (performance.now() - start) / 1000;
  return t;
}

function errorsText(m: Map<string, number>): string {
  return m.size === 0 ? '0 errors' : [...m].map(([k, v]) => `${v}× ${k}`).join('; ');
}

async function main(): Promise<void> {
  const sup = new Supervisor('flotilla-bench-apiserver-');
  sup.installExitHandlers();
  const out: string[] = [];
  try {
    const kv = await LocalCluster.create(sup, raftkvKind(repoRoot), 3);
    await kv.start(60_000);
    process.stdout.write(`[bench] raftkv: 3 members at ${kv.origins.join(', ')}\n`);

    // PKI and token, as `flotilla up` makes them.
    const pki = join(sup.root, 'pki');
    mkdirSync(pki, { recursive: true });
    const ca = createCA('bench-ca');
    const serving = issue(ca, { commonName: 'flotilla-apiserver', usage: 'server', ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'] });
    const token = newToken();
    writeFileSync(join(pki, 'ca.crt'), ca.certPem);
    writeFileSync(join(pki, 'apiserver.crt'), serving.certPem);
    writeFileSync(join(pki, 'apiserver.key'), serving.keyPem, { mode: 0o600 });
    writeFileSync(join(pki, 'tokens.csv'), `${token},admin,admin,"system:masters"\n`, { mode: 0o600 });

    const ports = await freePorts(3);
    const apis: { url: string; proc: ManagedProcess }[] = [];
    for (const [i, port] of ports.entries()) {
      const proc = sup.spawn(`apiserver-${i + 1}`, process.execPath, [
        BIN, 'apiserver', '--name', `api${i + 1}`, '--etcd-servers', kv.origins.join(','), '--port', String(port), '--log-level', 'warn',
        '--tls-cert-file', join(pki, 'apiserver.crt'), '--tls-private-key-file', join(pki, 'apiserver.key'),
        '--client-ca-file', join(pki, 'ca.crt'), '--token-auth-file', join(pki, 'tokens.csv'),
      ], { logFile: join(sup.root, `apiserver-${i + 1}.log`), cwd: repoRoot });
      apis.push({ url: `https://127.0.0.1:${port}`, proc });
    }
    const agent = new Agent({ connect: { ca: ca.certPem } });
    for (const a of apis) {
      for (let i = 0; ; i++) {
        const ok = await request(`${a.url}/readyz`, { dispatcher: agent }).then((r) => (r.body.dump(), r.statusCode === 200)).catch(() => false);
        if (ok) break;
        if (a.proc.exit || i > 300) throw new Error(`apiserver ${a.url} did not become ready`);
        await sleep(100);
      }
    }
    process.stdout.write(`[bench] apiserver: 3 replicas at ${apis.map((a) => a.url).join(', ')}\n`);
    const pools = apis.map((a) => new Pool(a.url, { connections: cfg.concurrency, connect: { ca: ca.certPem } }));
    const call = (i: number, method: 'POST' | 'GET' | 'PATCH', path: string, body?: unknown, contentType?: string): Promise<{ status: number; text: string }> =>
      pools[i % pools.length].request({ method, path, body: body === undefined ? undefined : JSON.stringify(body), headers: { authorization: `Bearer ${token}`, 'content-type': contentType ?? 'application/json' } })
        .then(async (r) => ({ status: r.statusCode, text: await r.body.text() }));
    for (const ns of ['bench', 'watch-bench']) {
      const r = await call(0, 'POST', '/api/v1/namespaces', { metadata: { name: ns } });
      if (r.status !== 201) throw new Error(`creating namespace ${ns}: HTTP ${r.status} ${r.text}`);
    }

    // 1. Create pods (objects only: no scheduler or kubelet runs).
    process.stdout.write(`[bench] creating ${cfg.pods} pods at concurrency ${cfg.concurrency} over 3 replicas …\n`);
    const podBody = (i: number): string => JSON.stringify({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: `pod-${i}`, labels: { app: `app-${i % 50}`, bench: 'yes' } },
      spec: { containers: [{ name: 'main', image: 'busybox:1.36', command: ['sleep', '3600'], resources: { requests: { cpu: '10m', memory: '16Mi' } } }] },
    });
    const creates = await runCount(pools, cfg.concurrency, cfg.pods, (i) => ({ method: 'POST', path: '/api/v1/namespaces/bench/pods', body: podBody(i) }), token);
    const c = summarize(creates);
    process.stdout.write(`[bench] create: ${fmtOps(c.ops)}/s, p50 ${fmtMs(c.p50)}, p99 ${fmtMs(c.p99)}, max ${fmtMs(c.max)} (${creates.ok} ok, ${errorsText(creates.errors)})\n`);

    // 2. LIST them all, through each replica in turn.
    const lists: number[] = [];
    let listed = 0;
    let bytes = 0;
    for (let i = 0; i < cfg.lists; i++) {
      const t0 = performance.now();
      const r = await call(i, 'GET', '/api/v1/namespaces/bench/pods');
      lists.push(performance.now() - t0);
      if (r.status !== 200) throw new Error(`LIST: HTTP ${r.status}`);
      listed = (JSON.parse(r.text) as { items: unknown[] }).items.length;
      bytes = r.text.length;
    }
    const ls = sortNumbers(lists);
    process.stdout.write(`[bench] list of ${listed} pods (${(bytes / 1048576).toFixed(1)} MiB): p50 ${fmtMs(percentile(ls, 50))}, max ${fmtMs(ls[ls.length - 1])}\n`);

    // 3. Watchers, spread over the replicas, each counting the updates it receives.
    const cm = await call(0, 'POST', '/api/v1/namespaces/watch-bench/configmaps', { metadata: { name: 'hot' }, data: { n: '0' } });
    if (cm.status !== 201) throw new Error(`creating the watched configmap: HTTP ${cm.status}`);
    const rv = (JSON.parse(cm.text) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    const sentAt = new Float64Array(cfg.updates + 1);
    const deliveries: number[] = [];
    const received = new Int32Array(cfg.watchers);
    const watchAgent = new Agent({ connect: { ca: ca.certPem }, connections: cfg.watchers });
    const ac = new AbortController();
    setMaxListeners(cfg.watchers + 16, ac.signal); // one listener per watcher is the point
    let allDone: () => void = () => undefined;
    const everyoneDone = new Promise<void>((r) => (allDone = r));
    let finished = 0;
    const watchers = Array.from({ length: cfg.watchers }, async (_, w) => {
      const res = await request(`${apis[w % apis.length].url}/api/v1/namespaces/watch-bench/configmaps?watch=true&resourceVersion=${rv}`, {
        dispatcher: watchAgent, headers: { authorization: `Bearer ${token}` }, signal: ac.signal,
      });
      let buf = '';
      try {
        for await (const chunk of res.body) {
          buf += (chunk as Buffer).toString('utf8');
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const ev = JSON.parse(buf.slice(0, nl)) as { type: string; object: { data?: { n?: string } } };
            buf = buf.slice(nl + 1);
            if (ev.type !== 'MODIFIED') continue;
            const n = Number(ev.object.data?.n);
            deliveries.push(performance.now() - sentAt[n]);
            if (++received[w] === cfg.updates && ++finished === cfg.watchers) allDone();
          }
        }
      } catch (err) {
        if (!ac.signal.aborted) throw err;
      }
    });
    await sleep(1_000);
    process.stdout.write(`[bench] ${cfg.watchers} watchers open; ${cfg.updates} updates …\n`);
    const u0 = performance.now();
    const updates = await runCount(pools, 4, cfg.updates, (i) => {
      sentAt[i + 1] = performance.now();
      return { method: 'PATCH', path: '/api/v1/namespaces/watch-bench/configmaps/hot', body: JSON.stringify({ data: { n: String(i + 1) } }), contentType: 'application/merge-patch+json' };
    }, token);
    const timeout = sleep(120_000).then(() => 'timeout' as const);
    const outcome = await Promise.race([everyoneDone.then(() => 'done' as const), timeout]);
    const fanoutSeconds = (performance.now() - u0) / 1000;
    ac.abort();
    await Promise.allSettled(watchers);
    await watchAgent.close();
    const u = summarize(updates);
    const d = sortNumbers(deliveries);
    const totalReceived = received.reduce((a, b) => a + b, 0);
    process.stdout.write(`[bench] updates: ${fmtOps(u.ops)}/s, p99 ${fmtMs(u.p99)}, ${errorsText(updates.errors)}; ${totalReceived} of ${cfg.watchers * cfg.updates} events delivered (${outcome}) in ${fanoutSeconds.toFixed(1)} s; delivery p50 ${fmtMs(percentile(d, 50))}, p99 ${fmtMs(percentile(d, 99))}\n`);

    const rss = apis.map((a) => rssKiB(a.proc.pid));
    const listP50 = percentile(ls, 50);
    out.push('');
    out.push(`=== apiserver: 3 replicas (https, bearer token) over 3 raftkv members on 127.0.0.1 ===`);
    out.push(`machine: nproc ${availableParallelism()}, ${cpus()[0]?.model.split(' ').slice(0, 2).join(' ')}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM; node ${process.version}`);
    process.stdout.write(`${out.join('\n')}\n\n`);
    printTable(['metric', 'value', 'target (Kubernetes SLO)', 'result'], [
      ['create pod, concurrency 32', `${fmtOps(c.ops)}/s`, '', ''],
      ['create pod p50 / p99', `${fmtMs(c.p50)} / ${fmtMs(c.p99)}`, 'p99 < 100 ms (1 s)', c.p99 < 100 ? 'PASS' : 'MISS'],
      ['create errors', errorsText(creates.errors), '0', creates.errors.size === 0 ? 'PASS' : 'MISS'],
      [`LIST ${listed} pods, p50 of ${cfg.lists}`, fmtMs(listP50), '< 1 s (30 s)', listed === cfg.pods && listP50 < 1000 ? 'PASS' : 'MISS'],
      ['update (merge patch), concurrency 4', `${fmtOps(u.ops)}/s, p99 ${fmtMs(u.p99)}`, 'p99 < 100 ms (1 s)', u.p99 < 100 ? 'PASS' : 'MISS'],
      ['update errors', errorsText(updates.errors), '0', updates.errors.size === 0 ? 'PASS' : 'MISS'],
      [`watch: ${cfg.watchers} watchers × ${cfg.updates} updates`, `${totalReceived} events in ${fanoutSeconds.toFixed(1)} s`, 'every event delivered', totalReceived === cfg.watchers * cfg.updates ? 'PASS' : 'MISS'],
      ['watch delivery latency p50 / p99', `${fmtMs(percentile(d, 50))} / ${fmtMs(percentile(d, 99))}`, '', ''],
      ['RSS per replica after the run', rss.map((r) => fmtMiB(r)).join(', '), '', ''],
    ], ['left', 'right', 'left', 'left']);
    await Promise.all(pools.map((p) => p.close()));
    await agent.close();
  } finally {
    await sup.killAll('SIGTERM');
    sup.cleanupSync();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
