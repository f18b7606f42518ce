/**
 * `flotilla up --detach` starts a whole local HA cluster as separate processes on their own
 * loopback addresses and exits once it serves; `flotilla down` stops every process it started.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { RaftKvClient } from '@flotilla/raftkv/client';
import { Agent, request } from 'undici';
import { startDockerd, TEST_IMAGE } from '../support/dockerd.js';
import { FLOTILLA_BIN } from '../support/raftkv-cluster.js';
import { waitFor } from '../support/wait.js';
import { alive, ownedBy } from '../support/pids.js';

const run = promisify(execFile);
let dataDir: string | undefined;

afterEach(async () => {
  if (!dataDir) return;
  // Whatever happened, stop what the cluster file says was started, by PID.
  try {
    const cluster = JSON.parse(await readFile(path.join(dataDir, 'cluster.json'), 'utf8')) as { processes: { pid: number; root?: string }[] };
    // Only what is still ours: a PID of a process that has exited may be someone else's by now.
    const dir = dataDir;
    for (const p of cluster.processes) if (ownedBy(p.pid, dir)) process.kill(p.pid, 'SIGKILL');
    // And the containers the agents started and that have not ended (their process groups).
    for (const p of cluster.processes) {
      if (!p.root) continue;
      for (const id of await readdir(path.join(p.root, 'containers')).catch(() => [] as string[])) {
        const rec = await readFile(path.join(p.root, 'containers', id, 'pid.json'), 'utf8').catch(() => undefined);
        const pid = rec ? (JSON.parse(rec) as { pid: number }).pid : 0;
        if (pid > 0 && ownedBy(pid, dir)) process.kill(-pid, 'SIGKILL');
      }
    }
  } catch {
    // no cluster file
  }
  await rm(dataDir, { recursive: true, force: true });
  dataDir = undefined;
});

describe('flotilla up / down', () => {
  it('starts a 3-server cluster in the background, serves, and stops cleanly', async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'flotilla-up-'));
    // A loopback prefix of its own so a developer's running cluster never collides with the test.
    const prefix = `127.${100 + Math.floor(Math.random() * 100)}.${1 + Math.floor(Math.random() * 200)}`;
    const up = await run(process.execPath, [FLOTILLA_BIN, 'up', '--detach', '--data-dir', dataDir, '--ip-prefix', prefix], { timeout: 60_000 });
    expect(up.stdout).toContain('3 members serving');
    expect(up.stdout).toContain('3 replicas serving');
    const cluster = JSON.parse(await readFile(path.join(dataDir, 'cluster.json'), 'utf8')) as {
      processes: { pid: number; role: string; clientURL: string }[];
      raftkvEndpoints: string[];
      apiServers: string[];
      kubeconfig: string;
    };
    expect(up.stdout).toContain('agent-1');
    expect(cluster.processes.map((p) => p.role).sort()).toEqual(['agent', 'agent', 'apiserver', 'apiserver', 'apiserver', 'raftkv', 'raftkv', 'raftkv', 'scheduler', 'scheduler', 'scheduler']);
    for (const p of cluster.processes) expect(alive(p.pid)).toBe(true);
    expect(cluster.raftkvEndpoints).toEqual([1, 2, 3].map((n) => `http://${prefix}.${n}:2379`));
    expect(cluster.apiServers).toEqual([1, 2, 3].map((n) => `https://${prefix}.${n}:6443`));

    // The kubeconfig reaches every replica over https (the cluster CA, the admin token), and
    // each serves the same objects; without the token the answer is 401.
    const kubeconfig = JSON.parse(await readFile(cluster.kubeconfig, 'utf8')) as {
      clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
      users: { user: { token: string } }[];
    };
    expect(kubeconfig.clusters.map((c) => c.cluster.server)).toEqual(cluster.apiServers);
    const ca = Buffer.from(kubeconfig.clusters[0].cluster['certificate-authority-data'], 'base64').toString();
    const dispatcher = new Agent({ connect: { ca } });
    try {
      for (const api of cluster.apiServers) {
        const res = await request(`${api}/api/v1/namespaces/default`, { dispatcher, headers: { authorization: `Bearer ${kubeconfig.users[0].user.token}` } });
        expect(res.statusCode).toBe(200);
        expect(((await res.body.json()) as { metadata: { name: string } }).metadata.name).toBe('default');
        const anonymous = await request(`${api}/api/v1/namespaces/default`, { dispatcher });
        expect(anonymous.statusCode).toBe(401);
        await anonymous.body.dump();
      }
      // One of the three schedulers holds the Lease.
      const holder = await waitFor('a scheduler to hold the kube-scheduler Lease', async () => {
        const res = await request(`${cluster.apiServers[0]}/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler`, { dispatcher, headers: { authorization: `Bearer ${kubeconfig.users[0].user.token}` } });
        const body = (await res.body.json()) as { spec?: { holderIdentity?: string } };
        return res.statusCode === 200 && body.spec?.holderIdentity ? body.spec.holderIdentity : undefined;
      }, 20_000);
      expect(holder).toMatch(/^server-[123]-scheduler$/);

      // The whole path: a pod is scheduled onto an agent, whose kubelet runs it.
      const auth = { authorization: `Bearer ${kubeconfig.users[0].user.token}`, 'content-type': 'application/json' };
      const created = await request(`${cluster.apiServers[0]}/api/v1/namespaces/default/pods`, {
        method: 'POST', dispatcher, headers: auth,
        body: JSON.stringify({ metadata: { name: 'smoke' }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'busybox', command: ['/bin/sh', '-c', 'echo smoke says hi; while true; do sleep 0.1; done'] }] } }),
      });
      expect(created.statusCode).toBe(201);
      await created.body.dump();
      const running = await waitFor('the pod to run on an agent', async () => {
        const res = await request(`${cluster.apiServers[1]}/api/v1/namespaces/default/pods/smoke`, { dispatcher, headers: auth });
        const pod = (await res.body.json()) as { spec: { nodeName?: string }; status?: { phase?: string } };
        return pod.status?.phase === 'Running' ? pod : undefined;
      }, 30_000);
      expect(running.spec.nodeName).toMatch(/^agent-[12]$/);
      // Its log, through an API server from the agent's kubelet (each side checks the other's certificate).
      const log = await waitFor('the pod\'s log', async () => {
        const res = await request(`${cluster.apiServers[2]}/api/v1/namespaces/default/pods/smoke/log`, { dispatcher, headers: auth });
        const text = await res.body.text();
        return res.statusCode === 200 && text.length > 0 ? text : undefined;
      }, 10_000);
      expect(log).toBe('smoke says hi\n');
    } finally {
      await dispatcher.close();
    }

    const client = new RaftKvClient({ endpoints: cluster.raftkvEndpoints });
    try {
      await client.put('hello', 'world');
      expect(new TextDecoder().decode((await client.get('hello')).kvs[0].value)).toBe('world');
    } finally {
      await client.close();
    }

    const again = await run(process.execPath, [FLOTILLA_BIN, 'up', '--detach', '--data-dir', dataDir, '--ip-prefix', prefix], { timeout: 60_000 }).catch((e: { code: number; stderr: string }) => e);
    expect((again as { code: number }).code).toBe(1);
    expect((again as { stderr: string }).stderr).toContain('already running');

    const down = await run(process.execPath, [FLOTILLA_BIN, 'down', '--data-dir', dataDir], { timeout: 60_000 });
    expect(down.stdout).toContain('stopped 11 processes and 1 container');
    for (const p of cluster.processes) expect(alive(p.pid)).toBe(false);
  }, 120_000);

  it('runs the agents on a Docker engine with --runtime docker; down removes their containers', async (ctx) => {
    const dockerd = await startDockerd();
    if (!dockerd) {
      ctx.skip();
      return;
    }
    try {
      dataDir = await mkdtemp(path.join(tmpdir(), 'flotilla-up-docker-'));
      const prefix = `127.${100 + Math.floor(Math.random() * 100)}.${1 + Math.floor(Math.random() * 200)}`;
      const up = await run(process.execPath, [
        FLOTILLA_BIN, 'up', '--detach', '--data-dir', dataDir, '--ip-prefix', prefix, '--servers', '1', '--agents', '1',
        '--runtime', 'docker', '--docker-endpoint', `unix://${dockerd.socketPath}`,
      ], { timeout: 60_000 });
      expect(up.stdout).toContain('Ready (docker runtime)');
      const cluster = JSON.parse(await readFile(path.join(dataDir, 'cluster.json'), 'utf8')) as { apiServers: string[]; kubeconfig: string };
      const kubeconfig = JSON.parse(await readFile(cluster.kubeconfig, 'utf8')) as { clusters: { cluster: { 'certificate-authority-data': string } }[]; users: { user: { token: string } }[] };
      const dispatcher = new Agent({ connect: { ca: Buffer.from(kubeconfig.clusters[0].cluster['certificate-authority-data'], 'base64').toString() } });
      const auth = { authorization: `Bearer ${kubeconfig.users[0].user.token}`, 'content-type': 'application/json' };
      const api = cluster.apiServers[0];
      try {
        const created = await request(`${api}/api/v1/namespaces/default/pods`, {
          method: 'POST', dispatcher, headers: auth,
          body: JSON.stringify({ metadata: { name: 'boxed' }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: TEST_IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'echo from docker; while true; do sleep 1; done'] }] } }),
        });
        expect(created.statusCode).toBe(201);
        await created.body.dump();
        const pod = await waitFor('the pod to run in Docker', async () => {
          const res = await request(`${api}/api/v1/namespaces/default/pods/boxed`, { dispatcher, headers: auth });
          const p = (await res.body.json()) as { status?: { phase?: string; containerStatuses?: { containerID?: string }[] } };
          return p.status?.phase === 'Running' ? p : undefined;
        }, 30_000);
        expect(pod.status?.containerStatuses?.[0]?.containerID).toMatch(/^docker:\/\/[0-9a-f]{64}$/);
        const log = await waitFor('its log', async () => {
          const res = await request(`${api}/api/v1/namespaces/default/pods/boxed/log`, { dispatcher, headers: auth });
          const text = await res.body.text();
          return res.statusCode === 200 && text ? text : undefined;
        }, 10_000);
        expect(log).toBe('from docker\n');
      } finally {
        await dispatcher.close();
      }
      expect((await dockerd.docker.listContainers({ all: true, filters: { label: ['io.flotilla.node=agent-1'] } })).length).toBe(1);
      const down = await run(process.execPath, [FLOTILLA_BIN, 'down', '--data-dir', dataDir], { timeout: 60_000 });
      expect(down.stdout).toContain('and 1 container');
      expect(await dockerd.docker.listContainers({ all: true })).toEqual([]);
    } finally {
      await dockerd.stop();
    }
  }, 120_000);
});
