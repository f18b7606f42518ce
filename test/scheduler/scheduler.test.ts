/**
 * The scheduler loop against real apiserver and raftkv processes: a burst of one owner's pods
 * spreads over the nodes, a pod that fits nowhere is marked Unschedulable with Kubernetes'
 * message and an event and is placed once a big enough node appears, and two schedulers running
 * at once never bind a pod twice.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject } from '@flotilla/api';
import { KubeClient, loadKubeconfig, resources } from '@flotilla/client';
import { Scheduler } from '@flotilla/scheduler';
import { seededRandom } from '@flotilla/raftkv';
import { TestKubeCluster } from '../support/kube-cluster.js';
import { waitFor } from '../support/wait.js';

let cluster: TestKubeCluster;
let client: KubeClient;

beforeAll(async () => {
  cluster = await TestKubeCluster.create({ apiServers: 1 });
  client = new KubeClient(loadKubeconfig(path.join(cluster.home, 'kubeconfig')));
}, 60_000);

afterAll(async () => {
  await client?.close();
  await cluster?.close();
});

async function addNode(name: string, memory: string): Promise<void> {
  const created = await client.create(resources.nodes, { metadata: { name } });
  await client.update(resources.nodes, {
    ...created,
    status: { allocatable: { cpu: '4', memory, pods: '110' }, capacity: { cpu: '4', memory, pods: '110' }, conditions: [{ type: 'Ready', status: 'True' }] },
  }, { subresource: 'status' });
}

function pod(name: string, ns: string, memory: string, owner?: string): KubeObject {
  return {
    metadata: { name, namespace: ns, ...(owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: owner, controller: true }] } : {}) },
    spec: { containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '100m', memory } } }] },
  };
}

async function nodeOf(ns: string, name: string): Promise<string | undefined> {
  const p = await client.get(resources.pods, name, ns);
  const n = (p.spec as { nodeName?: string }).nodeName;
  return n || undefined;
}

describe('scheduler against a real apiserver', () => {
  it('spreads, explains what does not fit, retries when the cluster changes, and never binds twice', async () => {
    for (const n of ['n1', 'n2', 'n3']) await addNode(n, '4Gi');
    await client.create(resources.namespaces, { metadata: { name: 'sched' } });
    // Two schedulers at once (as during a leader hand-over): binding only succeeds once.
    const schedulers = [new Scheduler({ client, random: seededRandom(1) }), new Scheduler({ client, random: seededRandom(2) })];
    for (const s of schedulers) await s.start();
    try {
      for (let i = 0; i < 6; i++) await client.create(resources.pods, pod(`web-${i}`, 'sched', '256Mi', 'rs-1'));
      const placed = await waitFor('all six pods bound', async () => {
        const nodes = await Promise.all(Array.from({ length: 6 }, (_, i) => nodeOf('sched', `web-${i}`)));
        return nodes.every(Boolean) ? (nodes as string[]) : undefined;
      }, 20_000);
      const per = new Map<string, number>();
      for (const n of placed) per.set(n, (per.get(n) ?? 0) + 1);
      expect([...per.keys()].sort()).toEqual(['n1', 'n2', 'n3']);
      // Each pod was bound by exactly one scheduler: one Scheduled event per pod. Events are sent
      // in the background, after the bind: wait for all six, then check none came twice.
      const scheduledFor = await waitFor('a Scheduled event per pod', async () => {
        const events = await client.list(resources.events, { namespace: 'sched', fieldSelector: 'reason=Scheduled' });
        return events.items.length >= 6 ? events.items.map((e) => (e.involvedObject as { name: string }).name).sort() : undefined;
      }, 10_000);
      expect(scheduledFor).toEqual(Array.from({ length: 6 }, (_, i) => `web-${i}`).sort());

      await client.create(resources.pods, pod('huge', 'sched', '6Gi'));
      const cond = await waitFor('huge to be marked unschedulable', async () => {
        const p = await client.get(resources.pods, 'huge', 'sched');
        const c = ((p.status as { conditions?: { type: string; status: string; reason?: string; message?: string }[] }).conditions ?? []).find((x) => x.type === 'PodScheduled');
        return c?.status === 'False' ? c : undefined;
      }, 20_000);
      expect(cond.reason).toBe('Unschedulable');
      expect(cond.message).toBe('0/3 nodes are available: 3 Insufficient memory.');
      const failed = await client.list(resources.events, { namespace: 'sched', fieldSelector: 'involvedObject.name=huge,reason=FailedScheduling' });
      expect(failed.items.length).toBeGreaterThan(0);
      expect(failed.items[0].message).toBe('0/3 nodes are available: 3 Insufficient memory.');

      await addNode('big', '16Gi');
      expect(await waitFor('huge to land on the new node', () => nodeOf('sched', 'huge'), 20_000)).toBe('big');
    } finally {
      for (const s of schedulers) await s.stop();
    }
  });

  it('places the architecture notes\' example: a 3 GB pod on nodes with 2, 4 and 6 GB free goes to the 6 GB one', async () => {
    for (const [n, mem] of [['two-gb', '2Gi'], ['four-gb', '4Gi'], ['six-gb', '6Gi']]) await addNode(n, mem);
    // Only these three may take it: the first test's nodes are cordoned for this one.
    for (const n of ['n1', 'n2', 'n3', 'big']) await client.patch(resources.nodes, n, { spec: { unschedulable: true } }, 'merge');
    await client.create(resources.namespaces, { metadata: { name: 'seed' } });
    const s = new Scheduler({ client, random: seededRandom(7) });
    await s.start();
    try {
      await client.create(resources.pods, pod('three-gb', 'seed', '3Gi'));
      expect(await waitFor('the pod bound', () => nodeOf('seed', 'three-gb'), 20_000)).toBe('six-gb');
    } finally {
      await s.stop();
    }
  });
});
