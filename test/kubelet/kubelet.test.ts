/**
 * The kubelet's pod workers with the process runtime, against real apiserver processes and with
 * a kubelet's own credentials: a pod bound to the node runs with its environment resolved (a
 * ConfigMap key, the downward API), reports Running; a crashing container is restarted with
 * back-off; a deleted pod is stopped gracefully and then removed from the API.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject } from '@flotilla/api';
import { KubeClient, loadKubeconfig, resources } from '@flotilla/client';
import { Kubelet, NodeAgent, ProcessRuntime, readAll } from '@flotilla/kubelet';
import { TestKubeCluster } from '../support/kube-cluster.js';
import { waitFor } from '../support/wait.js';

let cluster: TestKubeCluster;
let admin: KubeClient;
let nodeClient: KubeClient;
let root: string;
let runtime: ProcessRuntime;
let agent: NodeAgent;
let kubelet: Kubelet;

beforeAll(async () => {
  cluster = await TestKubeCluster.create({ apiServers: 1 });
  admin = new KubeClient(loadKubeconfig(path.join(cluster.home, 'kubeconfig')));
  nodeClient = new KubeClient(loadKubeconfig(await cluster.kubeconfigFor(cluster.tokens.node1, 'node-1')));
  root = await mkdtemp(path.join(tmpdir(), 'flotilla-kubelet-'));
  runtime = new ProcessRuntime(root);
  agent = new NodeAgent(nodeClient, { name: 'node-1', internalIP: '127.0.0.1', runtime: 'process', leasePeriodMs: 500 });
  await agent.start();
  kubelet = new Kubelet({ client: nodeClient, runtime, nodeName: 'node-1', nodeIP: '127.0.0.1', backoff: { baseMs: 200, maxMs: 1_000, resetAfterMs: 60_000 }, resyncMs: 200 });
  await kubelet.start();
}, 60_000);

afterAll(async () => {
  await kubelet?.stop();
  agent?.stop();
  if (runtime) for (const r of await runtime.list()) await runtime.stop(r.id, 0);
  if (root) await rm(root, { recursive: true, force: true });
  await nodeClient?.close();
  await admin?.close();
  await cluster?.close();
});

const statusOf = async (name: string): Promise<Record<string, unknown> | undefined> => {
  const p = await admin.get(resources.pods, name, 'default').catch(() => undefined);
  return p?.status as Record<string, unknown> | undefined;
};
const firstContainer = (s: Record<string, unknown> | undefined): Record<string, unknown> | undefined => (s?.containerStatuses as Record<string, unknown>[] | undefined)?.[0];

describe('kubelet pod workers (process runtime)', () => {
  it('runs a pod with its environment resolved and reports it Running', async () => {
    await admin.create(resources.configmaps, { metadata: { name: 'cfg', namespace: 'default' }, data: { greeting: 'hello' } });
    const pod: KubeObject = {
      metadata: { name: 'app', namespace: 'default' },
      spec: {
        nodeName: 'node-1',
        terminationGracePeriodSeconds: 5,
        containers: [{
          name: 'main', image: 'busybox', command: ['/bin/sh', '-c'], args: ['echo "$GREETING from $POD_NAME on $NODE"; while true; do sleep 0.1; done'],
          env: [
            { name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'greeting' } } },
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
          ],
        }],
      },
    };
    await admin.create(resources.pods, pod);
    const status = await waitFor('app to run', async () => {
      const s = await statusOf('app');
      return s?.phase === 'Running' && firstContainer(s)?.ready === true ? s : undefined;
    }, 20_000);
    expect(status).toMatchObject({ hostIP: '127.0.0.1', podIP: '127.0.0.1' });
    expect(firstContainer(status)).toMatchObject({ name: 'main', restartCount: 0, state: { running: {} } });
    expect(status.conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'True' }));
    const id = String(firstContainer(status)?.containerID).replace('process://', '');
    await waitFor('its output', async () => ((await readAll(await runtime.logs(id))).toString().includes('hello from app on node-1') ? true : undefined), 5_000);
  });

  it('restarts a crashing container with back-off', async () => {
    await admin.create(resources.pods, {
      metadata: { name: 'crash', namespace: 'default' },
      spec: { nodeName: 'node-1', containers: [{ name: 'c', image: 'busybox', command: ['/bin/sh', '-c', 'echo oops; exit 1'] }] },
    });
    const s = await waitFor('two restarts', async () => {
      const st = await statusOf('crash');
      const c = firstContainer(st);
      return c && Number(c.restartCount) >= 2 ? c : undefined;
    }, 20_000);
    expect(s.lastState).toMatchObject({ terminated: { exitCode: 1, reason: 'Error' } });
    await admin.delete(resources.pods, 'crash', { namespace: 'default', gracePeriodSeconds: 0 });
  });

  it('stops a deleted pod gracefully, then removes it from the API', async () => {
    await admin.delete(resources.pods, 'app', { namespace: 'default' });
    await waitFor('app to be gone', async () => ((await admin.get(resources.pods, 'app', 'default').catch(() => undefined)) === undefined ? true : undefined), 20_000);
    await waitFor('its containers to be removed', async () => ((await runtime.list()).every((r) => r.spec.podName !== 'app') ? true : undefined), 10_000);
  });
});
