/**
 * The generic verbs against a real single-member raftkv started in this process: optimistic
 * concurrency, generation, status/main separation, graceful and finalizer-held deletion, paged
 * lists and watch all depend on raftkv's revisions and transactions, so nothing is faked here.
 */
import { Buffer } from 'node:buffer';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, forbidden, type KubeObject } from '@flotilla/api';
import { buildHttpApi, RaftKvServer } from '@flotilla/raftkv';
import { RaftKvClient } from '@flotilla/raftkv/client';
import { selectorFilter } from '../http/request.js';
import { deployments } from '../registry/apps.js';
import { configmaps, pods, secrets } from '../registry/core.js';
import type { ResourceDef } from '../registry/types.js';
import { Store, type StoredEvent } from '../storage/store.js';
import { timestamp } from './metadata.js';
import { ResourceStore, type NamespaceCheck } from './resource-store.js';

type Json = Record<string, any>;

/** A loopback port nothing listens on right now. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let dir: string | undefined;
let member: RaftKvServer | undefined;
let kvApp: FastifyInstance | undefined;
let kv: RaftKvClient;
let store: Store;

/** The server's clock, fixed so that deletion timestamps can be checked exactly. */
let now = Date.parse('2026-01-01T00:00:00Z');
const clock = (): number => now;
const anyNamespace: NamespaceCheck = async () => undefined;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'flotilla-resource-store-'));
  const [peerPort, clientPort] = [await freePort(), await freePort()];
  const peerURL = `http://127.0.0.1:${peerPort}`;
  const clientURL = `http://127.0.0.1:${clientPort}`;
  member = new RaftKvServer({
    name: 'm1',
    dataDir: dir,
    clientURLs: [clientURL],
    peerURLs: [peerURL],
    initialCluster: [{ name: 'm1', peerURL }],
    initialClusterState: 'new',
    initialClusterToken: 'resource-store-test',
    peerSecret: 'resource-store-test-secret',
    heartbeatIntervalMs: 10,
    electionTimeoutMs: 100,
    logger: pino({ level: 'silent' }),
    processMetrics: false,
  });
  await member.start();
  kvApp = buildHttpApi(member);
  const url = await kvApp.listen({ port: clientPort, host: '127.0.0.1' });
  kv = new RaftKvClient({ endpoints: [url] });
  await waitFor('a raftkv leader', () => member?.isLeader() ?? false);
  store = new Store(kv);
});

afterAll(async () => {
  // Each step on its own, so one failing still lets the rest clean up.
  const steps: (() => Promise<unknown> | undefined)[] = [
    async () => {
      for (const rs of shared.values()) rs.cache.stop();
    },
    () => kv?.close(),
    () => kvApp?.close(),
    () => member?.stop(),
    () => (dir ? rm(dir, { recursive: true, force: true }) : undefined),
  ];
  for (const step of steps) {
    try {
      await step();
    } catch {
      // keep cleaning up
    }
  }
});

let nsCounter = 0;
/** A namespace of its own for each test, so tests never see each other's objects. */
const freshNamespace = (): string => `t${++nsCounter}`;
/** One ResourceStore per resource (as a replica has), or a new one for a particular namespace check. */
const shared = new Map<ResourceDef, ResourceStore>();
const rsFor = (def: ResourceDef, check?: NamespaceCheck): ResourceStore => {
  if (check) return new ResourceStore(def, store, clock, check);
  let rs = shared.get(def);
  if (!rs) shared.set(def, (rs = new ResourceStore(def, store, clock, anyNamespace)));
  return rs;
};

async function rejection(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

/** The store's current revision, straight from raftkv. */
async function currentRevision(): Promise<number> {
  return (await kv.get('/nothing-here')).header.revision;
}

const cm = (name: string, extra: Json = {}): Json => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { a: '1' }, ...extra });
const podBody = (name: string, spec: Json = {}): Json => ({ metadata: { name }, spec: { containers: [{ name: 'app', image: 'nginx:1.25' }], ...spec } });
const deploymentBody = (name: string): Json => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, labels: { app: name } },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'web', image: 'nginx:1.25' }] } },
  },
});

describe('create and get', () => {
  it('round-trips an object whose resourceVersion is the raftkv revision of its key', async () => {
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    const created = await rs.create(ns, cm('c'));
    expect(created).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: ns }, data: { a: '1' } });
    expect(created.metadata.uid).toBeTruthy();
    expect(created.metadata.creationTimestamp).toBe(timestamp(now));

    const rv = Number(created.metadata.resourceVersion);
    expect(Number.isInteger(rv)).toBe(true);
    // Nothing else writes meanwhile: the create was the latest revision.
    expect(await currentRevision()).toBe(rv);

    const got = await rs.get(ns, 'c');
    expect(got).toEqual(created);

    const raw = await kv.get(`/registry/configmaps/${ns}/c`);
    expect(raw.kvs[0].modRevision).toBe(rv);
    // The resourceVersion is derived on read, never stored (it could only go stale).
    const stored = JSON.parse(Buffer.from(raw.kvs[0].value).toString('utf8')) as Json;
    expect(stored.metadata).not.toHaveProperty('resourceVersion');
    expect(stored.metadata.uid).toBe(created.metadata.uid);
  });

  it('stores cluster-scoped and group resources under their own keys', async () => {
    const ns = freshNamespace();
    const d = await rsFor(deployments).create(ns, deploymentBody('web'));
    const raw = await kv.get(`/registry/deployments.apps/${ns}/web`);
    expect(raw.kvs).toHaveLength(1);
    expect(String(raw.kvs[0].modRevision)).toBe(d.metadata.resourceVersion);
  });

  it('a get of a missing object is a 404 naming it', async () => {
    const err = await rejection(rsFor(deployments).get(freshNamespace(), 'nope'));
    expect(err.code).toBe(404);
    expect(err.message).toBe('deployments.apps "nope" not found');
  });

  it('creating the same name twice is 409 AlreadyExists and leaves the first object', async () => {
    const ns = freshNamespace();
    const rs = rsFor(pods);
    const first = await rs.create(ns, podBody('web'));
    const err = await rejection(rs.create(ns, podBody('web', { restartPolicy: 'Never' })));
    expect(err.code).toBe(409);
    expect(err.reason).toBe('AlreadyExists');
    expect(err.message).toBe('pods "web" already exists');
    expect(await rs.get(ns, 'web')).toEqual(first);
  });

  it('the same name in another namespace is another object', async () => {
    const rs = rsFor(configmaps);
    await rs.create(freshNamespace(), cm('same'));
    await expect(rs.create(freshNamespace(), cm('same'))).resolves.toBeDefined();
  });

  it('defaults and validates before storing: an invalid object is a 422 and is not stored', async () => {
    const ns = freshNamespace();
    const rs = rsFor(pods);
    const p = await rs.create(ns, podBody('ok'));
    expect((p.spec as Json).restartPolicy).toBe('Always');
    const err = await rejection(rs.create(ns, { metadata: { name: 'bad' }, spec: { containers: [{ name: 'app' }] } }));
    expect(err.code).toBe(422);
    expect(err.status.details?.causes).toEqual([expect.objectContaining({ field: 'spec.containers[0].image' })]);
    expect((await kv.get(`/registry/pods/${ns}/bad`)).kvs).toHaveLength(0);
  });

  it('generateName gives a fresh name', async () => {
    const ns = freshNamespace();
    const a = await rsFor(configmaps).create(ns, { metadata: { generateName: 'gen-' }, data: {} });
    expect(a.metadata.name).toMatch(/^gen-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(await rsFor(configmaps).get(ns, a.metadata.name as string)).toEqual(a);
  });

  it('a dry run validates but stores nothing', async () => {
    const ns = freshNamespace();
    const before = await currentRevision();
    const o = await rsFor(configmaps).create(ns, cm('dry'), { dryRun: true });
    expect(o.metadata.name).toBe('dry');
    expect(await currentRevision()).toBe(before);
    expect((await rejection(rsFor(configmaps).get(ns, 'dry'))).code).toBe(404);
  });

  it('a namespace check that refuses fails the create and stores nothing', async () => {
    const ns = freshNamespace();
    const terminating = rsFor(configmaps);
    const refusing = rsFor(configmaps, async (n) => {
      throw terminating.forbidInTerminating(n);
    });
    const before = await currentRevision();
    const err = await rejection(refusing.create(ns, cm('late')));
    expect(err.code).toBe(403);
    expect(err.message).toBe(`unable to create new content in namespace ${ns} because it is being terminated`);
    expect((await kv.get(`/registry/configmaps/${ns}/late`)).kvs).toHaveLength(0);
    expect(await currentRevision()).toBe(before);
  });

  it('the namespace check is asked about the object\'s namespace, and not for cluster-scoped kinds', async () => {
    const asked: string[] = [];
    const check: NamespaceCheck = async (n) => void asked.push(n);
    const ns = freshNamespace();
    await rsFor(configmaps, check).create(ns, cm('x'));
    const nodes = { ...configmaps, kind: 'Node', listKind: 'NodeList', resource: 'nodes', singular: 'node', namespaced: false } satisfies ResourceDef;
    await rsFor(nodes, check).create(undefined, { metadata: { name: `node-${ns}` } });
    expect(asked).toEqual([ns]);
    await expect(rsFor(configmaps, async () => {
      throw forbidden('nope');
    }).create(ns, cm('y'))).rejects.toMatchObject({ code: 403 });
  });
});

describe('update', () => {
  it('with a stale resourceVersion is 409 Conflict and changes nothing', async () => {
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    const v1 = await rs.create(ns, cm('c'));
    const v2 = await rs.update(ns, 'c', { ...v1, data: { a: '2' } });
    expect(Number(v2.metadata.resourceVersion)).toBeGreaterThan(Number(v1.metadata.resourceVersion));
    const err = await rejection(rs.update(ns, 'c', { ...v1, data: { a: 'stale' } }));
    expect(err.code).toBe(409);
    expect(err.reason).toBe('Conflict');
    expect(err.message).toContain('the object has been modified');
    expect(await rs.get(ns, 'c')).toEqual(v2);
  });

  it('without a resourceVersion is unconditional (last writer wins)', async () => {
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    const v1 = await rs.create(ns, cm('c'));
    await rs.update(ns, 'c', { ...v1, data: { a: 'someone else' } });
    const { resourceVersion: _rv, ...meta } = v1.metadata;
    const mine = await rs.update(ns, 'c', { ...v1, metadata: meta, data: { a: 'mine' } });
    expect(mine.data).toEqual({ a: 'mine' });
    // An empty resourceVersion is no precondition either.
    const again = await rs.update(ns, 'c', { ...v1, metadata: { ...meta, resourceVersion: '' }, data: { a: 'again' } });
    expect(again.data).toEqual({ a: 'again' });
    expect((await rs.get(ns, 'c')).data).toEqual({ a: 'again' });
  });

  it('keeps uid and creationTimestamp whatever the body says', async () => {
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    const v1 = await rs.create(ns, cm('c'));
    now += 5_000;
    const v2 = await rs.update(ns, 'c', { ...v1, metadata: { ...v1.metadata, uid: 'forged', creationTimestamp: '2000-01-01T00:00:00Z' }, data: { a: '2' } });
    expect(v2.metadata.uid).toBe(v1.metadata.uid);
    expect(v2.metadata.creationTimestamp).toBe(v1.metadata.creationTimestamp);
  });

  it('refuses a body naming another object, kind or apiVersion with a 400', async () => {
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    const v1 = await rs.create(ns, cm('c'));
    expect((await rejection(rs.update(ns, 'c', { ...v1, metadata: { ...v1.metadata, name: 'other' } }))).code).toBe(400);
    expect((await rejection(rs.update(ns, 'c', { ...v1, kind: 'Secret' }))).code).toBe(400);
    expect((await rejection(rs.update(ns, 'c', { ...v1, apiVersion: 'apps/v1' }))).code).toBe(400);
    expect((await rejection(rs.update(ns, 'missing', cm('missing')))).code).toBe(404);
  });

  it('sending back what was read is a no-op that keeps the resourceVersion', async () => {
    const ns = freshNamespace();
    for (const [def, body] of [[configmaps, cm('c')], [deployments, deploymentBody('d')], [pods, podBody('p')]] as const) {
      const rs = rsFor(def);
      const created = await rs.create(ns, body);
      const before = await currentRevision();
      const same = await rs.update(ns, created.metadata.name as string, await rs.get(ns, created.metadata.name as string));
      expect(same.metadata.resourceVersion, def.kind).toBe(created.metadata.resourceVersion);
      expect(same.metadata.generation, def.kind).toBe(created.metadata.generation);
      expect(await currentRevision(), `${def.kind}: no raftkv write`).toBe(before);
    }
  });

  // kubectl replace of an unchanged file must not write (and wake every watcher): the
  // comparison ignores key order.
  it('replacing a ConfigMap with the same manifest (no resourceVersion) keeps the resourceVersion', async () => {
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    const created = await rs.create(ns, cm('c'));
    const replaced = await rs.update(ns, 'c', cm('c'));
    expect(replaced.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
  });

  // A client sending back its original manifest (without the server's defaults) has not
  // changed the spec: defaults are applied before the comparison.
  it('replacing a Deployment with its original (un-defaulted) manifest does not bump generation', async () => {
    const ns = freshNamespace();
    const rs = rsFor(deployments);
    const created = await rs.create(ns, deploymentBody('web'));
    expect(created.metadata.generation).toBe(1);
    const replaced = await rs.update(ns, 'web', deploymentBody('web'));
    expect(replaced.spec).toEqual(created.spec);
    expect(replaced.metadata.generation).toBe(1);
  });

  it('bumps generation on a spec change only, not on labels, annotations or status', async () => {
    const ns = freshNamespace();
    const rs = rsFor(deployments);
    const created = await rs.create(ns, deploymentBody('web'));
    expect(created.metadata.generation).toBe(1);

    const labelled = await rs.update(ns, 'web', { ...created, metadata: { ...created.metadata, labels: { app: 'web', extra: 'yes' }, annotations: { note: 'x' } } });
    expect(labelled.metadata.labels).toEqual({ app: 'web', extra: 'yes' });
    expect(labelled.metadata.generation).toBe(1);

    const scaled = await rs.update(ns, 'web', { ...labelled, spec: { ...(labelled.spec as Json), replicas: 5 } });
    expect((scaled.spec as Json).replicas).toBe(5);
    expect(scaled.metadata.generation).toBe(2);

    const status = await rs.update(ns, 'web', { ...scaled, status: { replicas: 5, observedGeneration: 2 } }, { subresource: 'status' });
    expect(status.metadata.generation).toBe(2);
  });

  it('the main resource ignores status changes of a kind with a status subresource', async () => {
    const ns = freshNamespace();
    const rs = rsFor(deployments);
    const created = await rs.create(ns, deploymentBody('web'));
    const withStatus = await rs.update(ns, 'web', { ...created, status: { replicas: 2, readyReplicas: 2 } }, { subresource: 'status' });
    expect(withStatus.status).toEqual({ replicas: 2, readyReplicas: 2 });

    const main = await rs.update(ns, 'web', { ...withStatus, spec: { ...(withStatus.spec as Json), replicas: 3 }, status: { replicas: 0, readyReplicas: 0 } });
    expect((main.spec as Json).replicas).toBe(3);
    expect(main.status).toEqual({ replicas: 2, readyReplicas: 2 });

    // Leaving status out of a main-resource update does not erase it either.
    const { status: _s, ...noStatus } = main;
    const again = await rs.update(ns, 'web', { ...noStatus, metadata: { ...main.metadata, labels: { app: 'web', x: 'y' } } });
    expect(again.status).toEqual({ replicas: 2, readyReplicas: 2 });
  });

  // Status belongs to the controller observing the object: a manifest exported from another
  // cluster must not bring readyReplicas or observedGeneration along.
  it('creating a Deployment ignores the status in the body (the controller owns it)', async () => {
    const ns = freshNamespace();
    const created = await rsFor(deployments).create(ns, { ...deploymentBody('web'), status: { observedGeneration: 1, replicas: 2, readyReplicas: 2, availableReplicas: 2, updatedReplicas: 2 } });
    expect(created.status ?? {}).toEqual({});
  });

  it('the status subresource ignores spec and metadata changes', async () => {
    const ns = freshNamespace();
    const rs = rsFor(deployments);
    const created = await rs.create(ns, deploymentBody('web'));
    const r = await rs.update(
      ns,
      'web',
      { ...created, metadata: { ...created.metadata, labels: { hacked: 'yes' } }, spec: { ...(created.spec as Json), replicas: 50 }, status: { replicas: 1, observedGeneration: 1 } },
      { subresource: 'status' },
    );
    expect(r.status).toEqual({ replicas: 1, observedGeneration: 1 });
    expect((r.spec as Json).replicas).toBe(2);
    expect(r.metadata.labels).toEqual({ app: 'web' });
    expect(r.metadata.generation).toBe(1);
    expect(await rs.get(ns, 'web')).toEqual(r);
  });

  it('a status update with a stale resourceVersion is a 409 too', async () => {
    const ns = freshNamespace();
    const rs = rsFor(deployments);
    const created = await rs.create(ns, deploymentBody('web'));
    await rs.update(ns, 'web', { ...created, status: { replicas: 1 } }, { subresource: 'status' });
    const err = await rejection(rs.update(ns, 'web', { ...created, status: { replicas: 2 } }, { subresource: 'status' }));
    expect(err.reason).toBe('Conflict');
  });

  it('validates updates, including immutable fields (422)', async () => {
    const ns = freshNamespace();
    const rs = rsFor(deployments);
    const created = await rs.create(ns, deploymentBody('web'));
    const err = await rejection(rs.update(ns, 'web', { ...created, spec: { ...(created.spec as Json), selector: { matchLabels: { app: 'other' } } } }));
    expect(err.code).toBe(422);
    expect(err.status.details?.causes?.map((c) => c.field)).toContain('spec.selector');
  });

  it('concurrent unconditional writers are retried against the newest copy, so none is lost', async () => {
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    await rs.create(ns, cm('shared', { data: {} }));
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        rs.writeLoop(ns, 'shared', undefined, (cur) => ({ ...cur, data: { ...(cur.data as Json), [`k${i}`]: String(i) } })),
      ),
    );
    expect(Object.keys((await rs.get(ns, 'shared')).data as Json).sort()).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5']);
  });

  it('many writers at once on one object all succeed: a conflict without a pinned resourceVersion is never a 409', async () => {
    // What kubectl patch and a controller's status writes count on. Each round of conflicting
    // writers has one winner, so the last of 40 loses 39 times: no fixed small retry count will do.
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    await rs.create(ns, cm('hot', { data: {} }));
    const n = 40;
    const results = await Promise.allSettled(
      Array.from({ length: n }, (_, i) =>
        rs.writeLoop(ns, 'hot', undefined, (cur) => ({ ...cur, data: { ...(cur.data as Json), [`k${i}`]: String(i) } })),
      ),
    );
    expect(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    expect(Object.keys((await rs.get(ns, 'hot')).data as Json)).toHaveLength(n);
  });
});

describe('delete', () => {
  it('an object without finalizers goes at once and the reply is its last state', async () => {
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    const created = await rs.create(ns, cm('c'));
    const r = await rs.delete(ns, 'c');
    expect(r.deleted).toBe(true);
    expect(r.object.metadata.uid).toBe(created.metadata.uid);
    // It carries the revision of its deletion, as Kubernetes' DELETED events do.
    expect(Number(r.object.metadata.resourceVersion)).toBe(await currentRevision());
    expect((await rejection(rs.get(ns, 'c'))).code).toBe(404);
    expect((await rejection(rs.delete(ns, 'c'))).code).toBe(404);
  });

  it('an object with finalizers is only marked; removing the last finalizer deletes it', async () => {
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    await rs.create(ns, cm('held', { metadata: { name: 'held', finalizers: ['example.com/a', 'example.com/b'] } }));
    const r = await rs.delete(ns, 'held');
    expect(r.deleted).toBe(false);
    expect(r.object.metadata.deletionTimestamp).toBe(timestamp(now));
    expect(r.object.metadata.deletionGracePeriodSeconds).toBe(0);

    const marked = await rs.get(ns, 'held');
    expect(marked.metadata.deletionTimestamp).toBe(timestamp(now));
    expect(marked.metadata.finalizers).toEqual(['example.com/a', 'example.com/b']);

    // Deleting again changes nothing.
    const again = await rs.delete(ns, 'held');
    expect(again).toEqual({ object: marked, deleted: false });

    // A client cannot undo the deletion by leaving deletionTimestamp out.
    const { deletionTimestamp: _d, ...meta } = marked.metadata;
    const one = await rs.update(ns, 'held', { ...marked, metadata: { ...meta, finalizers: ['example.com/b'] } });
    expect(one.metadata.deletionTimestamp).toBe(marked.metadata.deletionTimestamp);
    expect(one.metadata.finalizers).toEqual(['example.com/b']);

    await rs.update(ns, 'held', { ...one, metadata: { ...one.metadata, finalizers: [] } });
    expect((await rejection(rs.get(ns, 'held'))).code).toBe(404);
  });

  // Deletion must be able to finish: finalizers may only be removed once it has begun.
  it('no new finalizers may be added to an object being deleted (422)', async () => {
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    await rs.create(ns, cm('held', { metadata: { name: 'held', finalizers: ['example.com/a'] } }));
    const marked = (await rs.delete(ns, 'held')).object;
    const err = await rejection(rs.update(ns, 'held', { ...marked, metadata: { ...marked.metadata, finalizers: ['example.com/a', 'example.com/new'] } }));
    expect(err.code).toBe(422);
    expect(err.status.details?.causes?.map((c) => c.field)).toContain('metadata.finalizers');
  });

  it('Foreground and Orphan propagation hold the object with their finalizers', async () => {
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    await rs.create(ns, cm('fg'));
    await rs.create(ns, cm('or'));
    expect((await rs.delete(ns, 'fg', { propagationPolicy: 'Foreground' })).object.metadata.finalizers).toEqual(['foregroundDeletion']);
    expect((await rs.delete(ns, 'or', { propagationPolicy: 'Orphan' })).object.metadata.finalizers).toEqual(['orphan']);
    expect((await rs.get(ns, 'fg')).metadata.deletionTimestamp).toBeDefined();
  });

  it('a pod bound to a node is deleted gracefully; an unbound pod goes at once', async () => {
    const ns = freshNamespace();
    const rs = rsFor(pods);
    await rs.create(ns, podBody('bound', { nodeName: 'n1' }));
    await rs.create(ns, podBody('unbound'));

    const b = await rs.delete(ns, 'bound');
    expect(b.deleted).toBe(false);
    // The kubelet gets terminationGracePeriodSeconds (default 30) to stop it.
    expect(b.object.metadata.deletionGracePeriodSeconds).toBe(30);
    expect(b.object.metadata.deletionTimestamp).toBe(timestamp(now + 30_000));
    expect((await rs.get(ns, 'bound')).metadata.deletionTimestamp).toBe(timestamp(now + 30_000));

    const u = await rs.delete(ns, 'unbound');
    expect(u.deleted).toBe(true);
    expect((await rejection(rs.get(ns, 'unbound'))).code).toBe(404);

    // The kubelet's final delete (grace 0) removes it.
    const done = await rs.delete(ns, 'bound', { gracePeriodSeconds: 0 });
    expect(done.deleted).toBe(true);
    expect((await rejection(rs.get(ns, 'bound'))).code).toBe(404);
  });

  it('a bound pod\'s grace period comes from its spec or the request, and may only shrink', async () => {
    const ns = freshNamespace();
    const rs = rsFor(pods);
    await rs.create(ns, podBody('short', { nodeName: 'n1', terminationGracePeriodSeconds: 5 }));
    expect((await rs.delete(ns, 'short')).object.metadata.deletionGracePeriodSeconds).toBe(5);

    await rs.create(ns, podBody('asked', { nodeName: 'n1' }));
    expect((await rs.delete(ns, 'asked', { gracePeriodSeconds: 10 })).object.metadata.deletionGracePeriodSeconds).toBe(10);
    const longer = await rs.delete(ns, 'asked', { gracePeriodSeconds: 60 });
    expect(longer.object.metadata.deletionGracePeriodSeconds).toBe(10);
    const shorter = await rs.delete(ns, 'asked', { gracePeriodSeconds: 2 });
    expect(shorter.object.metadata.deletionGracePeriodSeconds).toBe(2);
    expect(shorter.object.metadata.deletionTimestamp).toBe(timestamp(now + 2_000));

    // A pod that already finished needs no grace.
    await rs.create(ns, podBody('finished', { nodeName: 'n1' }));
    const f = await rs.get(ns, 'finished');
    await rs.update(ns, 'finished', { ...f, status: { phase: 'Succeeded' } }, { subresource: 'status' });
    expect((await rs.delete(ns, 'finished')).deleted).toBe(true);
  });

  it('preconditions that do not match are 409 and delete nothing', async () => {
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    const c = await rs.create(ns, cm('c'));
    const uidErr = await rejection(rs.delete(ns, 'c', { preconditions: { uid: 'another-uid' } }));
    expect(uidErr.code).toBe(409);
    expect(uidErr.message).toContain(`Precondition failed: UID in precondition: another-uid, UID in object meta: ${c.metadata.uid}`);
    const rvErr = await rejection(rs.delete(ns, 'c', { preconditions: { resourceVersion: '1' } }));
    expect(rvErr.code).toBe(409);
    expect(rvErr.message).toContain('Precondition failed: ResourceVersion in precondition: 1');
    expect(await rs.get(ns, 'c')).toEqual(c);

    const ok = await rs.delete(ns, 'c', { preconditions: { uid: c.metadata.uid, resourceVersion: c.metadata.resourceVersion } });
    expect(ok.deleted).toBe(true);
  });

  it('a dry-run delete deletes nothing', async () => {
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    const c = await rs.create(ns, cm('c'));
    expect((await rs.delete(ns, 'c', { dryRun: true })).deleted).toBe(true);
    expect(await rs.get(ns, 'c')).toEqual(c);
  });

  it('deleteCollection deletes what the filter selects', async () => {
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    for (const [name, app] of [['a', 'x'], ['b', 'y'], ['c', 'x']]) await rs.create(ns, cm(name, { metadata: { name, labels: { app } } }));
    const gone = await rs.deleteCollection(ns, { filter: selectorFilter(configmaps, { labelSelector: 'app=x' }) });
    expect(gone.map((o) => o.metadata.name).sort()).toEqual(['a', 'c']);
    expect((await rs.list(ns)).items.map((o) => o.metadata.name)).toEqual(['b']);
  });
});

describe('list', () => {
  /** Every page of a list, following continue tokens. */
  async function allPages(rs: ResourceStore, ns: string | undefined, filter: ((o: KubeObject) => boolean) | undefined, limit: number) {
    const pages: { names: string[]; rv: string; remaining?: number; token?: string }[] = [];
    let token: string | undefined;
    do {
      const p = await rs.list(ns, { filter, limit, continueToken: token });
      pages.push({ names: p.items.map((o) => o.metadata.name as string), rv: p.resourceVersion, remaining: p.remaining, token: p.continueToken });
      token = p.continueToken;
      if (pages.length > 20) throw new Error('list does not end');
    } while (token);
    return pages;
  }

  it('lists a namespace in name order with the store revision as resourceVersion', async () => {
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    for (const n of ['b', 'a', 'c']) await rs.create(ns, cm(n));
    await rs.create(freshNamespace(), cm('elsewhere'));
    const page = await rs.list(ns);
    expect(page.items.map((o) => o.metadata.name)).toEqual(['a', 'b', 'c']);
    expect(page.items.every((o) => o.kind === 'ConfigMap' && o.apiVersion === 'v1')).toBe(true);
    expect(page.resourceVersion).toBe(String(await currentRevision()));
    expect(page.continueToken).toBeUndefined();
  });

  it('a cluster-wide list sees every namespace, and a namespace prefix is not confused with a longer name', async () => {
    const rs = rsFor(secrets);
    const ns = freshNamespace();
    await rs.create(ns, { metadata: { name: 's1' } });
    await rs.create(`${ns}0`, { metadata: { name: 's2' } });
    expect((await rs.list(ns)).items.map((o) => o.metadata.name)).toEqual(['s1']);
    const all = (await rs.list(undefined)).items.map((o) => `${o.metadata.namespace}/${o.metadata.name}`);
    expect(all).toEqual(expect.arrayContaining([`${ns}/s1`, `${ns}0/s2`]));
  });

  it('pages with limit and continue tokens, at one revision', async () => {
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    for (let i = 0; i < 7; i++) await rs.create(ns, cm(`c${i}`));
    const pages = await allPages(rs, ns, undefined, 3);
    expect(pages.map((p) => p.names)).toEqual([['c0', 'c1', 'c2'], ['c3', 'c4', 'c5'], ['c6']]);
    expect(pages.map((p) => p.remaining)).toEqual([4, 1, undefined]);
    expect(new Set(pages.map((p) => p.rv)).size).toBe(1);
  });

  it('pages over what a filter selects, counting only matches', async () => {
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    for (let i = 0; i < 9; i++) await rs.create(ns, cm(`c${i}`, { metadata: { name: `c${i}`, labels: { parity: i % 2 === 0 ? 'even' : 'odd' } } }));
    const even = selectorFilter(configmaps, { labelSelector: 'parity=even' });
    const pages = await allPages(rs, ns, even, 2);
    expect(pages.map((p) => p.names)).toEqual([['c0', 'c2'], ['c4', 'c6'], ['c8']]);
    expect(pages.map((p) => p.remaining)).toEqual([3, 1, undefined]);
    expect(new Set(pages.map((p) => p.rv)).size).toBe(1);
    // Exactly `limit` matches: one page, no token.
    const exact = await rs.list(ns, { filter: selectorFilter(configmaps, { fieldSelector: 'metadata.name=c3' }), limit: 1 });
    expect(exact.items.map((o) => o.metadata.name)).toEqual(['c3']);
    expect(exact.continueToken).toBeUndefined();
  });

  it('later pages show the list as of the first page, not later writes', async () => {
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    for (const n of ['a', 'b', 'c', 'd']) await rs.create(ns, cm(n));
    const first = await rs.list(ns, { limit: 2 });
    await rs.create(ns, cm('e'));
    await rs.delete(ns, 'd');
    const second = await rs.list(ns, { limit: 10, continueToken: first.continueToken });
    expect(second.items.map((o) => o.metadata.name)).toEqual(['c', 'd']);
    expect(second.resourceVersion).toBe(first.resourceVersion);
    // The same with a filter.
    const f = selectorFilter(configmaps, { labelSelector: '' }) ?? (() => true);
    const ff = await rs.list(ns, { filter: f, limit: 1 });
    await rs.delete(ns, 'b');
    const fs = await rs.list(ns, { filter: f, limit: 10, continueToken: ff.continueToken });
    expect(fs.items.map((o) => o.metadata.name)).toEqual(['b', 'c', 'e']);
  });

  it('a continue token from another resource or namespace, or garbage, is a 400', async () => {
    const ns = freshNamespace();
    const cms = rsFor(configmaps);
    for (const n of ['a', 'b']) await cms.create(ns, cm(n));
    const token = (await cms.list(ns, { limit: 1 })).continueToken;
    expect(token).toBeDefined();
    for (const [rs, where] of [[rsFor(secrets), ns], [cms, freshNamespace()]] as const) {
      const err = await rejection(rs.list(where, { continueToken: token }));
      expect(err.code).toBe(400);
      expect(err.message).toContain('continue');
    }
    for (const garbage of ['not-a-token', Buffer.from('{"v":1}').toString('base64url'), Buffer.from(JSON.stringify({ v: 1, rv: 1, start: '/registry/secrets/' })).toString('base64url')]) {
      expect((await rejection(cms.list(ns, { continueToken: garbage }))).code).toBe(400);
    }
  });
});

describe('watch', () => {
  // Watches are served from the resource's watch cache, which a replica starts when it starts
  // serving (server.ts); a watch may resume from any revision since then.

  it('delivers ADDED, MODIFIED (with the previous object) and DELETED after a revision, for its namespace only', async () => {
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    await rs.cache.start();
    await rs.create(freshNamespace(), cm('before-the-watch'));
    const from = Number((await rs.list(ns)).resourceVersion);
    const events: StoredEvent[] = [];
    const errors: Error[] = [];
    const w = await rs.watch(ns, from, (evs) => events.push(...evs), (err) => errors.push(err));
    try {
      expect(w.initial).toEqual([]);
      await rs.create(freshNamespace(), cm('unrelated'));
      const created = await rs.create(ns, cm('w'));
      const updated = await rs.update(ns, 'w', { ...created, data: { a: '2' } });
      const deleted = await rs.delete(ns, 'w');
      await waitFor('three watch events', () => events.length >= 3);

      expect(events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
      expect(events.every((e) => e.object.kind === 'ConfigMap' && e.object.apiVersion === 'v1')).toBe(true);
      expect(events[0].object).toEqual(created);
      expect(events[0].revision).toBe(Number(created.metadata.resourceVersion));
      expect(events[1].object).toEqual(updated);
      expect(events[1].previous?.data).toEqual({ a: '1' });
      expect(events[1].previous?.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
      // DELETED carries the last state, at the revision of the deletion.
      expect(events[2].object.data).toEqual({ a: '2' });
      expect(events[2].object.metadata.resourceVersion).toBe(deleted.object.metadata.resourceVersion);
      expect(events[2].revision).toBe(Number(deleted.object.metadata.resourceVersion));
      expect(errors).toEqual([]);
    } finally {
      w.cancel();
    }
  });

  it('replays changes already made after the revision (a watch resumes from a list)', async () => {
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    await rs.cache.start();
    const from = await currentRevision();
    const early = await rs.create(ns, cm('early'));
    await rs.update(ns, 'early', { ...early, data: { a: 'changed' } });
    const events: StoredEvent[] = [];
    const w = await rs.watch(ns, from, (evs) => events.push(...evs), () => undefined);
    try {
      await waitFor('the replayed events', () => events.length >= 2);
      expect(events.map((e) => [e.type, e.object.metadata.name])).toEqual([['ADDED', 'early'], ['MODIFIED', 'early']]);
      expect(events[1].previous?.data).toEqual({ a: '1' });
    } finally {
      w.cancel();
    }
  });

  it('a re-created object is ADDED again', async () => {
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    await rs.cache.start();
    const from = await currentRevision();
    await rs.create(ns, cm('again'));
    await rs.delete(ns, 'again');
    await rs.create(ns, cm('again'));
    const events: StoredEvent[] = [];
    const w = await rs.watch(ns, from, (evs) => events.push(...evs), () => undefined);
    try {
      await waitFor('three events', () => events.length >= 3);
      expect(events.map((e) => e.type)).toEqual(['ADDED', 'DELETED', 'ADDED']);
    } finally {
      w.cancel();
    }
  });

  it('without a revision, the current objects come first and changes follow', async () => {
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    await rs.create(ns, cm('b'));
    await rs.create(ns, cm('a'));
    await rs.create(freshNamespace(), cm('elsewhere'));
    // The cache sees a write shortly after raftkv commits it.
    await waitFor('the cache to catch up', async () => rs.cache.revision >= (await currentRevision()));
    const events: StoredEvent[] = [];
    const w = await rs.watch(ns, undefined, (evs) => events.push(...evs), () => undefined);
    try {
      expect(w.initial.map((o) => o.metadata.name)).toEqual(['a', 'b']);
      expect(w.initial.every((o) => o.kind === 'ConfigMap')).toBe(true);
      await rs.create(ns, cm('c'));
      await waitFor('the live event', () => events.length >= 1);
      expect(events.map((e) => [e.type, e.object.metadata.name])).toEqual([['ADDED', 'c']]);
    } finally {
      w.cancel();
    }
  });

  it('a revision older than the cache reaches back is 410 Gone', async () => {
    const rs = rsFor(secrets);
    const ns = freshNamespace();
    await rs.create(ns, { metadata: { name: 's' } });
    const before = await currentRevision();
    await rs.create(ns, { metadata: { name: 't' } });
    // A cache started only now holds no changes from before.
    const fresh = new ResourceStore(secrets, store, clock, anyNamespace);
    try {
      await fresh.cache.start();
      const err = await rejection(fresh.watch(ns, before - 1, () => undefined, () => undefined));
      expect(err.code).toBe(410);
      expect(err.reason).toBe('Expired');
    } finally {
      fresh.cache.stop();
    }
  });
});

// Last: compaction discards history every earlier test might still use.
describe('after compaction', () => {
  it('a continue token from a compacted revision is 410 Gone', async () => {
    const ns = freshNamespace();
    const rs = rsFor(configmaps);
    for (const n of ['a', 'b', 'c']) await rs.create(ns, cm(n));
    const first = await rs.list(ns, { limit: 1 });
    await rs.update(ns, 'a', { ...(await rs.get(ns, 'a')), data: { a: 'x' } });
    await kv.compact(await currentRevision());

    const err = await rejection(rs.list(ns, { continueToken: first.continueToken }));
    expect(err.code).toBe(410);
    expect(err.reason).toBe('Expired');
    // A fresh list works.
    expect((await rs.list(ns)).items.map((o) => o.metadata.name)).toEqual(['a', 'b', 'c']);
  });
});
