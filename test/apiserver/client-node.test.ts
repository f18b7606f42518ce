/**
 * The official JavaScript client (@kubernetes/client-node) against real apiserver processes:
 * typed create, list and patch (merge and strategic), and an informer's list+watch.
 */
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestKubeCluster } from '../support/kube-cluster.js';
import { waitFor } from '../support/wait.js';

let cluster: TestKubeCluster;
let kc: k8s.KubeConfig;

beforeAll(async () => {
  cluster = await TestKubeCluster.create({ apiServers: 1 });
  kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'flotilla', server: cluster.url, caData: Buffer.from(cluster.ca.certPem).toString('base64') }],
    users: [{ name: 'admin', token: cluster.adminToken }],
    contexts: [{ name: 'flotilla', cluster: 'flotilla', user: 'admin' }],
    currentContext: 'flotilla',
  });
}, 60_000);

afterAll(async () => {
  await cluster?.close();
});

describe('@kubernetes/client-node against flotilla', () => {
  it('creates, lists and patches with the typed clients', async () => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    await core.createNamespace({ body: { metadata: { name: 'js' } } });
    const cm = await core.createNamespacedConfigMap({ namespace: 'js', body: { metadata: { name: 'settings', labels: { app: 'demo' } }, data: { mode: 'a' } } });
    expect(cm.metadata?.uid).toBeTruthy();
    expect(cm.metadata?.resourceVersion).toMatch(/^\d+$/);

    const list = await core.listNamespacedConfigMap({ namespace: 'js', labelSelector: 'app=demo' });
    expect(list.items.map((i) => i.metadata?.name)).toEqual(['settings']);
    expect(list.metadata?.resourceVersion).toMatch(/^\d+$/);

    const patched = await core.patchNamespacedConfigMap(
      { namespace: 'js', name: 'settings', body: { data: { mode: 'b', extra: 'x' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    expect(patched.data).toEqual({ mode: 'b', extra: 'x' });

    await apps.createNamespacedDeployment({
      namespace: 'js',
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'web' } },
          template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.25' }] } },
        },
      },
    });
    const d = await apps.patchNamespacedDeployment(
      { namespace: 'js', name: 'web', body: { spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
    );
    expect(d.spec?.template.spec?.containers.map((c) => `${c.name}=${c.image}`)).toEqual(['web=nginx:1.27']);
    expect(d.metadata?.generation).toBe(2);
    expect(d.spec?.strategy?.type).toBe('RollingUpdate'); // defaulted by the server
  });

  it('an informer lists, then sees adds, updates and deletes through its watch', async () => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'inf' } } });
    await core.createNamespacedConfigMap({ namespace: 'inf', body: { metadata: { name: 'before' }, data: { v: '0' } } });
    const informer = k8s.makeInformer(kc, '/api/v1/namespaces/inf/configmaps', () => core.listNamespacedConfigMap({ namespace: 'inf' }));
    const seen: string[] = [];
    informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata?.name} ${o.data?.v}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
    const errors: unknown[] = [];
    informer.on('error', (e) => errors.push(e));
    await informer.start();
    try {
      await waitFor('the initial list', async () => (seen.includes('add before') ? true : undefined));
      await core.createNamespacedConfigMap({ namespace: 'inf', body: { metadata: { name: 'after' }, data: { v: '1' } } });
      await core.replaceNamespacedConfigMap({ namespace: 'inf', name: 'after', body: { metadata: { name: 'after' }, data: { v: '2' } } });
      await core.deleteNamespacedConfigMap({ namespace: 'inf', name: 'before' });
      await waitFor('add, update and delete events', async () => (seen.includes('delete before') && seen.includes('update after 2') ? true : undefined), 15_000);
      expect(seen).toEqual(['add before', 'add after', 'update after 2', 'delete before']);
      expect(informer.list().map((o) => o.metadata?.name)).toEqual(['after']);
      expect(errors).toEqual([]);
    } finally {
      await informer.stop();
    }
  });
});
