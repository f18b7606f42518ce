/**
 * The whole path of a pod, driven by the real kubectl as a user drives it: `kubectl apply` →
 * the scheduler (a `flotilla scheduler` process) binds it → a `flotilla agent` (process runtime)
 * runs it → `kubectl logs` (also -f, --tail, --previous, -c, --timestamps) reads it through the
 * API server from the kubelet → `kubectl delete` stops it gracefully. Also: CrashLoopBackOff with
 * growing delays, readiness and liveness probes (http, tcp, exec), a memory limit, and a
 * SIGKILLed kubelet that adopts its containers when it comes back.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import YAML from 'yaml';
import { createCA, issue } from '@flotilla/client';
import { TestAgent } from '../support/agent.js';
import { kubectlAvailable, TestKubeCluster } from '../support/kube-cluster.js';
import { killSchedulers, startScheduler, type SchedulerProcess } from '../support/scheduler.js';
import { freePort } from '../support/ports.js';
import { waitFor } from '../support/wait.js';

let cluster: TestKubeCluster;
let scheduler: SchedulerProcess | undefined;
const agents: TestAgent[] = [];
let scratch: string;
const available = kubectlAvailable();

beforeAll(async () => {
  if (!available) return;
  cluster = await TestKubeCluster.create({ apiServers: 1 });
  scratch = await mkdtemp(path.join(tmpdir(), 'flotilla-kubectl-pods-'));
  scheduler = await startScheduler(cluster, 'sched');
  // Each node has a pod block of its own on loopback (a random one, so parallel runs do not meet),
  // and a back-off from 1 s (Kubernetes: 10 s) so the crash loop shows its growth within the test.
  const block = 2 + 2 * Math.floor(Math.random() * 120);
  for (const [i, name] of (['node-1', 'node-2'] as const).entries()) {
    agents.push(await TestAgent.start(cluster, { name, podCIDR: `127.250.${block + i}.0/24`, args: ['--container-restart-backoff', '1s,8s'] }));
  }
}, 90_000);

afterAll(async () => {
  if (scheduler) await killSchedulers([scheduler]);
  for (const a of agents) await a.close();
  await cluster?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

const yaml = (docs: unknown[]): string => docs.map((d) => YAML.stringify(d)).join('---\n');
const sh = (script: string): { command: string[] } => ({ command: ['/bin/sh', '-c', script] });

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await cluster.kubectl(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function podJson(name: string): Promise<Record<string, any>> {
  return JSON.parse(await kubectl(['get', 'pod', name, '-o', 'json'])) as Record<string, any>;
}

const dump = (): string => `${cluster.dumpLogs()}\n${agents.map((a) => `--- ${a.opts.name}\n${a.log.slice(-30).join('\n')}`).join('\n')}`;

describe.skipIf(!available)('pods end to end with kubectl (process runtime)', () => {
  it('applies a pod and a multi-container pod; both run on a node and their logs read through kubectl', async () => {
    await kubectl(['apply', '-f', '-'], yaml([
      {
        apiVersion: 'v1', kind: 'Pod', metadata: { name: 'hello' },
        spec: {
          terminationGracePeriodSeconds: 10,
          containers: [{ name: 'main', image: 'busybox', ...sh(`trap "echo bye > ${path.join(scratch, 'hello-bye')}; exit 0" TERM; echo "hello from $POD_NAME"; i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 0.2; done`),
            env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] }],
        },
      },
      {
        apiVersion: 'v1', kind: 'Pod', metadata: { name: 'duo' },
        spec: {
          containers: [
            { name: 'left', image: 'busybox', ...sh('echo "left side"; while true; do sleep 1; done') },
            { name: 'right', image: 'busybox', ...sh('echo "right side"; echo "to stderr" >&2; while true; do sleep 1; done') },
          ],
        },
      },
    ]));
    const waited = await cluster.kubectl(['wait', '--for=condition=Ready', 'pod/hello', 'pod/duo', '--timeout=60s'], { timeoutMs: 70_000 });
    expect(waited.code, `${waited.stderr}\n${dump()}`).toBe(0);
    const wide = await kubectl(['get', 'pods', '-o', 'wide']);
    expect(wide).toMatch(/hello\s+1\/1\s+Running\s+0/);
    expect(wide).toMatch(/duo\s+2\/2\s+Running\s+0/);
    expect(wide).toMatch(/node-[12]/);

    await waitFor('output', async () => ((await kubectl(['logs', 'hello'])).includes('tick 3') ? true : undefined), 15_000);
    const all = await kubectl(['logs', 'hello']);
    expect(all.startsWith('hello from hello\ntick 1\n')).toBe(true);
    const tail = (await kubectl(['logs', 'hello', '--tail=1'])).trimEnd().split('\n');
    expect(tail).toHaveLength(1);
    expect(tail[0]).toMatch(/^tick \d+$/);
    const stamped = (await kubectl(['logs', 'hello', '--timestamps', '--tail=2'])).trimEnd().split('\n');
    for (const l of stamped) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z tick \d+$/);

    expect(await kubectl(['logs', 'duo', '-c', 'right'])).toBe('right side\nto stderr\n');
    expect(await kubectl(['logs', 'duo', '-c', 'left'])).toBe('left side\n');
    // Without -c kubectl picks the first container and says so.
    const defaulted = await cluster.kubectl(['logs', 'duo']);
    expect(defaulted.stdout).toBe('left side\n');
    expect(defaulted.stderr).toContain('Defaulted container "left" out of: left, right');
  });

  it('follows a log with -f as it grows', async () => {
    const child = spawn('kubectl', ['logs', '-f', 'hello', '--tail=1'], { env: { PATH: process.env.PATH, HOME: cluster.home, KUBECONFIG: path.join(cluster.home, 'kubeconfig') } });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    try {
      // New ticks keep arriving on the open stream: at least 5 lines beyond the first.
      await waitFor('followed lines', async () => (out.trimEnd().split('\n').length >= 6 ? true : undefined), 20_000);
      const n = out.trimEnd().split('\n').map((l) => Number(l.split(' ')[1]));
      for (let i = 1; i < n.length; i++) expect(n[i]).toBe(n[i - 1] + 1);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('answers kubectl logs errors as Kubernetes does', async () => {
    const noSuch = await cluster.kubectl(['logs', 'duo', '-c', 'middle']);
    expect(noSuch.code).not.toBe(0);
    expect(noSuch.stderr).toContain('container middle is not valid for pod duo');
    const noPrev = await cluster.kubectl(['logs', 'hello', '--previous']);
    expect(noPrev.stderr).toContain('previous terminated container "main" in pod "hello" not found');
    await kubectl(['apply', '-f', '-'], yaml([{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'nowhere' }, spec: { nodeSelector: { zone: 'mars' }, containers: [{ name: 'c', image: 'busybox', ...sh('true') }] } }]));
    const unbound = await cluster.kubectl(['logs', 'nowhere']);
    expect(unbound.stderr).toContain('pod nowhere does not have a host assigned');
    await kubectl(['delete', 'pod', 'nowhere', '--wait=false']);
  });

  it('shows a crash loop: CrashLoopBackOff with growing delays, restarts counted, and the previous run\'s log', async () => {
    await kubectl(['apply', '-f', '-'], yaml([{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'crasher' }, spec: { containers: [{ name: 'c', image: 'busybox', ...sh('echo "run starting"; sleep 0.2; exit 3') }] } }]));
    // The back-off doubles from 1 s: the waiting messages name 1s, 2s, then 4s.
    const seen: string[] = [];
    await waitFor('back-off of 4s', async () => {
      const p = await podJson('crasher');
      const msg = p.status?.containerStatuses?.[0]?.state?.waiting?.message as string | undefined;
      const m = msg ? /back-off (\d+)s/.exec(msg) : null;
      if (m && seen.at(-1) !== m[1]) seen.push(m[1]);
      return seen.includes('4') ? true : undefined;
    }, 45_000, 100);
    // Each wait seen is twice the one before (polling kubectl every ~0.2 s on a loaded machine
    // may miss the whole of the 1 s wait).
    const waits = seen.map(Number);
    expect(waits.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < waits.length; i++) expect(waits[i]).toBe(waits[i - 1] * 2);
    const p = await podJson('crasher');
    const st = p.status.containerStatuses[0];
    expect(st.restartCount).toBeGreaterThanOrEqual(2);
    expect(st.lastState.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(await kubectl(['get', 'pod', 'crasher'])).toMatch(/crasher\s+0\/1\s+(CrashLoopBackOff|Error|Running)\s+\d/);
    expect(await kubectl(['logs', 'crasher', '--previous'])).toBe('run starting\n');
    await kubectl(['delete', 'pod', 'crasher', '--grace-period=1']);
  }, 90_000);

  it('keeps a pod not Ready while its readiness probe fails, and Ready once it passes (exec, http, tcp)', async () => {
    const flag = path.join(scratch, 'ready-flag');
    const port = await freePort();
    const server = `require("http").createServer((q,s)=>{s.statusCode=q.url==="/healthz"?200:404;s.end("ok")}).listen(${port},process.env.POD_IP)`;
    await kubectl(['apply', '-f', '-'], yaml([
      {
        apiVersion: 'v1', kind: 'Pod', metadata: { name: 'gated' },
        spec: { containers: [{ name: 'c', image: 'busybox', ...sh('while true; do sleep 1; done'), readinessProbe: { exec: { command: ['test', '-f', flag] }, periodSeconds: 1 } }] },
      },
      {
        apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' },
        spec: {
          containers: [{
            name: 'web', image: 'node', command: [process.execPath, '-e', server], ports: [{ name: 'http', containerPort: port }],
            readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 },
            livenessProbe: { tcpSocket: { port }, periodSeconds: 1, failureThreshold: 3 },
          }],
        },
      },
    ]));
    await waitFor('web Ready', async () => ((await podJson('web')).status?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True' ? true : undefined), 30_000);
    // gated runs but is not Ready: its flag file does not exist yet.
    await waitFor('gated running', async () => ((await podJson('gated')).status?.phase === 'Running' ? true : undefined), 30_000);
    await new Promise((r) => setTimeout(r, 2_500)); // several probe periods
    let gated = await podJson('gated');
    expect(gated.status.conditions.find((c: any) => c.type === 'Ready').status).toBe('False');
    expect(gated.status.containerStatuses[0]).toMatchObject({ ready: false, started: true, restartCount: 0 });
    expect(await kubectl(['get', 'pod', 'gated'])).toMatch(/gated\s+0\/1\s+Running/);
    const events = JSON.parse(await kubectl(['get', 'events', '--field-selector', 'involvedObject.name=gated,reason=Unhealthy', '-o', 'json'])) as { items: { message: string; type: string }[] };
    expect(events.items[0]).toMatchObject({ type: 'Warning', message: 'Readiness probe failed: command exited with 1' });
    await writeFile(flag, '');
    await waitFor('gated Ready', async () => ((await podJson('gated')).status?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True' ? true : undefined), 15_000);
    gated = await podJson('gated');
    expect(gated.status.containerStatuses[0].ready).toBe(true);
    expect((await podJson('web')).status.containerStatuses[0].restartCount).toBe(0);
    await kubectl(['delete', 'pod', 'gated', 'web', '--grace-period=1']);
  }, 90_000);

  it('gives each pod an IP of its own from its node\'s block: two pods on one node serve the same port', async () => {
    const port = await freePort();
    const server = `require("http").createServer((q,s)=>s.end(process.env.POD_NAME)).listen(${port},process.env.POD_IP)`;
    const twin = (name: string): unknown => ({
      apiVersion: 'v1', kind: 'Pod', metadata: { name },
      spec: {
        nodeName: 'node-1', terminationGracePeriodSeconds: 1,
        containers: [{
          name: 'web', image: 'node', command: [process.execPath, '-e', server],
          env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }, { name: 'MY_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
          readinessProbe: { httpGet: { path: '/', port }, periodSeconds: 1 },
        }],
      },
    });
    await kubectl(['apply', '-f', '-'], yaml([twin('twin-a'), twin('twin-b')]));
    const waited = await cluster.kubectl(['wait', '--for=condition=Ready', 'pod/twin-a', 'pod/twin-b', '--timeout=30s'], { timeoutMs: 40_000 });
    expect(waited.code, waited.stderr).toBe(0);
    const node = JSON.parse(await kubectl(['get', 'node', 'node-1', '-o', 'json']));
    const block = String(node.spec.podCIDR);
    expect(block).toMatch(/^127\.250\.\d+\.0\/24$/);
    const ips: string[] = [];
    for (const name of ['twin-a', 'twin-b']) {
      const p = await podJson(name);
      expect(p.status.hostIP).toBe('127.0.0.1');
      expect(p.status.podIPs).toEqual([{ ip: p.status.podIP }]);
      expect(p.status.podIP.startsWith(block.slice(0, block.lastIndexOf('.') + 1))).toBe(true);
      ips.push(p.status.podIP);
      // Each answers on its own address, the same port.
      const res = await request(`http://${p.status.podIP}:${port}/`);
      expect(await res.body.text()).toBe(name);
    }
    expect(new Set(ips).size).toBe(2);
    expect(JSON.parse(await kubectl(['get', 'pods', '-o', 'json', '--field-selector', `status.podIP=${ips[0]}`])).items.map((p: any) => p.metadata.name)).toEqual(['twin-a']);
    await kubectl(['delete', 'pod', 'twin-a', 'twin-b', '--grace-period=1']);
  }, 60_000);

  it('restarts a container whose liveness probe fails, with the Unhealthy and Killing events', async () => {
    await kubectl(['apply', '-f', '-'], yaml([{
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'sick' },
      spec: {
        terminationGracePeriodSeconds: 2,
        containers: [{ name: 'c', image: 'busybox', ...sh('while true; do sleep 0.1; done'), livenessProbe: { exec: { command: ['/bin/sh', '-c', 'echo not well; exit 1'] }, periodSeconds: 1, failureThreshold: 2 } }],
      },
    }]));
    await waitFor('a liveness restart', async () => ((await podJson('sick')).status?.containerStatuses?.[0]?.restartCount >= 1 ? true : undefined), 45_000);
    const st = (await podJson('sick')).status.containerStatuses[0];
    expect(st.lastState.terminated.exitCode).toBeGreaterThan(128); // killed by a signal
    const described = await kubectl(['describe', 'pod', 'sick']);
    expect(described).toMatch(/Last State:\s+Terminated/);
    expect(described).toMatch(/Liveness:\s+exec \[\/bin\/sh -c echo not well; exit 1\]/);
    const events = await kubectl(['get', 'events', '--field-selector', 'involvedObject.name=sick', '-o', 'json']);
    const list = (JSON.parse(events) as { items: { reason: string; message: string }[] }).items;
    expect(list.find((e) => e.reason === 'Unhealthy')?.message).toBe('Liveness probe failed: not well');
    expect(list.find((e) => e.reason === 'Killing')?.message).toBe('Container c failed liveness probe, will be restarted');
    await kubectl(['delete', 'pod', 'sick', '--grace-period=1']);
  }, 90_000);

  it('kills a container over its memory limit: OOMKilled', async (ctx) => {
    const enforced = JSON.parse(await kubectl(['get', 'node', 'node-1', '-o', 'json'])).status.conditions.find((c: any) => c.type === 'LimitsEnforced');
    expect(enforced).toBeDefined();
    if (enforced.status !== 'True') {
      if (process.env.CI === 'true') throw new Error(`limits are not enforced here: ${enforced.message}`);
      ctx.skip();
    }
    await kubectl(['apply', '-f', '-'], yaml([{
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'hog' },
      spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox', ...sh('echo start; exec tail /dev/zero'), resources: { limits: { memory: '32Mi' } } }] },
    }]));
    await waitFor('hog ended', async () => ((await podJson('hog')).status?.phase === 'Failed' ? true : undefined), 30_000);
    const p = await podJson('hog');
    expect(p.status.qosClass).toBe('Burstable');
    expect(p.status.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
    expect(await kubectl(['get', 'pod', 'hog'])).toMatch(/hog\s+0\/1\s+OOMKilled/);
    // kubectl reads the pod as a typed object for logs and describe: every status field must have its API type.
    expect(await kubectl(['logs', 'hog'])).toBe('start\n');
    expect(await kubectl(['describe', 'pod', 'hog'])).toMatch(/Reason:\s+OOMKilled/);
    await kubectl(['delete', 'pod', 'hog']);
  });

  it('lets only the API server read logs from the kubelet directly: a user certificate gets 403, none 401', async () => {
    const node = JSON.parse(await kubectl(['get', 'node', 'node-1', '-o', 'json']));
    const port = node.status.daemonEndpoints.kubeletEndpoint.Port as number;
    expect(port).toBeGreaterThan(0);
    const pod = await podJson('duo');
    const url = `https://127.0.0.1:${port}/containerLogs/default/duo/left`;
    const asUser = async (cert?: { certPem: string; keyPem: string }): Promise<{ status: number; body: string }> => {
      const dispatcher = new Agent({ connect: { rejectUnauthorized: false, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}) } });
      try {
        const res = await request(url, { dispatcher });
        return { status: res.statusCode, body: await res.body.text() };
      } finally {
        await dispatcher.close();
      }
    };
    expect(pod.spec.nodeName === 'node-1' || pod.spec.nodeName === 'node-2').toBe(true);
    expect((await asUser()).status).toBe(401);
    const alice = await asUser(issue(cluster.ca, { commonName: 'alice', usage: 'client' }));
    expect(alice.status).toBe(403);
    expect(JSON.parse(alice.body).message).toBe('Forbidden (user=alice, verb=get, resource=nodes, subresource=log)');
    const self = issue(createCA('not-the-cluster-ca'), { commonName: 'kube-apiserver-kubelet-client', usage: 'client' });
    expect((await asUser(self)).status).toBe(401);
    const apiserver = await asUser(issue(cluster.ca, { commonName: 'kube-apiserver-kubelet-client', organizations: ['system:masters'], usage: 'client' }));
    // 200 on the pod's node; on the other node the kubelet does not know the pod.
    expect(apiserver.status).toBe(pod.spec.nodeName === 'node-1' ? 200 : 404);
    // /metrics is open, for Prometheus; it counts what runs there.
    const scrape = new Agent({ connect: { rejectUnauthorized: false } });
    try {
      const res = await request(`https://127.0.0.1:${port}/metrics`, { dispatcher: scrape });
      const text = await res.body.text();
      expect(res.statusCode).toBe(200);
      expect(text).toMatch(/^kubelet_running_containers \d+$/m);
      expect(text).toMatch(/^kubelet_started_containers_total \d+$/m);
      expect(text).toContain('kubelet_pod_worker_duration_seconds_bucket');
    } finally {
      await scrape.close();
    }
  });

  it('adopts its containers when the kubelet is SIGKILLed and started again: nothing restarted, nothing doubled', async () => {
    const before = await podJson('duo');
    const node = before.spec.nodeName as string;
    const agent = agents.find((a) => a.opts.name === node) as TestAgent;
    const ids = before.status.containerStatuses.map((c: any) => c.containerID).sort();
    await agent.kill('SIGKILL');
    // Meanwhile the node's kubelet cannot be reached, and kubectl says so.
    const down = await cluster.kubectl(['logs', 'duo', '-c', 'left']);
    expect(down.code).not.toBe(0);
    expect(down.stderr).toContain(`reaching the kubelet of node ${node}`);
    await agent.restart();
    await new Promise((r) => setTimeout(r, 3_000)); // several sync periods of the new kubelet
    const after = await podJson('duo');
    expect(after.status.containerStatuses.map((c: any) => c.containerID).sort()).toEqual(ids);
    expect(after.status.containerStatuses.map((c: any) => c.restartCount)).toEqual([0, 0]);
    expect(after.status.podIP).toBe(before.status.podIP); // its IP is its own still
    const running = (await agent.runtime().list()).filter((r) => r.spec.podUid === before.metadata.uid && r.status.state === 'running');
    expect(running).toHaveLength(2);
    expect(await kubectl(['logs', 'duo', '-c', 'left'])).toBe('left side\n');
  }, 60_000);

  it('deletes gracefully: the container gets SIGTERM, says goodbye, and the pod is gone', async () => {
    const pod = await podJson('hello');
    const agent = agents.find((a) => a.opts.name === pod.spec.nodeName) as TestAgent;
    await kubectl(['delete', 'pod', 'hello', 'duo'], undefined);
    const gone = await cluster.kubectl(['get', 'pod', 'hello']);
    expect(gone.stderr).toContain('pods "hello" not found');
    // The kubelet removed the pod only after its container exited: it had its say on SIGTERM.
    expect(await readFile(path.join(scratch, 'hello-bye'), 'utf8')).toBe('bye\n');
    // Its stopped containers are removed right after the pod object goes.
    await waitFor('the containers removed', async () => ((await agent.runtime().list({ podUid: pod.metadata.uid })).length === 0 ? true : undefined), 10_000);
  }, 60_000);
});
