import { describe, expect, it } from 'vitest';
import type { KubeObject } from '@flotilla/api';
import { SchedulerCache } from './cache.js';
import type { NodeInfo } from './node-info.js';

function node(name: string, cpu = '4'): KubeObject {
  return { metadata: { name }, status: { allocatable: { cpu, memory: '8Gi', pods: '110' }, conditions: [{ type: 'Ready', status: 'True' }] } };
}

function pod(name: string, opts: { node?: string; cpu?: string; phase?: string; hostPort?: number; owner?: string } = {}): KubeObject {
  return {
    metadata: { name, namespace: 'ns', ...(opts.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: opts.owner, controller: true }] } : {}) },
    spec: {
      ...(opts.node ? { nodeName: opts.node } : {}),
      containers: [{ name: 'c', image: 'x', resources: { requests: { cpu: opts.cpu ?? '500m' } }, ...(opts.hostPort ? { ports: [{ containerPort: 80, hostPort: opts.hostPort }] } : {}) }],
    },
    ...(opts.phase ? { status: { phase: opts.phase } } : {}),
  };
}

const info = (c: SchedulerCache, name: string): NodeInfo => {
  const i = c.nodeInfo(name);
  if (!i) throw new Error(`no node ${name}`);
  return i;
};
const names = (c: SchedulerCache): string[] => c.nodes().map((n) => n.node.metadata.name ?? '');

describe('SchedulerCache', () => {
  it('counts bound pods on their node, once per pod however often the informer reports it', () => {
    const c = new SchedulerCache();
    c.upsertNode(node('a'));
    c.upsertPod(pod('p', { node: 'a' }));
    c.upsertPod(pod('p', { node: 'a' })); // an update (status, labels): still one pod
    expect(info(c, 'a').requested).toEqual({ milliCPU: 500, memory: 0, pods: 1 });
    c.deletePod(pod('p', { node: 'a' }));
    expect(info(c, 'a').requested).toEqual({ milliCPU: 0, memory: 0, pods: 0 });
    expect(info(c, 'a').pods).toEqual([]);
  });

  it('counts an assumed pod until its bound version arrives, which then replaces it (never twice)', () => {
    const c = new SchedulerCache();
    c.upsertNode(node('a'));
    const p = pod('p');
    c.assume(p, 'a');
    expect(c.isAssumed('ns/p')).toBe(true);
    expect(info(c, 'a').requested.pods).toBe(1);
    c.upsertPod(p); // an update of the still-unbound pod does not drop the assumption
    expect(c.isAssumed('ns/p')).toBe(true);
    c.upsertPod(pod('p', { node: 'a' }));
    expect(c.isAssumed('ns/p')).toBe(false);
    expect(info(c, 'a').requested.pods).toBe(1);
    expect(c.assumedCount).toBe(0);
  });

  it('moves a pod the server bound elsewhere (another scheduler won) off the node it was assumed on', () => {
    const c = new SchedulerCache();
    c.upsertNode(node('a'));
    c.upsertNode(node('b'));
    c.assume(pod('p'), 'a');
    c.upsertPod(pod('p', { node: 'b' }));
    expect(info(c, 'a').requested.pods).toBe(0);
    expect(info(c, 'b').requested.pods).toBe(1);
  });

  it('forgets an assumed pod whose bind failed, and never a bound one', () => {
    const c = new SchedulerCache();
    c.upsertNode(node('a'));
    c.assume(pod('p'), 'a');
    c.forget('ns/p');
    expect(info(c, 'a').requested.pods).toBe(0);
    c.upsertPod(pod('q', { node: 'a' }));
    c.forget('ns/q');
    expect(info(c, 'a').requested.pods).toBe(1);
  });

  it('expires an assumed pod only after its bind finished and the TTL passed without the binding being seen', () => {
    const c = new SchedulerCache();
    c.upsertNode(node('a'));
    c.assume(pod('binding'), 'a');
    c.assume(pod('bound'), 'a');
    c.finishBinding('ns/bound', 1_000, 30_000);
    expect(c.expire(30_999)).toEqual([]);
    expect(c.expire(31_000)).toEqual(['ns/bound']); // a bind still under way never expires
    expect(info(c, 'a').pods.map((p) => p.metadata.name)).toEqual(['binding']);
  });

  it('keeps pods counted when their node changes, and stops counting those that ended', () => {
    const c = new SchedulerCache();
    c.upsertNode(node('a', '4'));
    c.upsertPod(pod('p', { node: 'a' }));
    c.upsertNode(node('a', '8'));
    expect(info(c, 'a').allocatable.milliCPU).toBe(8000);
    expect(info(c, 'a').requested.pods).toBe(1);
    c.upsertPod(pod('p', { node: 'a', phase: 'Succeeded' }));
    expect(info(c, 'a').requested.pods).toBe(0);
  });

  it('offers only nodes that exist, in a stable order; pods seen before their node are counted once it appears', () => {
    const c = new SchedulerCache();
    c.upsertPod(pod('early', { node: 'b' }));
    expect(names(c)).toEqual([]);
    c.upsertNode(node('c'));
    c.upsertNode(node('b'));
    c.upsertNode(node('a'));
    expect(names(c)).toEqual(['a', 'b', 'c']);
    expect(info(c, 'b').requested.pods).toBe(1);
    c.removeNode(node('b'));
    expect(names(c)).toEqual(['a', 'c']);
    expect(c.nodeInfo('b')).toBeUndefined();
  });

  it('keeps host ports and per-owner counts in step with the pods', () => {
    const c = new SchedulerCache();
    c.upsertNode(node('a'));
    c.upsertPod(pod('web-1', { node: 'a', hostPort: 8080, owner: 'rs-1' }));
    c.upsertPod(pod('web-2', { node: 'a', owner: 'rs-1' }));
    expect([...info(c, 'a').hostPorts]).toEqual(['TCP/0.0.0.0/8080']);
    expect(info(c, 'a').owners.get('ns/ReplicaSet/rs-1')).toBe(2);
    c.deletePod(pod('web-1', { node: 'a' }));
    expect([...info(c, 'a').hostPorts]).toEqual([]);
    expect(info(c, 'a').owners.get('ns/ReplicaSet/rs-1')).toBe(1);
    c.deletePod(pod('web-2', { node: 'a' }));
    expect(info(c, 'a').owners.size).toBe(0);
  });
});
