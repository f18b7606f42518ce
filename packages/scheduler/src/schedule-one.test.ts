import { describe, expect, it } from 'vitest';
import type { KubeObject } from '@flotilla/api';
import { seededRandom } from '@flotilla/raftkv';
import { addPod, newNodeInfo, podRequests, type NodeInfo } from './node-info.js';
import { nodeAffinity, nodePorts, nodeReady, nodeResourcesFit, nodeUnschedulable, taintToleration } from './plugins/filters.js';
import { balancedAllocation, leastAllocated, selectorSpread } from './plugins/scores.js';
import { scheduleOne } from './schedule-one.js';

const GI = 1024 ** 3;

function node(name: string, opts: { cpu?: string; memory?: string; pods?: string; labels?: Record<string, string>; taints?: unknown[]; ready?: boolean; unschedulable?: boolean } = {}): KubeObject {
  return {
    metadata: { name, labels: opts.labels ?? {} },
    spec: { taints: opts.taints ?? [], unschedulable: opts.unschedulable ?? false },
    status: {
      allocatable: { cpu: opts.cpu ?? '4', memory: opts.memory ?? '8Gi', pods: opts.pods ?? '110' },
      conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }],
    },
  };
}

function pod(name: string, opts: { cpu?: string; memory?: string; spec?: Record<string, unknown>; owner?: string; hostPort?: number } = {}): KubeObject {
  const requests: Record<string, string> = {};
  if (opts.cpu) requests.cpu = opts.cpu;
  if (opts.memory) requests.memory = opts.memory;
  return {
    metadata: { name, namespace: 'default', ...(opts.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: opts.owner, controller: true }] } : {}) },
    spec: {
      containers: [{ name: 'c', image: 'x', resources: { requests }, ...(opts.hostPort ? { ports: [{ containerPort: 80, hostPort: opts.hostPort }] } : {}) }],
      ...opts.spec,
    },
  };
}

const rand = (): (() => number) => seededRandom(7);
const place = (p: KubeObject, nodes: NodeInfo[]): string => {
  const d = scheduleOne(p, nodes, { random: rand() });
  if (!('node' in d)) throw new Error(d.unschedulable);
  return d.node;
};

describe('scheduleOne', () => {
  it('puts a 3 GB pod on the node with 6 GB free, not 2 or 4 (least allocated)', () => {
    const nodes = [newNodeInfo(node('two', { memory: '2Gi' })), newNodeInfo(node('four', { memory: '4Gi' })), newNodeInfo(node('six', { memory: '6Gi' }))];
    expect(place(pod('big', { memory: '3Gi' }), nodes)).toBe('six');
  });

  it('explains an unschedulable pod with reasons counted across nodes', () => {
    const nodes = [
      newNodeInfo(node('a', { memory: '1Gi' })),
      newNodeInfo(node('b', { memory: '1Gi' })),
      newNodeInfo(node('c', { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] })),
    ];
    const d = scheduleOne(pod('p', { memory: '2Gi' }), nodes, { random: rand() });
    // The wording and order of the issue's own example (reasons sorted by their text).
    expect(d).toMatchObject({ unschedulable: '0/3 nodes are available: 2 Insufficient memory, 1 node(s) had untolerated taint {dedicated: db}.' });
  });

  it('spreads a burst of one owner\'s pods once each is assumed on its node', () => {
    const nodes = ['a', 'b', 'c'].map((n) => newNodeInfo(node(n)));
    const placed: string[] = [];
    for (let i = 0; i < 6; i++) {
      const p = pod(`web-${i}`, { cpu: '100m', memory: '128Mi', owner: 'rs-1' });
      const where = place(p, nodes);
      addPod(nodes.find((n) => n.node.metadata.name === where)!, p); // what the scheduler's cache does before the bind is seen
      placed.push(where);
    }
    expect(placed.filter((n) => n === 'a')).toHaveLength(2);
    expect(placed.filter((n) => n === 'b')).toHaveLength(2);
    expect(placed.filter((n) => n === 'c')).toHaveLength(2);
  });

  it('breaks ties with the injected random source, so equal nodes share the load reproducibly', () => {
    const nodes = ['a', 'b', 'c', 'd'].map((n) => newNodeInfo(node(n)));
    const pick = (seed: number): string => {
      const d = scheduleOne(pod('p'), nodes, { random: seededRandom(seed) });
      return 'node' in d ? d.node : '';
    };
    expect(pick(1)).toBe(pick(1));
    expect(new Set(Array.from({ length: 40 }, (_, s) => pick(s))).size).toBeGreaterThan(1);
  });

  it('sums container requests, or the largest init container if bigger', () => {
    const p = pod('p', { cpu: '250m', memory: '64Mi' });
    (p.spec as { containers: unknown[] }).containers.push({ name: 'd', image: 'x', resources: { requests: { cpu: '250m', memory: '64Mi' } } });
    (p.spec as Record<string, unknown>).initContainers = [{ name: 'i', image: 'x', resources: { requests: { cpu: '1', memory: '16Mi' } } }];
    expect(podRequests(p)).toEqual({ milliCPU: 1000, memory: 128 * 1024 * 1024, pods: 1 });
  });
});

describe('filters', () => {
  const fits = (plugin: { filter?: (p: KubeObject, n: NodeInfo) => string | undefined }, p: KubeObject, n: KubeObject, placed: KubeObject[] = []): string | undefined => plugin.filter?.(p, newNodeInfo(n, placed));

  it('NodeResourcesFit counts what is already placed, and pod slots', () => {
    expect(fits(nodeResourcesFit, pod('p', { cpu: '2' }), node('n', { cpu: '4' }), [pod('q', { cpu: '2' })])).toBeUndefined();
    expect(fits(nodeResourcesFit, pod('p', { cpu: '2' }), node('n', { cpu: '4' }), [pod('q', { cpu: '3' })])).toBe('Insufficient cpu');
    expect(fits(nodeResourcesFit, pod('p', { memory: '5Gi' }), node('n', { memory: '4Gi' }))).toBe('Insufficient memory');
    expect(fits(nodeResourcesFit, pod('p'), node('n', { pods: '1' }), [pod('q')])).toBe('Too many pods');
  });

  it('NodeReady and NodeUnschedulable keep pods off nodes that cannot take them', () => {
    expect(fits(nodeReady, pod('p'), node('n', { ready: false }))).toBe('node(s) were not ready');
    expect(fits(nodeUnschedulable, pod('p'), node('n', { unschedulable: true }))).toBe('node(s) were unschedulable');
    expect(fits(nodeUnschedulable, pod('p', { spec: { tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists' }] } }), node('n', { unschedulable: true }))).toBeUndefined();
  });

  it('NodeAffinity honours nodeSelector and required terms (In, NotIn, Exists, Gt)', () => {
    const ssd = node('n', { labels: { disk: 'ssd', zone: 'z1', cores: '16' } });
    expect(fits(nodeAffinity, pod('p', { spec: { nodeSelector: { disk: 'ssd' } } }), ssd)).toBeUndefined();
    expect(fits(nodeAffinity, pod('p', { spec: { nodeSelector: { disk: 'hdd' } } }), ssd)).toBe("node(s) didn't match Pod's node affinity/selector");
    const required = (exprs: unknown[]): KubeObject => pod('p', { spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: exprs }] } } } } });
    expect(fits(nodeAffinity, required([{ key: 'zone', operator: 'In', values: ['z1', 'z2'] }, { key: 'cores', operator: 'Gt', values: ['8'] }]), ssd)).toBeUndefined();
    expect(fits(nodeAffinity, required([{ key: 'zone', operator: 'NotIn', values: ['z1'] }]), ssd)).toBeDefined();
    expect(fits(nodeAffinity, required([{ key: 'gpu', operator: 'Exists' }]), ssd)).toBeDefined();
  });

  it('TaintToleration lets a pod through only the taints it tolerates', () => {
    const tainted = node('n', { taints: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }] });
    expect(fits(taintToleration, pod('p'), tainted)).toBe('node(s) had untolerated taint {dedicated: db}');
    expect(fits(taintToleration, pod('p', { spec: { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }] } }), tainted)).toBeUndefined();
    expect(fits(taintToleration, pod('p', { spec: { tolerations: [{ operator: 'Exists' }] } }), tainted)).toBeUndefined();
    expect(fits(taintToleration, pod('p', { spec: { tolerations: [{ key: 'dedicated', value: 'web', effect: 'NoSchedule' }] } }), tainted)).toBeDefined();
  });

  it('NodePorts refuses a host port already taken on the node', () => {
    expect(fits(nodePorts, pod('p', { hostPort: 8080 }), node('n'), [pod('q', { hostPort: 8080 })])).toBe("node(s) didn't have free ports for the requested pod ports");
    expect(fits(nodePorts, pod('p', { hostPort: 8080 }), node('n'), [pod('q', { hostPort: 9090 })])).toBeUndefined();
  });
});

describe('scores', () => {
  it('LeastAllocated prefers free capacity; BalancedAllocation prefers even use of CPU and memory', () => {
    const empty = newNodeInfo(node('empty', { cpu: '4', memory: '4Gi' }));
    const busy = newNodeInfo(node('busy', { cpu: '4', memory: '4Gi' }), [pod('q', { cpu: '2', memory: '2Gi' })]);
    const p = pod('p', { cpu: '1', memory: `${GI}` });
    expect(leastAllocated.score!(p, empty, [empty, busy])).toBeGreaterThan(leastAllocated.score!(p, busy, [empty, busy]));
    const lopsided = newNodeInfo(node('lop', { cpu: '4', memory: '4Gi' }), [pod('q', { cpu: '3' })]);
    expect(balancedAllocation.score!(p, empty, [empty, lopsided])).toBeGreaterThan(balancedAllocation.score!(p, lopsided, [empty, lopsided]));
  });

  it('NodeAffinity scores the share of preferred weight a node meets', () => {
    const p = pod('p', { spec: { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [
      { weight: 3, preference: { matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] } },
      { weight: 1, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['z9'] }] } },
    ] } } } });
    expect(nodeAffinity.score!(p, newNodeInfo(node('n', { labels: { disk: 'ssd' } })), [])).toBe(75);
    expect(nodeAffinity.score!(p, newNodeInfo(node('m')), [])).toBe(0);
  });

  it('SelectorSpread scores lower where the same owner already has pods', () => {
    const a = newNodeInfo(node('a'), [pod('x', { owner: 'o' }), pod('y', { owner: 'o' })]);
    const b = newNodeInfo(node('b'), [pod('z', { owner: 'other' })]);
    const p = pod('p', { owner: 'o' });
    expect(selectorSpread.score!(p, a, [a, b])).toBe(0);
    expect(selectorSpread.score!(p, b, [a, b])).toBe(100);
    expect(selectorSpread.score!(pod('lonely'), a, [a, b])).toBe(0);
  });
});
