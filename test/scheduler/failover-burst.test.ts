/**
 * Scheduler failover with a backlog: the active `flotilla scheduler` replica is SIGKILLed while
 * 200 pods are pending, and the standby binds every one of them exactly once (one nodeName per
 * pod, set once and never changed, and one Scheduled event per pod). The time from the kill to
 * the first and to the last bind seen by a watch is printed, never asserted.
 *
 * How "200 pending at the kill" is made deterministic: the three nodes start cordoned
 * (spec.unschedulable), so the active replica takes every pod into its queue and marks it
 * PodScheduled=False / Unschedulable, retrying with back-off, but can bind none. Once all 200
 * carry that condition (so the leader has seen each of them and is busy retrying them), the
 * leader is SIGKILLed, and only after it has exited are the nodes uncordoned. Racing the kill
 * against a leader that binds as fast as the pods arrive, or SIGSTOPping it while the nodes are
 * uncordoned, would leave the count at the kill to the machine's load (a 1 s lease lets the
 * standby take over while the leader is stopped); this way the count is exactly 200 and nothing
 * can be bound before the kill. The standby has watched the Lease being renewed until the kill,
 * so it waits out a whole lease duration, as it would after a real crash. The price: the killed
 * leader has no bind in flight at the kill (a crash mid-bind is left to the API server's
 * "bind only an unbound pod" rule, which the watch here would still catch if it failed).
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject } from '@flotilla/api';
import { KubeClient, loadKubeconfig, resources, type WatchHandle } from '@flotilla/client';
import { TestKubeCluster } from '../support/kube-cluster.js';
import { killSchedulers, startScheduler, type SchedulerProcess } from '../support/scheduler.js';
import { waitFor } from '../support/wait.js';

const PODS = 200;
const CREATE_CONCURRENCY = 16;
const NODES = ['w1', 'w2', 'w3'];
const NS = 'default';

let cluster: TestKubeCluster;
let admin: KubeClient;
const procs: SchedulerProcess[] = [];

beforeAll(async () => {
  cluster = await TestKubeCluster.create({ apiServers: 1 });
  admin = new KubeClient(loadKubeconfig(path.join(cluster.home, 'kubeconfig')));
}, 60_000);

afterAll(async () => {
  // SIGKILL ends a SIGSTOPped process as well; every replica is waited for by PID.
  await killSchedulers(procs);
  await admin?.close();
  await cluster?.close();
});

const alive = (p: ChildProcess): boolean => p.exitCode === null && p.signalCode === null;
const nodeNameOf = (o: KubeObject): string => {
  const n = (o.spec as { nodeName?: unknown } | undefined)?.nodeName;
  return typeof n === 'string' ? n : '';
};
const podNames = Array.from({ length: PODS }, (_, i) => `burst-${String(i).padStart(3, '0')}`);

async function leaseHolder(): Promise<string | undefined> {
  const lease = await admin.get(resources.leases, 'kube-scheduler', 'kube-system').catch(() => undefined);
  return (lease?.spec as { holderIdentity?: string } | undefined)?.holderIdentity || undefined;
}

/** Runs `fn` over `items`, at most `n` at once. */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

describe('flotilla scheduler failover with a backlog', () => {
  it(`SIGKILL the active replica while ${PODS} pods are pending: the standby binds each exactly once`, async () => {
    for (const name of NODES) {
      const created = await admin.create(resources.nodes, { metadata: { name }, spec: { unschedulable: true } });
      await admin.update(resources.nodes, { ...created, status: { allocatable: { cpu: '4', memory: '8Gi', pods: '110' }, capacity: { cpu: '4', memory: '8Gi', pods: '110' }, conditions: [{ type: 'Ready', status: 'True' }] } }, { subresource: 'status' });
    }
    for (const name of ['s1', 's2']) procs.push(await startScheduler(cluster, name));

    let watch: WatchHandle | undefined;
    let watching = true;
    // Every change to every pod, from before the first one exists: per pod, the nodeName each
    // event carried ('' while unbound) and when the watch saw the bind.
    const history = new Map<string, string[]>();
    const boundAt = new Map<string, number>();
    const problems: string[] = [];
    let killedAt = Number.NaN;
    try {
      await waitFor('a replica to hold the kube-scheduler Lease', async () => {
        const h = await leaseHolder();
        return h && procs.some((p) => p.name === h) ? h : undefined;
      }, 20_000);

      const startRv = (await admin.list(resources.pods, { namespace: NS })).metadata.resourceVersion;
      watch = admin.watch(resources.pods, { namespace: NS, resourceVersion: startRv }, (ev) => {
        if (ev.type === 'BOOKMARK') return;
        if (ev.type === 'ERROR') {
          problems.push(`watch ERROR: ${JSON.stringify(ev.object)}`);
          return;
        }
        const pod = ev.object as KubeObject;
        const name = pod.metadata.name ?? '';
        if (ev.type === 'DELETED') problems.push(`pod ${name} was deleted`);
        const node = nodeNameOf(pod);
        const seen = history.get(name) ?? [];
        if (seen.length === 0 && ev.type !== 'ADDED') problems.push(`pod ${name}: first event was ${ev.type}, not ADDED`);
        const prev = seen.length > 0 ? seen[seen.length - 1] : '';
        if (node !== '' && prev === '' && !boundAt.has(name)) boundAt.set(name, performance.now());
        seen.push(node);
        history.set(name, seen);
      });
      watch.done.then(
        () => { if (watching) problems.push('the pod watch ended early'); },
        (err: unknown) => { if (watching) problems.push(`the pod watch failed: ${String(err)}`); },
      );

      const created = performance.now();
      await pool(podNames, CREATE_CONCURRENCY, (name) => admin.create(resources.pods, { metadata: { name, namespace: NS }, spec: { containers: [{ name: 'c', image: 'busybox' }] } }));
      const createMs = Math.round(performance.now() - created);

      // The leader has taken up every pod: each is marked Unschedulable (by the lease holder: the
      // standby runs no scheduling loop).
      await waitFor(`all ${PODS} pods marked Unschedulable by the active replica`, async () => {
        const pods = (await admin.list(resources.pods, { namespace: NS })).items;
        const marked = pods.filter((p) => ((p.status as { conditions?: { type: string; status: string; reason?: string }[] } | undefined)?.conditions ?? [])
          .some((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable'));
        return marked.length === PODS;
      }, 30_000);

      const leaderName = await leaseHolder();
      const leader = procs.find((p) => p.name === leaderName);
      const standby = procs.find((p) => p !== leader);
      expect(leader, `lease holder ${leaderName}`).toBeDefined();
      expect(alive(leader!.proc) && alive(standby!.proc)).toBe(true);
      const pendingAtKill = (await admin.list(resources.pods, { namespace: NS })).items.filter((p) => nodeNameOf(p) === '').length;
      expect(pendingAtKill).toBe(PODS); // and none can be bound until the nodes are uncordoned below

      killedAt = performance.now();
      const killedAtWall = Date.now();
      leader!.proc.kill('SIGKILL');
      await leader!.exit;
      expect(leader!.proc.signalCode).toBe('SIGKILL');
      expect(boundAt.size, 'binds seen before the nodes were uncordoned').toBe(0);
      await Promise.all(NODES.map((name) => admin.patch(resources.nodes, name, { spec: { unschedulable: false } }, 'merge')));
      const uncordonedMs = Math.round(performance.now() - killedAt);

      // A replica that loses the Lease under load stands by and campaigns again rather than
      // exiting (nothing here would restart it); should the new leader exit anyway, the rest would
      // stay pending for good: fail at once, saying why, rather than at the timeout.
      let allBound = false;
      await Promise.race([
        waitFor(`all ${PODS} pods bound by the standby`, () => (boundAt.size === PODS ? true : undefined), 60_000).finally(() => { allBound = true; }),
        standby!.exit.then(() => {
          if (allBound) return;
          const why = standby!.log.join('').split('\n').filter((l) => l.includes('shutting down')).join(' ');
          throw new Error(`the new leader ${standby!.name} exited (${standby!.proc.signalCode ?? `code ${standby!.proc.exitCode}`}) ` +
            `${Math.round(performance.now() - killedAt)} ms after the kill with ${boundAt.size}/${PODS} pods bound: ${why}`);
        }),
      ]);
      allBound = true;
      const binds = [...boundAt.values()];
      const firstMs = Math.round(Math.min(...binds) - killedAt);
      const lastMs = Math.round(Math.max(...binds) - killedAt);

      // One Scheduled event per pod, about that pod (uid), naming the node it is bound to. The
      // recorder sends them two at a time behind the binds; with the whole suite sharing 2 cores
      // a write can take 150 ms or more, so 200 events may need over 30 s (a CI run timed out).
      const pods = new Map((await admin.list(resources.pods, { namespace: NS })).items.map((p) => [p.metadata.name ?? '', p]));
      type Ev = KubeObject & { involvedObject?: { name?: string; uid?: string }; message?: string; count?: number };
      let podsWithEvents = 0;
      const scheduled = await waitFor(`a Scheduled event for each of the ${PODS} pods`, async () => {
        const evs = (await admin.list<Ev>(resources.events, { namespace: NS, fieldSelector: 'reason=Scheduled' })).items;
        podsWithEvents = new Set(evs.map((e) => e.involvedObject?.name)).size;
        return podsWithEvents >= PODS ? evs : undefined;
      }, 90_000).catch((err: unknown) => {
        const log = standby!.log.join('').split('\n');
        const failed = log.filter((l) => l.includes('could not record an event')).length;
        const dropped = log.some((l) => l.includes('events dropped'));
        const lease = log.filter((l) => /Lease|leader/.test(l)).map((l) => l.slice(0, 200));
        throw new Error(`${(err as Error).message}: ${podsWithEvents} pods had one; ${standby!.name} logged ${failed} failed event writes${dropped ? ' and dropped events' : ''}; its Lease lines: ${JSON.stringify(lease)}`);
      });
      const eventsPerPod = new Map<string, Ev[]>();
      for (const e of scheduled) eventsPerPod.set(e.involvedObject?.name ?? '', [...(eventsPerPod.get(e.involvedObject?.name ?? '') ?? []), e]);

      const perNode = new Map<string, number>();
      const wrong: string[] = [];
      for (const name of podNames) {
        const seen = history.get(name) ?? [];
        const distinct = seen.filter((n, i) => i === 0 || n !== seen[i - 1]);
        const node = distinct[1];
        if (distinct.length !== 2 || distinct[0] !== '' || !NODES.includes(node)) wrong.push(`${name}: nodeName went ${JSON.stringify(distinct)}`);
        if (new Set(seen.filter((n) => n !== '')).size > 1) wrong.push(`${name}: bound to two different nodes ${JSON.stringify(seen)}`);
        const pod = pods.get(name);
        if (!pod || nodeNameOf(pod) !== node) wrong.push(`${name}: listed on ${pod ? JSON.stringify(nodeNameOf(pod)) : 'nothing'}, watched on ${node}`);
        const evs = eventsPerPod.get(name) ?? [];
        if (evs.length !== 1) wrong.push(`${name}: ${evs.length} Scheduled events`);
        for (const e of evs) {
          if (e.involvedObject?.uid !== pod?.metadata.uid) wrong.push(`${name}: Scheduled event about uid ${e.involvedObject?.uid}, the pod is ${pod?.metadata.uid}`);
          if (!e.message?.endsWith(` to ${node}`)) wrong.push(`${name}: Scheduled event says ${JSON.stringify(e.message)}, bound to ${node}`);
          if ((e.count ?? 1) !== 1) wrong.push(`${name}: Scheduled event count ${e.count}`);
        }
        perNode.set(node, (perNode.get(node) ?? 0) + 1);
      }
      expect(wrong.slice(0, 20), `${wrong.length} violations`).toEqual([]);
      expect(history.size).toBe(PODS);
      expect(problems).toEqual([]);
      expect(await leaseHolder()).toBe(standby!.name);
      expect(alive(standby!.proc)).toBe(true);

      const acquired = await admin.get(resources.leases, 'kube-scheduler', 'kube-system');
      const acquireTime = Date.parse(String((acquired.spec as { acquireTime?: string }).acquireTime ?? '').replace(/(\.\d{3})\d*Z$/, '$1Z'));
      process.stdout.write(
        `scheduler failover with a backlog: ${PODS} pods created in ${createMs} ms, all ${pendingAtKill} pending at the SIGKILL of ${leader!.name}; ` +
        `nodes uncordoned +${uncordonedMs} ms, Lease acquired by ${standby!.name} +${Math.round(acquireTime - killedAtWall)} ms (its wall clock), ` +
        `first bind seen by the watch +${firstMs} ms, last bind +${lastMs} ms after the kill; per node ${JSON.stringify(Object.fromEntries(perNode))}\n`,
      );
    } catch (err) {
      for (const p of procs) console.error(`--- ${p.name}\n${p.log.join('').slice(-3000)}`);
      const listed = await admin.list(resources.pods, { namespace: NS }).then((l) => l.items, () => []);
      const firstBind = boundAt.size > 0 ? ` (first +${Math.round(Math.min(...boundAt.values()) - killedAt)} ms after the kill)` : '';
      console.error(`watch: ${history.size} pods seen, ${boundAt.size} bound${firstBind}; list: ${listed.length} pods, ${listed.filter((p) => nodeNameOf(p) !== '').length} bound; problems: ${JSON.stringify(problems.slice(0, 10))}`);
      throw err;
    } finally {
      watching = false;
      watch?.stop();
    }
  }, 210_000);
});
