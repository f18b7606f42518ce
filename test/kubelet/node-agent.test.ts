/**
 * A kubelet's node against real apiserver processes, with a kubelet's own credentials
 * (system:node:node-1): it registers its Node with capacity, addresses and conditions, keeps its
 * node Lease renewed, and may register no other node.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, loadKubeconfig, resources } from '@flotilla/client';
import { NodeAgent } from '@flotilla/kubelet';
import { TestKubeCluster } from '../support/kube-cluster.js';
import { waitFor } from '../support/wait.js';

let cluster: TestKubeCluster;
let kubelet: KubeClient;
let admin: KubeClient;

beforeAll(async () => {
  cluster = await TestKubeCluster.create({ apiServers: 1 });
  kubelet = new KubeClient(loadKubeconfig(await cluster.kubeconfigFor(cluster.tokens.node1, 'node-1')));
  admin = new KubeClient(loadKubeconfig(path.join(cluster.home, 'kubeconfig')));
}, 60_000);

afterAll(async () => {
  await kubelet?.close();
  await admin?.close();
  await cluster?.close();
});

describe('kubelet node agent', () => {
  it('registers its Node, reports it Ready with capacity, and renews its Lease', async () => {
    const agent = new NodeAgent(kubelet, {
      name: 'node-1', internalIP: '127.0.1.11', runtime: 'process', cpu: '2', memory: '3Gi', pods: 20,
      labels: { 'node-role.kubernetes.io/worker': '' }, taints: [{ key: 'dedicated', value: 'test', effect: 'NoSchedule' }],
      leasePeriodMs: 200,
    });
    await agent.start();
    try {
      const node = await admin.get(resources.nodes, 'node-1');
      expect(node.metadata.labels).toMatchObject({ 'kubernetes.io/hostname': 'node-1', 'node-role.kubernetes.io/worker': '' });
      expect(node.spec).toMatchObject({ taints: [{ key: 'dedicated', value: 'test', effect: 'NoSchedule' }] });
      expect(node.status).toMatchObject({
        capacity: { cpu: '2', memory: '3Gi', pods: '20' },
        allocatable: { cpu: '2', memory: '3Gi', pods: '20' },
        addresses: [{ type: 'InternalIP', address: '127.0.1.11' }, { type: 'Hostname', address: 'node-1' }],
        nodeInfo: { kubeletVersion: 'v1.32.0-flotilla', containerRuntimeVersion: 'process://flotilla' },
      });
      expect((node.status as { conditions: { type: string; status: string }[] }).conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'True' }));
      const renew = async (): Promise<string> => ((await admin.get(resources.leases, 'node-1', 'kube-node-lease')).spec as { renewTime: string }).renewTime;
      const first = await renew();
      await waitFor('the Lease to be renewed', async () => ((await renew()) !== first ? true : undefined), 5_000);
      const table = await cluster.kubectl(['get', 'nodes']);
      expect(table.stdout).toMatch(/node-1\s+Ready\s+worker/);
    } finally {
      agent.stop();
    }
  });

  it('may not register or change another node', async () => {
    const other = new NodeAgent(kubelet, { name: 'node-2', internalIP: '127.0.1.12', runtime: 'process' });
    const err = await other.start().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 403 });
    expect(String((err as Error).message)).toContain('may only register itself');
  });
});
