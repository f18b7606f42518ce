/**
 * A kubelet outlives its API server: the agent's kubeconfig lists both replicas, the one it uses
 * is SIGKILLed, and the node keeps its Lease fresh and runs a new pod through the other one.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, loadKubeconfig, resources } from '@flotilla/client';
import { TestAgent } from '../support/agent.js';
import { TestKubeCluster } from '../support/kube-cluster.js';
import { waitFor } from '../support/wait.js';

let cluster: TestKubeCluster;
let agent: TestAgent | undefined;
let admin: KubeClient;

beforeAll(async () => {
  cluster = await TestKubeCluster.create({ apiServers: 2 });
  agent = await TestAgent.start(cluster, { name: 'node-1' });
  // The admin talks to the replica that stays.
  admin = new KubeClient(loadKubeconfig(path.join(cluster.home, 'kubeconfig'), 'api2'));
}, 90_000);

afterAll(async () => {
  await agent?.close();
  await admin?.close();
  await cluster?.close();
});

const renewTime = async (): Promise<string> => ((await admin.get(resources.leases, 'node-1', 'kube-node-lease')).spec as { renewTime: string }).renewTime;

describe('a kubelet whose API server dies', () => {
  it('moves to the other replica: its Lease stays fresh and a new pod runs', async () => {
    expect(agent?.log.join('\n')).toContain('node registered');
    await cluster.killApiServer('api1');
    const before = await renewTime();
    await waitFor('the node Lease renewed through api2', async () => ((await renewTime()) !== before ? true : undefined), 20_000);
    await admin.create(resources.pods, {
      metadata: { name: 'after', namespace: 'default' },
      spec: { nodeName: 'node-1', terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'busybox', command: ['/bin/sh', '-c', 'while true; do sleep 1; done'] }] },
    });
    await waitFor('the pod Running', async () => ((await admin.get(resources.pods, 'after', 'default')).status as { phase?: string } | undefined)?.phase === 'Running' ? true : undefined, 30_000);
    await admin.delete(resources.pods, 'after', { namespace: 'default' });
    await waitFor('the pod gone', async () => (await admin.get(resources.pods, 'after', 'default').then(() => undefined, () => true)), 30_000);
  }, 90_000);
});
