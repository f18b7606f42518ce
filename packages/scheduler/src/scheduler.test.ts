/**
 * The scheduler loop's binding cycle against an in-memory API (list, watch, bind, events) whose
 * binds wait until the test answers them: decisions go on while binds are under way, up to
 * maxInFlightBinds, with the assumed pods counted; a failed bind is retried; a lost race is not.
 * (test/scheduler runs the same loop against real apiserver processes.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError, type KubeObject, type WatchEvent } from '@flotilla/api';
import type { KubeClient, ResourceRef } from '@flotilla/client';
import { seededRandom } from '@flotilla/raftkv';
import { Scheduler, schedulerEventRecorder } from './scheduler.js';

interface PendingBind {
  key: string;
  node: string;
  succeed(): void;
  fail(err: ApiError): void;
}

class FakeApi {
  readonly objects = { pods: new Map<string, KubeObject>(), nodes: new Map<string, KubeObject>() };
  readonly binds: PendingBind[] = [];
  readonly events: KubeObject[] = [];
  /** While set, event creates wait (as on a loaded API server) until releaseEvents(). */
  holdEvents = false;
  private readonly heldEvents: (() => void)[] = [];
  private readonly watchers = new Map<string, (ev: WatchEvent<KubeObject>) => void>();
  private rv = 1;

  readonly client = {
    list: async (r: ResourceRef) => ({ metadata: { resourceVersion: String(this.rv) }, items: [...this.store(r).values()] }),
    watch: (r: ResourceRef, _opts: unknown, onEvent: (ev: WatchEvent<KubeObject>) => void) => {
      this.watchers.set(r.resource, onEvent);
      let stop: () => void = () => undefined;
      const done = new Promise<void>((resolve) => (stop = resolve));
      return { stop: () => stop(), done };
    },
    bind: (namespace: string, name: string, node: string): Promise<unknown> => new Promise((resolve, reject) => {
      const key = `${namespace}/${name}`;
      this.binds.push({
        key, node,
        succeed: () => {
          const p = this.objects.pods.get(key) as KubeObject;
          this.put('pods', key, { ...p, metadata: { ...p.metadata, resourceVersion: String(++this.rv) }, spec: { ...(p.spec as object), nodeName: node } });
          resolve({});
        },
        fail: reject,
      });
    }),
    create: (_r: ResourceRef, obj: KubeObject) => new Promise((resolve) => {
      const done = (): void => {
        this.events.push(obj);
        resolve(obj);
      };
      if (this.holdEvents) this.heldEvents.push(done);
      else done();
    }),
    patch: async () => ({}),
  } as unknown as KubeClient;

  private store(r: ResourceRef): Map<string, KubeObject> {
    return r.resource === 'nodes' ? this.objects.nodes : this.objects.pods;
  }

  put(kind: 'pods' | 'nodes', key: string, obj: KubeObject): void {
    const existed = this.objects[kind].has(key);
    this.objects[kind].set(key, obj);
    this.watchers.get(kind)?.({ type: existed ? 'MODIFIED' : 'ADDED', object: obj });
  }

  releaseEvents(): void {
    this.holdEvents = false;
    for (const done of this.heldEvents.splice(0)) done();
  }

  addNode(name: string, cpu: string): void {
    this.put('nodes', name, { metadata: { name, resourceVersion: String(++this.rv) }, status: { allocatable: { cpu, memory: '8Gi', pods: '110' }, conditions: [{ type: 'Ready', status: 'True' }] } });
  }

  addPod(name: string, cpu: string): void {
    this.put('pods', `ns/${name}`, { metadata: { name, namespace: 'ns', resourceVersion: String(++this.rv) }, spec: { containers: [{ name: 'c', image: 'x', resources: { requests: { cpu } } }] } });
  }
}

async function until<T>(what: string, f: () => T | undefined, ms = 3_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
const settle = (ms = 50): Promise<void> => new Promise((r) => setTimeout(r, ms));

let running: { api: FakeApi; scheduler: Scheduler } | undefined;

async function start(opts: { maxInFlightBinds?: number } = {}): Promise<{ api: FakeApi; scheduler: Scheduler }> {
  const api = new FakeApi();
  const scheduler = new Scheduler({ client: api.client, random: seededRandom(3), ...opts });
  await scheduler.start();
  running = { api, scheduler };
  return running;
}

afterEach(async () => {
  if (!running) return;
  for (const b of running.api.binds.splice(0)) b.succeed(); // stop() waits for binds under way
  await running.scheduler.stop();
  running = undefined;
});

describe('Scheduler binding cycle', () => {
  it('decides the next pods while binds are under way, at most maxInFlightBinds at once, counting the assumed pods', async () => {
    const { api } = await start({ maxInFlightBinds: 2 });
    for (const n of ['a', 'b', 'c', 'd']) api.addNode(n, '1');
    for (let i = 0; i < 4; i++) api.addPod(`p${i}`, '600m'); // one per node fits, two never do
    await until('two binds sent', () => api.binds.length === 2);
    await settle();
    expect(api.binds).toHaveLength(2); // the third decision waits for a free slot
    const first = api.binds.shift() as PendingBind;
    first.succeed();
    await until('a third bind', () => api.binds.length === 2);
    for (const b of api.binds.splice(0)) b.succeed();
    await until('the fourth bind', () => api.binds.length === 1);
    for (const b of api.binds.splice(0)) b.succeed();
    const nodes = [...api.objects.pods.values()].map((p) => (p.spec as { nodeName?: string }).nodeName);
    expect(nodes.sort()).toEqual(['a', 'b', 'c', 'd']); // no node got two: assumed pods counted before any bind was seen
    await until('a Scheduled event per pod', () => api.events.length === 4);
    expect(api.events.every((e) => e.reason === 'Scheduled')).toBe(true);
  });

  it('leaves a recorder passed in running on stop(): the events of binds made before are still sent', async () => {
    // What a replica that loses its Lease does: it stops its Scheduler, and the Scheduled events
    // still queued (the API server being slow) must not be dropped with it.
    const api = new FakeApi();
    api.holdEvents = true;
    const recorder = schedulerEventRecorder(api.client, 'default-scheduler');
    const scheduler = new Scheduler({ client: api.client, random: seededRandom(3), recorder });
    await scheduler.start();
    for (const n of ['a', 'b', 'c', 'd']) api.addNode(n, '1');
    for (let i = 0; i < 4; i++) api.addPod(`p${i}`, '600m');
    for (let bound = 0; bound < 4; bound++) (await until('a bind', () => api.binds.shift())).succeed();
    await until('every event queued', () => recorder.pending === 4);
    await scheduler.stop(); // does not wait for the events: the recorder is not its own
    expect(api.events).toHaveLength(0);
    api.releaseEvents();
    await recorder.flush();
    expect(api.events.map((e) => (e.involvedObject as { name: string }).name).sort()).toEqual(['p0', 'p1', 'p2', 'p3']);
    expect(recorder.dropped).toBe(0);
    await recorder.close(0);
  });

  it('un-assumes a pod whose bind failed and binds it again after a back-off', async () => {
    const { api, scheduler } = await start();
    api.addNode('only', '1');
    api.addPod('p', '600m');
    const b = await until('a bind', () => api.binds.shift());
    b.fail(new ApiError(503, 'ServiceUnavailable', 'try later'));
    await until('the pod un-assumed', () => !scheduler.cache.isAssumed('ns/p'));
    expect(scheduler.cache.nodeInfo('only')?.requested.milliCPU).toBe(0);
    const again = await until('a second bind', () => api.binds.shift(), 2_000);
    expect(again).toMatchObject({ key: 'ns/p', node: 'only' }); // the node counts as free again
    again.succeed();
    await until('bound', () => (api.objects.pods.get('ns/p')?.spec as { nodeName?: string }).nodeName === 'only');
  });

  it('drops a pod another scheduler bound first (409) without trying again or recording Scheduled', async () => {
    const { api, scheduler } = await start();
    api.addNode('only', '1');
    api.addPod('p', '600m');
    const b = await until('a bind', () => api.binds.shift());
    b.fail(new ApiError(409, 'Conflict', 'pod p is already assigned to node "only"'));
    await until('the pod un-assumed', () => !scheduler.cache.isAssumed('ns/p'));
    await settle(300);
    expect(api.binds).toHaveLength(0);
    expect(api.events.filter((e) => e.reason === 'Scheduled')).toHaveLength(0);
  });
});
