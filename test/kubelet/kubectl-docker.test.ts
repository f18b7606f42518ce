/**
 * The whole path of a pod with the DOCKER runtime, driven by the real kubectl: `kubectl apply` →
 * the scheduler (a `flotilla scheduler` process) binds it → a `flotilla agent --runtime docker`
 * runs it as Docker containers of a private dockerd (test/support/dockerd.ts) → `kubectl logs`
 * reads Docker's logs through the API server and the kubelet → `kubectl delete` stops them
 * gracefully. Also: the containers as Docker sees them (host network, flotilla labels), failed
 * image pulls (ErrImagePull, ImagePullBackOff, ErrImageNeverPull), a memory limit enforced by
 * dockerd's cgroups (OOMKilled), and an exec readiness probe run through `docker exec`.
 *
 * Skips (with the reason printed) where Docker cannot run; fails instead in CI.
 *
 * Every pod names the imported test image with its tag and imagePullPolicy IfNotPresent: a bare
 * `busybox` defaults to Always (as in Kubernetes), which would send dockerd to a public registry.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { DOCKER_LABELS } from '@flotilla/kubelet';
import { TestAgent } from '../support/agent.js';
import { startDockerd, TEST_IMAGE, type PrivateDockerd } from '../support/dockerd.js';
import { TestKubeCluster } from '../support/kube-cluster.js';
import { killSchedulers, startScheduler, type SchedulerProcess } from '../support/scheduler.js';
import { waitFor } from '../support/wait.js';

const dockerd = await startDockerd();
/** Inside the skipIf below, dockerd is there. */
const engine = (): PrivateDockerd => dockerd as PrivateDockerd;

let cluster: TestKubeCluster | undefined;
let scheduler: SchedulerProcess | undefined;
let agent: TestAgent | undefined;

afterAll(async () => {
  // Each step whatever the others did: nothing may outlive the test file.
  const steps: [string, () => Promise<unknown>][] = [
    ['scheduler', async () => {
      if (scheduler) await killSchedulers([scheduler]);
    }],
    ['agent', async () => agent?.close()], // needs dockerd: it removes its containers through it
    ['dockerd', async () => dockerd?.stop()],
    ['cluster', async () => cluster?.close()],
  ];
  const failed: string[] = [];
  for (const [what, step] of steps) await step().catch((err: unknown) => failed.push(`${what}: ${String(err)}`));
  if (failed.length > 0) throw new Error(`cleanup failed: ${failed.join('; ')}`);
}, 60_000);

const yaml = (docs: unknown[]): string => docs.map((d) => YAML.stringify(d)).join('---\n');
/** A container of the test image, never pulled. */
const box = (name: string, script: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name, image: TEST_IMAGE, imagePullPolicy: 'IfNotPresent', command: ['/bin/sh', '-c', script], ...extra,
});
const pod = (name: string, spec: Record<string, unknown>): Record<string, unknown> => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec });

function kc(): TestKubeCluster {
  if (!cluster) throw new Error('no cluster');
  return cluster;
}

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await kc().kubectl(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function podJson(name: string): Promise<Record<string, any>> {
  return JSON.parse(await kubectl(['get', 'pod', name, '-o', 'json'])) as Record<string, any>;
}

/** The pod straight from the API (cheaper than a kubectl process, for tight polling). */
async function podApi(name: string): Promise<Record<string, any>> {
  const r = await kc().call('GET', `/api/v1/namespaces/default/pods/${name}`);
  if (r.status !== 200) throw new Error(`GET pod ${name}: ${r.status} ${r.text}`);
  return r.json as Record<string, any>;
}

const ready = (p: Record<string, any>): string | undefined => p.status?.conditions?.find((c: any) => c.type === 'Ready')?.status;

/** The Docker containers of a pod (running or not), oldest first. */
async function containersOf(uid: string): Promise<Awaited<ReturnType<PrivateDockerd['docker']['listContainers']>>> {
  const list = await engine().docker.listContainers({ all: true, filters: { label: [`${DOCKER_LABELS.podUid}=${uid}`] } });
  return list.sort((a, b) => a.Created - b.Created);
}

/** Docker's events as they happen, one parsed event at a time (a chunk may hold part of a line). */
interface DockerEvent { Action: string; Actor: { Attributes: Record<string, string> } }
async function dockerEvents(filters: Record<string, string[]>, onEvent: (e: DockerEvent) => void): Promise<Readable> {
  const stream = (await engine().docker.getEvents({ filters })) as Readable;
  let buf = '';
  stream.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) onEvent(JSON.parse(line) as DockerEvent);
    }
  });
  stream.on('error', () => undefined); // destroyed when the test is done with it
  return stream;
}

const dump = (): string => `${cluster?.dumpLogs() ?? ''}\n--- agent\n${agent?.log.slice(-30).join('\n') ?? ''}`;

describe.skipIf(!dockerd)('pods end to end with kubectl (docker runtime)', () => {
  beforeAll(async () => {
    cluster = await TestKubeCluster.create({ apiServers: 1 });
    scheduler = await startScheduler(cluster, 'sched');
    agent = await TestAgent.start(cluster, { name: 'node-1', runtime: 'docker', dockerSocket: engine().socketPath, args: ['--container-restart-backoff', '1s,8s'] });
  }, 90_000);

  it('applies a pod and a multi-container pod; they run on node-1 and their logs read through kubectl', async () => {
    await kubectl(['apply', '-f', '-'], yaml([
      pod('hello', {
        terminationGracePeriodSeconds: 10,
        containers: [box('main', 'trap "echo bye; exit 0" TERM; echo "hello from $POD_NAME"; i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 0.2; done', {
          env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
        })],
      }),
      pod('duo', {
        // As PID 1 of a container a shell ignores SIGTERM unless it traps it.
        containers: [
          box('left', 'trap "exit 0" TERM; echo "left side"; while true; do sleep 1; done'),
          box('right', 'trap "exit 0" TERM; echo "right side"; echo "to stderr" >&2; while true; do sleep 1; done'),
        ],
      }),
    ]));
    const waited = await kc().kubectl(['wait', '--for=condition=Ready', 'pod/hello', 'pod/duo', '--timeout=60s'], { timeoutMs: 70_000 });
    expect(waited.code, `${waited.stderr}\n${dump()}`).toBe(0);
    const wide = await kubectl(['get', 'pods', '-o', 'wide']);
    expect(wide).toMatch(/hello\s+1\/1\s+Running\s+0\s+\S+\s+127\.0\.0\.1\s+node-1/);
    expect(wide).toMatch(/duo\s+2\/2\s+Running\s+0\s+\S+\s+127\.0\.0\.1\s+node-1/);

    await waitFor('output', async () => ((await kubectl(['logs', 'hello'])).includes('tick 3') ? true : undefined), 15_000, 200);
    const all = await kubectl(['logs', 'hello']);
    expect(all.startsWith('hello from hello\ntick 1\ntick 2\ntick 3\n')).toBe(true);
    const tail = (await kubectl(['logs', 'hello', '--tail=1'])).trimEnd().split('\n');
    expect(tail).toHaveLength(1);
    expect(tail[0]).toMatch(/^tick \d+$/);
    // Docker's own timestamps: RFC 3339 with nanoseconds.
    const stamped = (await kubectl(['logs', 'hello', '--timestamps', '--tail=2'])).trimEnd().split('\n');
    expect(stamped).toHaveLength(2);
    for (const l of stamped) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z tick \d+$/);

    expect(await kubectl(['logs', 'duo', '-c', 'left'])).toBe('left side\n');
    // stdout and stderr, both in the log (Docker copies the two pipes apart: their order is its own).
    expect((await kubectl(['logs', 'duo', '-c', 'right'])).split('\n').sort()).toEqual(['', 'right side', 'to stderr']);
    const defaulted = await kc().kubectl(['logs', 'duo']);
    expect(defaulted.stdout).toBe('left side\n');
    expect(defaulted.stderr).toContain('Defaulted container "left" out of: left, right');
  });

  it('follows a log with -f as it grows', async () => {
    const child = spawn('kubectl', ['logs', '-f', 'hello', '--tail=1'], { env: { PATH: process.env.PATH, HOME: kc().home, KUBECONFIG: path.join(kc().home, 'kubeconfig') } });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    try {
      // New ticks keep arriving on the open stream: at least 5 lines beyond the first.
      await waitFor('followed lines', () => (out.trimEnd().split('\n').length >= 6 ? true : undefined), 20_000);
      const n = out.trimEnd().split('\n').map((l) => Number(/^tick (\d+)$/.exec(l)?.[1]));
      for (let i = 1; i < n.length; i++) expect(n[i]).toBe(n[i - 1] + 1);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('runs each container as a Docker container: host network, the flotilla labels, docker:// IDs', async () => {
    const node = JSON.parse(await kubectl(['get', 'node', 'node-1', '-o', 'json']));
    expect(node.status.nodeInfo.containerRuntimeVersion).toBe('docker://flotilla');
    expect(node.status.conditions.find((c: any) => c.type === 'LimitsEnforced')?.status).toBe('True');

    const duo = await podJson('duo');
    const uid = duo.metadata.uid as string;
    const found = await containersOf(uid);
    expect(found.map((c) => c.Labels[DOCKER_LABELS.container]).sort()).toEqual(['left', 'right']);
    for (const st of duo.status.containerStatuses) {
      expect(st.containerID).toMatch(/^docker:\/\/[0-9a-f]{64}$/);
      const id = (st.containerID as string).slice('docker://'.length);
      const info = await engine().docker.getContainer(id).inspect();
      expect(info.State.Running).toBe(true);
      expect(info.HostConfig.NetworkMode).toBe('host');
      expect(info.HostConfig.RestartPolicy?.Name).toBe('no');
      expect(info.Config.Image).toBe(TEST_IMAGE);
      expect(info.Config.Labels).toMatchObject({
        [DOCKER_LABELS.node]: 'node-1',
        [DOCKER_LABELS.podUid]: uid,
        [DOCKER_LABELS.podNamespace]: 'default',
        [DOCKER_LABELS.podName]: 'duo',
        [DOCKER_LABELS.container]: st.name,
        [DOCKER_LABELS.attempt]: '0',
        [DOCKER_LABELS.init]: 'false',
      });
      expect(JSON.parse(info.Config.Labels[DOCKER_LABELS.spec])).toMatchObject({ podUid: uid, name: st.name, image: TEST_IMAGE });
      expect(info.Name).toMatch(new RegExp(`^/flotilla_node-1_default_duo_${st.name}_0_[0-9a-f]{6}$`));
      // The status names the image the container was created from.
      expect(st.image).toBe(TEST_IMAGE);
    }
    // POD_IP is the node's: the pod shares the host's network.
    expect(duo.status.podIP).toBe('127.0.0.1');
  });

  it('reports a failed pull as ErrImagePull then ImagePullBackOff with Docker\'s message, and pull policy Never as ErrImageNeverPull', async () => {
    // Loopback registries only: nothing listens on port 9.
    const missing = '127.0.0.1:9/flotilla/missing:1';
    const absent = '127.0.0.1:9/flotilla/absent:1';
    await kubectl(['apply', '-f', '-'], yaml([
      pod('ghost', { containers: [{ name: 'c', image: missing, command: ['true'] }] }),
      pod('never', { containers: [{ name: 'c', image: absent, imagePullPolicy: 'Never', command: ['true'] }] }),
    ]));
    try {
      // What `kubectl get pod` shows in STATUS and what the container status says, as they come.
      const columns = new Set<string>();
      const waiting = new Map<string, string>();
      await waitFor('ErrImagePull and ImagePullBackOff', async () => {
        const row = (await kubectl(['get', 'pod', 'ghost', '--no-headers'])).trim().split(/\s+/);
        columns.add(row[2]);
        const w = (await podApi('ghost')).status?.containerStatuses?.[0]?.state?.waiting;
        if (w?.reason) waiting.set(w.reason, w.message);
        return columns.has('ErrImagePull') && columns.has('ImagePullBackOff') && waiting.has('ErrImagePull') && waiting.has('ImagePullBackOff') ? true : undefined;
      }, 30_000, 150);
      expect([...columns].filter((c) => !['Pending', 'ContainerCreating', 'ErrImagePull', 'ImagePullBackOff'].includes(c))).toEqual([]);
      // Docker's own words, without dockerode's "(HTTP code 500)" preamble.
      const pullMsg = waiting.get('ErrImagePull') as string;
      expect(pullMsg).toContain('127.0.0.1:9');
      expect(pullMsg).not.toMatch(/HTTP code/);
      expect(waiting.get('ImagePullBackOff')).toBe(`Back-off pulling image "${missing}": ${pullMsg}`);
      const ghost = await podJson('ghost');
      expect(ghost.status.phase).toBe('Pending');
      expect(ghost.status.containerStatuses[0]).toMatchObject({ ready: false, restartCount: 0 });
      expect(ghost.status.containerStatuses[0].containerID).toBeUndefined();
      expect(await containersOf(ghost.metadata.uid)).toEqual([]);

      const events = JSON.parse(await kubectl(['get', 'events', '--field-selector', 'involvedObject.name=ghost', '-o', 'json'])) as { items: Record<string, any>[] };
      const failed = events.items.find((e) => e.reason === 'Failed');
      expect(failed, JSON.stringify(events.items)).toBeDefined();
      expect(failed).toMatchObject({ type: 'Warning', source: { component: 'kubelet', host: 'node-1' } });
      expect(failed?.message).toBe(`Failed to pull image "${missing}": ${pullMsg}`);

      await waitFor('ErrImageNeverPull', async () => ((await podApi('never')).status?.containerStatuses?.[0]?.state?.waiting?.reason === 'ErrImageNeverPull' ? true : undefined), 20_000, 150);
      expect((await podJson('never')).status.containerStatuses[0].state.waiting.message).toBe(`Container image "${absent}" is not present with pull policy of Never`);
      expect(await kubectl(['get', 'pod', 'never'])).toMatch(/never\s+0\/1\s+ErrImageNeverPull\s+0/);
    } finally {
      await kubectl(['delete', 'pod', 'ghost', 'never', '--timeout=30s']);
    }
  }, 60_000);

  it('kills a container over its memory limit: OOMKilled, exit 137, by dockerd\'s cgroup', async () => {
    await kubectl(['apply', '-f', '-'], yaml([pod('hog', {
      restartPolicy: 'Never',
      containers: [box('c', 'echo start; exec tail /dev/zero', { resources: { limits: { memory: '32Mi' } } })],
    })]));
    try {
      await waitFor('hog ended', async () => ((await podApi('hog')).status?.phase === 'Failed' ? true : undefined), 30_000, 200);
      const p = await podJson('hog');
      expect(p.status.qosClass).toBe('Burstable');
      expect(p.status.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
      expect(await kubectl(['get', 'pod', 'hog'])).toMatch(/hog\s+0\/1\s+OOMKilled\s+0/);
      const id = (p.status.containerStatuses[0].containerID as string).slice('docker://'.length);
      const info = await engine().docker.getContainer(id).inspect();
      expect(info.HostConfig).toMatchObject({ Memory: 32 * 1024 * 1024, MemorySwap: 32 * 1024 * 1024 });
      expect(info.State).toMatchObject({ OOMKilled: true, ExitCode: 137 });
      // kubectl logs decodes the pod into its Go types, terminated state and all.
      expect(await kubectl(['logs', 'hog'])).toBe('start\n');
    } finally {
      await kubectl(['delete', 'pod', 'hog', '--timeout=30s']);
    }
  }, 60_000);

  it('keeps a pod not Ready while its exec readiness probe fails inside the container, and Ready once it passes', async () => {
    // Docker's account of the probe: each run is an exec in the container, with its exit code.
    const execs: { action: string; exitCode?: string }[] = [];
    const events = await dockerEvents({ type: ['container'], label: [`${DOCKER_LABELS.podName}=gated`] }, (e) => {
      if (e.Action.startsWith('exec_')) execs.push({ action: e.Action, exitCode: e.Actor.Attributes.exitCode });
    });
    try {
      await kubectl(['apply', '-f', '-'], yaml([pod('gated', {
        containers: [box('c', 'trap "exit 0" TERM; sleep 4; touch /tmp/ready; while true; do sleep 1; done', {
          readinessProbe: { exec: { command: ['test', '-f', '/tmp/ready'] }, periodSeconds: 1 },
        })],
      })]));
      const running = await waitFor('gated running', async () => {
        const p = await podApi('gated');
        return p.status?.phase === 'Running' ? p : undefined;
      }, 30_000, 100);
      expect(ready(running)).toBe('False');
      expect(running.status.containerStatuses[0]).toMatchObject({ ready: false, started: true, restartCount: 0 });
      expect(await kubectl(['get', 'pod', 'gated'])).toMatch(/gated\s+0\/1\s+Running\s+0/);
      // The probe runs in the container (docker exec) and fails while the file is missing...
      await waitFor('a failed probe run', () => (execs.some((e) => e.action.startsWith('exec_die') && e.exitCode === '1') ? true : undefined), 10_000);
      expect(ready(await podApi('gated'))).toBe('False');
      // ...and passes once the container has made it.
      await waitFor('gated Ready', async () => (ready(await podApi('gated')) === 'True' ? true : undefined), 20_000, 200);
      expect(execs.some((e) => e.action === 'exec_start: test -f /tmp/ready')).toBe(true);
      expect(execs.some((e) => e.action.startsWith('exec_die') && e.exitCode === '0')).toBe(true);
      const p = await podJson('gated');
      expect(p.status.containerStatuses[0]).toMatchObject({ ready: true, restartCount: 0 });
      expect(await kubectl(['get', 'pod', 'gated'])).toMatch(/gated\s+1\/1\s+Running\s+0/);
    } finally {
      events.destroy();
      await kubectl(['delete', 'pod', 'gated', '--timeout=30s']);
    }
  }, 60_000);

  it('deletes gracefully: the containers get SIGTERM, exit by themselves, and are removed', async () => {
    const pods = await Promise.all(['hello', 'duo'].map((n) => podJson(n)));
    const uids = pods.map((p) => p.metadata.uid as string);
    const helloId = (pods[0].status.containerStatuses[0].containerID as string).slice('docker://'.length);
    // Docker's own account of what happens to the containers: kill (with its signal) and die (with the exit code).
    const seen: { action: string; name: string; signal?: string; exitCode?: string }[] = [];
    const events = await dockerEvents({ type: ['container'], event: ['kill', 'die'], label: [`${DOCKER_LABELS.node}=node-1`] }, (e) => {
      const a = e.Actor.Attributes;
      if (uids.includes(a[DOCKER_LABELS.podUid])) seen.push({ action: e.Action, name: `${a[DOCKER_LABELS.podName]}/${a[DOCKER_LABELS.container]}`, signal: a.signal, exitCode: a.exitCode });
    });
    // hello's log as Docker has it, to the end: its goodbye is the last line.
    const helloLog = (await engine().docker.getContainer(helloId).logs({ follow: true, stdout: true, stderr: true, tail: 1 })) as unknown as Readable;
    let goodbye = '';
    helloLog.on('data', (b: Buffer) => (goodbye += b.toString('latin1')));
    try {
      await kubectl(['delete', 'pod', 'hello', 'duo', '--timeout=30s']);
      const gone = await kc().kubectl(['get', 'pod', 'hello']);
      expect(gone.stderr).toContain('pods "hello" not found');
      await waitFor('three containers dead', () => (seen.filter((e) => e.action === 'die').length >= 3 ? true : undefined), 10_000);
      // SIGTERM only, never SIGKILL: each container's trap ran and it exited 0 within its grace period.
      expect(seen.filter((e) => e.action === 'kill').map((e) => `${e.name} ${e.signal}`).sort()).toEqual(['duo/left 15', 'duo/right 15', 'hello/main 15']);
      expect(seen.filter((e) => e.action === 'die').map((e) => `${e.name} ${e.exitCode}`).sort()).toEqual(['duo/left 0', 'duo/right 0', 'hello/main 0']);
      await waitFor('hello\'s goodbye', () => (goodbye.includes('bye\n') ? true : undefined), 5_000);
      // And the kubelet removed them.
      await waitFor('no containers left', async () => ((await Promise.all(uids.map(containersOf))).flat().length === 0 ? true : undefined), 15_000, 200);
    } finally {
      events.destroy();
      helloLog.destroy();
    }
    expect((await engine().docker.listContainers({ all: true })).map((c) => c.Names)).toEqual([]);
  }, 60_000);
});
