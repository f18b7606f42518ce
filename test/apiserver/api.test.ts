/**
 * The Kubernetes REST semantics over HTTP against real processes (3 raftkv members, 2 apiserver
 * replicas): optimistic concurrency across replicas, a replica dying under writers, watch
 * starting points, selectors and 410 Gone, many watchers on one cache, paging, generateName and
 * dry-run.
 */
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCA, issue } from '@flotilla/apiserver';
import { TestKubeCluster } from '../support/kube-cluster.js';
import { waitFor } from '../support/wait.js';

let cluster: TestKubeCluster;

beforeAll(async () => {
  cluster = await TestKubeCluster.create({ apiServers: 2 });
}, 60_000);

afterAll(async () => {
  await cluster?.close();
});

interface Obj {
  metadata: { name: string; resourceVersion: string; namespace?: string; labels?: Record<string, string>; uid?: string; generateName?: string };
  data?: Record<string, string>;
  [k: string]: unknown;
}

function call(base: string, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; json: Record<string, unknown> }> {
  return cluster.call(method, path, body, { base, contentType });
}

const cmPath = (ns: string, name = ''): string => `/api/v1/namespaces/${ns}/configmaps${name ? `/${name}` : ''}`;

async function namespace(name: string): Promise<void> {
  const r = await call(cluster.url, 'POST', '/api/v1/namespaces', { metadata: { name } });
  expect(r.status).toBe(201);
}

describe('apiserver REST semantics (2 replicas over raftkv)', () => {
  it('two clients racing to update one object through different replicas: exactly one wins, the other gets 409', async () => {
    await namespace('race');
    const [a, b] = cluster.apiServers.map((s) => s.url);
    const created = await call(a, 'POST', cmPath('race'), { metadata: { name: 'counter' }, data: { n: '0' } });
    expect(created.status).toBe(201);
    for (let round = 1; round <= 10; round++) {
      const cur = (await call(a, 'GET', cmPath('race', 'counter'))).json as unknown as Obj;
      const results = await Promise.all([a, b, a, b].map((base, i) => call(base, 'PUT', cmPath('race', 'counter'), { ...cur, data: { n: `${round}-${i}` } })));
      const ok = results.filter((r) => r.status === 200);
      const conflicts = results.filter((r) => r.status === 409);
      expect(ok).toHaveLength(1);
      expect(conflicts).toHaveLength(3);
      for (const c of conflicts) {
        expect(c.json.reason).toBe('Conflict');
        expect(String(c.json.message)).toContain('the object has been modified');
      }
    }
  });

  it('a writer keeps going through the other replica when one is SIGKILLed, and no acknowledged write is lost', async () => {
    await namespace('failover');
    const extra = await cluster.startApiServer('api-doomed');
    const survivor = cluster.apiServers[0].url;
    const acked = new Set<string>();
    let i = 0;
    let killed = false;
    const writeOne = async (base: string, name: string): Promise<boolean> => {
      try {
        const r = await call(base, 'POST', cmPath('failover'), { metadata: { name }, data: { i: name } });
        return r.status === 201 || r.status === 409; // 409: an earlier attempt that lost its reply did land
      } catch {
        return false; // connection refused or reset: try the other replica
      }
    };
    while (i < 60) {
      const name = `cm-${i}`;
      const base = !killed && i % 2 === 0 ? extra : survivor;
      // Through the doomed replica while it lives; after a failed attempt, through the survivor.
      const ok = (await writeOne(base, name)) || (await writeOne(survivor, name));
      expect(ok, `create ${name} failed through both replicas`).toBe(true);
      acked.add(name);
      i++;
      if (i === 30) {
        await cluster.killApiServer('api-doomed');
        killed = true;
      }
    }
    const list = (await call(survivor, 'GET', cmPath('failover'))).json as { items: Obj[] };
    const names = new Set(list.items.map((o) => o.metadata.name));
    expect([...acked].filter((n) => !names.has(n))).toEqual([]);
    expect(acked.size).toBe(60);
  });

  it('watches from a resourceVersion, turns selector crossings into ADDED/DELETED, and answers 410 for a version older than the watch cache', async () => {
    await namespace('watch');
    const base = cluster.url;
    const created = (await call(base, 'POST', cmPath('watch'), { metadata: { name: 'w', labels: { team: 'a' } }, data: { v: '1' } })).json as unknown as Obj;
    const from = created.metadata.resourceVersion;
    const watching = cluster.watch<Obj>(`${cmPath('watch')}?watch=true&resourceVersion=${from}&labelSelector=team%3Da`, (ev) => ev.length >= 3);
    await new Promise((r) => setTimeout(r, 300));
    await call(base, 'PATCH', cmPath('watch', 'w'), { data: { v: '2' } }, 'application/merge-patch+json');
    await call(base, 'PATCH', cmPath('watch', 'w'), { metadata: { labels: { team: 'b' } } }, 'application/merge-patch+json'); // leaves the selector
    await call(base, 'PATCH', cmPath('watch', 'w'), { metadata: { labels: { team: 'a' } } }, 'application/merge-patch+json'); // comes back
    const events = await watching;
    expect(events.map((e) => e.type)).toEqual(['MODIFIED', 'DELETED', 'ADDED']);
    expect(events[0].object.data?.v).toBe('2');

    // No resourceVersion: the current objects first, as ADDED.
    const initial = await cluster.watch<Obj>(`${cmPath('watch')}?watch=true`, (ev) => ev.length >= 1);
    expect(initial[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'w' } } });

    // Older than the replica's watch cache reaches back (revision 1 predates the apiserver):
    // the stream carries one ERROR event with 410 Gone, and the client lists again.
    const stale = await cluster.watch<Obj>(`${cmPath('watch')}?watch=true&resourceVersion=1`, (ev) => ev.length >= 1);
    expect(stale[0].type).toBe('ERROR');
    expect(stale[0].object).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired' });
  });

  it('serves many watchers from one replica\'s cache: each sees every change, in order', async () => {
    await namespace('fanout');
    const watchers = Array.from({ length: 50 }, () => cluster.watch<Obj>(`${cmPath('fanout')}?watch=true`, (ev) => ev.filter((e) => e.type === 'MODIFIED').length >= 20, 30_000));
    await new Promise((r) => setTimeout(r, 500));
    expect((await call(cluster.url, 'POST', cmPath('fanout'), { metadata: { name: 'hot' }, data: { n: '0' } })).status).toBe(201);
    for (let i = 1; i <= 20; i++) expect((await call(cluster.url, 'PATCH', cmPath('fanout', 'hot'), { data: { n: String(i) } }, 'application/merge-patch+json')).status).toBe(200);
    for (const events of await Promise.all(watchers)) {
      const seen = events.filter((e) => e.object.metadata.name === 'hot').map((e) => `${e.type} ${e.object.data?.n}`);
      expect(seen).toEqual(['ADDED 0', ...Array.from({ length: 20 }, (_, i) => `MODIFIED ${i + 1}`)]);
    }
    const metrics = (await cluster.call('GET', '/metrics')).text;
    expect(metrics).toMatch(/apiserver_registered_watchers\{resource="configmaps"\} \d+/);
  });

  it('binds a pod exactly once, even when two schedulers race through different replicas', async () => {
    await namespace('bind');
    const [a, b] = cluster.apiServers.map((x) => x.url);
    const pod = { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } };
    expect((await call(a, 'POST', '/api/v1/namespaces/bind/pods', pod)).status).toBe(201);
    const binding = (node: string): unknown => ({ apiVersion: 'v1', kind: 'Binding', metadata: { name: 'p' }, target: { apiVersion: 'v1', kind: 'Node', name: node } });
    const results = await Promise.all([
      call(a, 'POST', '/api/v1/namespaces/bind/pods/p/binding', binding('node-a')),
      call(b, 'POST', '/api/v1/namespaces/bind/pods/p/binding', binding('node-b')),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
    const winner = results[0].status === 201 ? 'node-a' : 'node-b';
    const bound = (await call(a, 'GET', '/api/v1/namespaces/bind/pods/p')).json as { spec: { nodeName: string }; status: { conditions: { type: string; status: string }[] } };
    expect(bound.spec.nodeName).toBe(winner);
    expect(bound.status.conditions).toContainEqual(expect.objectContaining({ type: 'PodScheduled', status: 'True' }));
    const again = await call(b, 'POST', '/api/v1/namespaces/bind/pods/p/binding', binding('node-c'));
    expect(again.status).toBe(409);
    expect(String(again.json.message)).toContain(`already assigned to node "${winner}"`);
    // Only POST reaches the binding; a PATCH there is refused, not applied to the pod.
    expect((await call(a, 'PATCH', '/api/v1/namespaces/bind/pods/p/binding', { spec: { nodeName: 'x' } }, 'application/merge-patch+json')).status).toBe(405);
  });

  it('a deleted namespace is Terminating, refuses new content, and goes once its finalizers are cleared', async () => {
    await namespace('doomed');
    expect((await call(cluster.url, 'POST', cmPath('doomed'), { metadata: { name: 'before' } })).status).toBe(201);
    const del = await call(cluster.url, 'DELETE', '/api/v1/namespaces/doomed');
    expect(del.status).toBe(200);
    expect(del.json).toMatchObject({ status: { phase: 'Terminating' }, spec: { finalizers: ['kubernetes'] } });
    const refused = await call(cluster.url, 'POST', cmPath('doomed'), { metadata: { name: 'after' } });
    expect(refused.status).toBe(403);
    expect(String(refused.json.message)).toContain('because it is being terminated');
    // What the namespace controller does once the namespace is empty.
    const ns = (await call(cluster.url, 'GET', '/api/v1/namespaces/doomed')).json as Obj;
    const fin = await call(cluster.url, 'PUT', '/api/v1/namespaces/doomed/finalize', { ...ns, spec: { finalizers: [] } });
    expect(fin.status).toBe(200);
    expect((await call(cluster.url, 'GET', '/api/v1/namespaces/doomed')).status).toBe(404);
  });

  it('pages lists with limit/continue, creates with generateName, and leaves nothing behind on dry-run', async () => {
    await namespace('paging');
    const base = cluster.url;
    for (let i = 0; i < 7; i++) expect((await call(base, 'POST', cmPath('paging'), { metadata: { name: `p${i}` } })).status).toBe(201);
    const names: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const r = (await call(base, 'GET', `${cmPath('paging')}?limit=3${token ? `&continue=${encodeURIComponent(token)}` : ''}`)).json as { items: Obj[]; metadata: { continue?: string } };
      names.push(...r.items.map((o) => o.metadata.name));
      token = r.metadata.continue;
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(names).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
    // resourceVersion=0: any recent state will do, served by the replica's watch cache (which
    // learns of a write a moment after it is acknowledged).
    await waitFor('the cached list to hold every object', async () => {
      const r = (await call(base, 'GET', `${cmPath('paging')}?resourceVersion=0`)).json as { items: Obj[]; metadata: { resourceVersion: string } };
      return r.items.map((o) => o.metadata.name).join(',') === names.join(',') && Number(r.metadata.resourceVersion) > 0 ? true : undefined;
    });

    const gen = (await call(base, 'POST', cmPath('paging'), { metadata: { generateName: 'job-' } })).json as unknown as Obj;
    expect(gen.metadata.name).toMatch(/^job-[a-z0-9]{5}$/);

    const dry = await call(base, 'POST', `${cmPath('paging')}?dryRun=All`, { metadata: { name: 'ghost' } });
    expect(dry.status).toBe(201);
    expect((await call(base, 'GET', cmPath('paging', 'ghost'))).status).toBe(404);

    const badSel = await call(base, 'GET', `${cmPath('paging')}?labelSelector=${encodeURIComponent('a in (')}`);
    expect(badSel.status).toBe(400);
    expect(badSel.json.kind).toBe('Status');
    const badField = await call(base, 'GET', `${cmPath('paging')}?fieldSelector=spec.bogus%3Dx`);
    expect(badField.status).toBe(400);
    expect(String(badField.json.message)).toContain('field label not supported: spec.bogus');
  });

  it('authenticates client certificates signed by the cluster CA: CN is the user, O the groups', async () => {
    const asCert = async (pair: { certPem: string; keyPem: string }): Promise<number> => {
      const agent = new Agent({ connect: { ca: cluster.ca.certPem, cert: pair.certPem, key: pair.keyPem } });
      try {
        const res = await request(`${cluster.url}/api/v1/namespaces/default/configmaps`, { dispatcher: agent });
        await res.body.dump();
        return res.statusCode;
      } finally {
        await agent.close();
      }
    };
    expect(await asCert(issue(cluster.ca, { commonName: 'carol', organizations: ['system:masters'], usage: 'client' }))).toBe(200);
    expect(await asCert(issue(cluster.ca, { commonName: 'dave', usage: 'client' }))).toBe(403); // known, but no role
    const stranger = createCA('someone-else');
    expect(await asCert(issue(stranger, { commonName: 'carol', organizations: ['system:masters'], usage: 'client' }))).toBe(401);
  });

  it('answers bad bodies with a Status and a 4xx, never a 5xx', async () => {
    const base = cluster.url;
    const cases: [string, string, string | undefined, string, number][] = [
      ['POST', cmPath('default'), '{"metadata": {"name": ', 'application/json', 400],
      ['POST', cmPath('default'), 'metadata: [unclosed', 'application/yaml', 400],
      ['POST', cmPath('default'), 'x', 'text/plain', 415],
      ['POST', cmPath('default'), JSON.stringify({ kind: 'Secret', apiVersion: 'v1', metadata: { name: 'x' } }), 'application/json', 400],
      ['POST', cmPath('default'), JSON.stringify({ metadata: { name: 'x' }, data: { a: 1 } }), 'application/json', 422],
      ['POST', cmPath('default'), JSON.stringify({ metadata: { name: 'y'.repeat(300) } }), 'application/json', 422],
      ['POST', cmPath('default'), JSON.stringify({ metadata: { name: 'big' }, data: { a: 'x'.repeat(4 * 1024 * 1024) } }), 'application/json', 413],
      ['GET', '/api/v1/namespaces/default/gizmos', undefined, 'application/json', 404],
      ['PATCH', cmPath('default', 'nope'), '{}', 'application/merge-patch+json', 404],
      ['PATCH', cmPath('default', 'nope'), '[{"op":"jump"}]', 'application/json-patch+json', 404],
      ['DELETE', cmPath('default', 'nope'), undefined, 'application/json', 404],
      ['GET', `${cmPath('default')}?limit=abc`, undefined, 'application/json', 400],
      ['GET', `${cmPath('default')}?watch=true&resourceVersion=abc`, undefined, 'application/json', 400],
    ];
    for (const [method, path, body, ct, code] of cases) {
      const r = await cluster.call(method, path, undefined, { raw: body, contentType: ct });
      expect({ method, path: path.slice(0, 60), status: r.status, kind: r.json.kind }).toEqual({ method, path: path.slice(0, 60), status: code, kind: 'Status' });
      expect(r.json.code).toBe(code);
      expect(r.json.message).toBeTruthy();
    }
    // Without credentials, or with a wrong token: 401, as a Status.
    for (const token of [null, 'not-a-token']) {
      const r = await cluster.call('GET', cmPath('default'), undefined, { token });
      expect(r.status).toBe(401);
      expect(r.json).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    }
    expect((await cluster.call('GET', '/version', undefined, { token: null })).status).toBe(200);
    // The replicas are still healthy afterwards.
    for (const a of cluster.apiServers) if (a.proc.exitCode === null && a.proc.signalCode === null) expect((await cluster.call('GET', '/readyz', undefined, { base: a.url })).status).toBe(200);
    await waitFor('metrics to show the requests', async () => ((await cluster.call('GET', '/metrics')).text.includes('apiserver_request_total{verb="create",resource="configmaps",code="422"}') ? true : undefined), 5_000);
    expect((await cluster.call('GET', '/metrics')).text).toMatch(/apiserver_storage_request_duration_seconds_bucket\{le="[^"]+",operation="create",resource="configmaps"\}/);
  });
});
