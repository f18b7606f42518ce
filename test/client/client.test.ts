/**
 * @flotilla/client against real processes (3 raftkv members, 2 apiserver replicas): the REST
 * client from a kubeconfig, an informer following changes, and leader election among
 * candidates on different replicas, including a hand-over when the leader stops.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConflict, isNotFound, type KubeObject } from '@flotilla/api';
import { Informer, KubeClient, LeaderElector, loadKubeconfig, resources } from '@flotilla/client';
import { TestKubeCluster } from '../support/kube-cluster.js';
import { waitFor } from '../support/wait.js';

let cluster: TestKubeCluster;
const clients: KubeClient[] = [];

function client(context?: string): KubeClient {
  const c = new KubeClient(loadKubeconfig(path.join(cluster.home, 'kubeconfig'), context));
  clients.push(c);
  return c;
}

beforeAll(async () => {
  cluster = await TestKubeCluster.create({ apiServers: 2 });
}, 60_000);

afterAll(async () => {
  for (const c of clients) await c.close();
  await cluster?.close();
});

describe('@flotilla/client', () => {
  it('does CRUD from a kubeconfig and reports errors as ApiError', async () => {
    const c = client();
    await c.create(resources.namespaces, { metadata: { name: 'client' } });
    const cm = await c.create<KubeObject>(resources.configmaps, { metadata: { name: 'a', namespace: 'client' }, data: { x: '1' } });
    expect(cm.metadata.resourceVersion).toMatch(/^\d+$/);
    const patched = await c.patch(resources.configmaps, 'a', { data: { x: '2' } }, 'merge', { namespace: 'client' });
    expect(patched.data).toEqual({ x: '2' });
    // A stale write is a conflict; a missing object is NotFound.
    const err = await c.update(resources.configmaps, cm).catch((e: unknown) => e);
    expect(isConflict(err)).toBe(true);
    expect(isNotFound(await c.get(resources.configmaps, 'nope', 'client').catch((e: unknown) => e))).toBe(true);
    expect((await c.list(resources.configmaps, { namespace: 'client' })).items.map((o) => o.metadata.name)).toEqual(['a']);
    await c.delete(resources.configmaps, 'a', { namespace: 'client' });
    expect(isNotFound(await c.get(resources.configmaps, 'a', 'client').catch((e: unknown) => e))).toBe(true);
  });

  it('an informer lists, then follows adds, updates and deletes', async () => {
    const c = client();
    await c.create(resources.namespaces, { metadata: { name: 'inf2' } });
    await c.create(resources.configmaps, { metadata: { name: 'first', namespace: 'inf2' } });
    const seen: string[] = [];
    const inf = new Informer(client('api2'), resources.configmaps, { namespace: 'inf2' }).on({
      add: (o: KubeObject) => seen.push(`add ${o.metadata.name}`),
      update: (_old: KubeObject, o: KubeObject) => seen.push(`update ${o.metadata.name}`),
      delete: (o: KubeObject) => seen.push(`delete ${o.metadata.name}`),
    });
    await inf.start();
    try {
      expect(inf.hasSynced).toBe(true);
      expect(seen).toEqual(['add first']);
      await c.create(resources.configmaps, { metadata: { name: 'second', namespace: 'inf2' } });
      await c.patch(resources.configmaps, 'second', { data: { v: '1' } }, 'merge', { namespace: 'inf2' });
      await c.delete(resources.configmaps, 'first', { namespace: 'inf2' });
      await waitFor('the informer to see every change', async () => (seen.length >= 4 ? true : undefined), 10_000);
      expect(seen).toEqual(['add first', 'add second', 'update second', 'delete first']);
      expect(inf.list().map((o) => o.metadata.name)).toEqual(['second']);
      expect(inf.get('second', 'inf2')?.data).toEqual({ v: '1' });
    } finally {
      await inf.stop();
    }
  });

  it('elects exactly one leader among candidates on different replicas, and hands over when it stops', async () => {
    const leading = new Set<string>();
    const electors = ['a', 'b', 'c'].map((id, i) => new LeaderElector({
      client: client(i % 2 === 0 ? 'api1' : 'api2'),
      namespace: 'kube-system',
      name: 'test-election',
      identity: id,
      onStartedLeading: () => void leading.add(id),
      onStoppedLeading: () => void leading.delete(id),
    }));
    for (const e of electors) e.start();
    try {
      const first = await waitFor('a leader', async () => (leading.size === 1 ? [...leading][0] : undefined), 10_000);
      // Stable: for a few renew periods nobody else starts leading.
      await new Promise((r) => setTimeout(r, 1_000));
      expect([...leading]).toEqual([first]);
      const lease = await client().get(resources.leases, 'test-election', 'kube-system');
      expect((lease.spec as { holderIdentity: string }).holderIdentity).toBe(first);

      await electors.find((_, i) => ['a', 'b', 'c'][i] === first)!.stop();
      const second = await waitFor('another leader', async () => (leading.size === 1 && !leading.has(first) ? [...leading][0] : undefined), 10_000);
      expect(second).not.toBe(first);
    } finally {
      for (const e of electors) await e.stop();
    }
  });
});
