/**
 * `flotilla scheduler` as real processes, with the scheduler's own identity
 * (system:kube-scheduler and its RBAC role): two replicas, one active through the Lease; after
 * the active one is SIGKILLed the standby takes the Lease and schedules the next pod.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, loadKubeconfig, resources } from '@flotilla/client';
import { TestKubeCluster } from '../support/kube-cluster.js';
import { killSchedulers, startScheduler, type SchedulerProcess } from '../support/scheduler.js';
import { waitFor } from '../support/wait.js';

let cluster: TestKubeCluster;
let admin: KubeClient;
const procs: SchedulerProcess[] = [];

beforeAll(async () => {
  cluster = await TestKubeCluster.create({ apiServers: 1 });
  admin = new KubeClient(loadKubeconfig(path.join(cluster.home, 'kubeconfig')));
}, 60_000);

afterAll(async () => {
  await killSchedulers(procs);
  await admin?.close();
  await cluster?.close();
});

async function boundTo(name: string): Promise<string | undefined> {
  const p = await admin.get(resources.pods, name, 'default');
  return (p.spec as { nodeName?: string }).nodeName || undefined;
}

describe('flotilla scheduler processes', () => {
  it('one of two replicas schedules; SIGKILL it and the standby takes over', async () => {
    const created = await admin.create(resources.nodes, { metadata: { name: 'w1' } });
    await admin.update(resources.nodes, { ...created, status: { allocatable: { cpu: '2', memory: '4Gi', pods: '110' }, conditions: [{ type: 'Ready', status: 'True' }] } }, { subresource: 'status' });
    for (const name of ['s1', 's2']) procs.push(await startScheduler(cluster, name));
    try {
      const pod = (name: string): { metadata: { name: string; namespace: string }; spec: unknown } => ({ metadata: { name, namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } });
      await admin.create(resources.pods, pod('first'));
      expect(await waitFor('first to be bound', () => boundTo('first'), 20_000)).toBe('w1');
      const holder = (await admin.get(resources.leases, 'kube-scheduler', 'kube-system')).spec as { holderIdentity: string };
      const leader = procs.find((p) => p.name === holder.holderIdentity)!;
      expect(leader).toBeDefined();

      const killedAt = performance.now();
      leader.proc.kill('SIGKILL');
      await admin.create(resources.pods, pod('second'));
      expect(await waitFor('second to be bound by the standby', () => boundTo('second'), 20_000)).toBe('w1');
      const standby = procs.find((p) => p !== leader)!;
      const now = (await admin.get(resources.leases, 'kube-scheduler', 'kube-system')).spec as { holderIdentity: string };
      expect(now.holderIdentity).toBe(standby.name);
      console.log(`scheduler failover: the next pod was bound ${Math.round(performance.now() - killedAt)} ms after SIGKILL of the leader`);
    } catch (err) {
      for (const p of procs) console.error(`--- ${p.name}\n${p.log.join('').slice(-3000)}`);
      throw err;
    }
  });
});
