import { describe, expect, it } from 'vitest';
import type { KubeObject } from '@flotilla/api';
import { seededRandom } from '@flotilla/raftkv';
import { addPod, newNodeInfo, podRequests, removePod, type NodeInfo } from './node-info.js';
import { nodeAffinity, nodePorts, nodeReady, nodeResourcesFit, nodeUnschedulable, taintToleration } from './plugins/filters.js';
import { balancedAllocation, leastAllocated, selectorSpread } from './plugins/scores.js';
import { DEFAULT_PLUGINS, feasibleNodesToFind, scheduleOne } from './schedule-one.js';

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

describe('sampling: percentageOfNodesToScore', () => {
  it('finds as many feasible nodes as Kubernetes does: all under 100 nodes, then 50 % − 1 % per 125 nodes, at least 5 % and 100', () => {
    expect(feasibleNodesToFind(50)).toBe(50);
    expect(feasibleNodesToFind(100)).toBe(100);
    expect(feasibleNodesToFind(200)).toBe(100);
    expect(feasibleNodesToFind(1_000)).toBe(420);
    expect(feasibleNodesToFind(5_000)).toBe(500);
    expect(feasibleNodesToFind(6_000)).toBe(300);
    expect(feasibleNodesToFind(20_000)).toBe(1_000);
    expect(feasibleNodesToFind(1_000, 10)).toBe(100);
    expect(feasibleNodesToFind(2_000, 10)).toBe(200);
    expect(feasibleNodesToFind(1_000, 100)).toBe(1_000);
  });

  it('stops filtering once enough nodes fit, starting where the host says, and says how far it got', () => {
    const nodes = Array.from({ length: 1_000 }, (_, i) => newNodeInfo(node(`n${String(i).padStart(4, '0')}`, { ready: i % 2 === 0 })));
    const d = scheduleOne(pod('p'), nodes, { random: rand(), startIndex: 10 });
    if (!('node' in d)) throw new Error(d.unschedulable);
    expect(d.feasible).toBe(420);
    expect(d.processed).toBe(839); // every other node is not ready: 420 ready ones among the first 839 from node 10
    const index = nodes.findIndex((n) => n.node.metadata.name === d.node);
    expect(index).toBeGreaterThanOrEqual(10);
    expect(index).toBeLessThan(10 + 839);
  });

  it('wraps around the node list, so a rotating start gives every node its turn', () => {
    const nodes = Array.from({ length: 300 }, (_, i) => newNodeInfo(node(`n${i}`)));
    const seen = new Set<string>();
    let start = 0;
    for (let i = 0; i < 6; i++) {
      const d = scheduleOne(pod(`p${i}`), nodes, { random: rand(), startIndex: start, percentageOfNodesToScore: 10 });
      if (!('node' in d)) throw new Error(d.unschedulable);
      expect(d.processed).toBe(100);
      start = (start + d.processed) % nodes.length;
      seen.add(d.node);
    }
    expect(start).toBe(0);
    expect(seen.size).toBeGreaterThan(1);
  });

  it('still looks at every node, and counts every reason, before calling a pod unschedulable', () => {
    const nodes = Array.from({ length: 500 }, (_, i) => newNodeInfo(node(`n${i}`, { memory: i < 499 ? '1Gi' : '2Gi' })));
    const d = scheduleOne(pod('big', { memory: '3Gi' }), nodes, { random: rand(), startIndex: 123 });
    expect(d).toMatchObject({ unschedulable: '0/500 nodes are available: 500 Insufficient memory.', processed: 500 });
    const fits = scheduleOne(pod('medium', { memory: '1536Mi' }), nodes, { random: rand(), startIndex: 123 });
    expect(fits).toMatchObject({ node: 'n499', feasible: 1, processed: 500 });
  });
});

describe('plugins: the batch and skip paths agree with the one-node-at-a-time definitions', () => {
  const random = seededRandom(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const cluster = (): NodeInfo[] => Array.from({ length: 30 }, (_, i) => {
    const taints = pick([[], [], [{ key: 'maint', value: 'x', effect: 'PreferNoSchedule' }], [{ key: 'maint', value: 'x', effect: 'PreferNoSchedule' }, { key: 'old', effect: 'PreferNoSchedule' }], [{ key: 'dedicated', value: 'db', effect: 'NoSchedule' }]]);
    const n = newNodeInfo(node(`n${i}`, { cpu: pick(['2', '4', '8']), memory: pick(['4Gi', '8Gi']), labels: { zone: pick(['z1', 'z2']), disk: pick(['ssd', 'hdd']) }, taints }));
    const placed = Math.floor(random() * 4);
    for (let k = 0; k < placed; k++) addPod(n, pod(`x${i}-${k}`, { cpu: pick(['100m', '500m']), memory: pick(['128Mi', '1Gi']), owner: pick(['rs-1', 'rs-2', undefined]) }));
    return n;
  });
  const pods = (): KubeObject[] => [
    pod('plain'),
    pod('sized', { cpu: '250m', memory: '512Mi', owner: 'rs-1' }),
    pod('picky', { spec: { nodeSelector: { zone: 'z1' }, tolerations: [{ key: 'maint', operator: 'Exists' }] } }),
    pod('prefers', { owner: 'rs-2', spec: { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 2, preference: { matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] } }] } } } }),
    pod('ported', { hostPort: 80 }),
  ];

  it('scoreAll gives what score gives node by node', () => {
    for (let round = 0; round < 20; round++) {
      const nodes = cluster();
      for (const p of pods()) {
        for (const plugin of DEFAULT_PLUGINS) {
          if (!plugin.scoreAll) continue;
          expect(plugin.scoreAll(p, nodes), `${plugin.name} for ${p.metadata.name}`).toEqual(nodes.map((n) => plugin.score!(p, n, nodes)));
        }
      }
    }
  });

  it('a filter that skips a pod passes it on every node; a score that skips it is the same on every node', () => {
    for (let round = 0; round < 20; round++) {
      const nodes = cluster();
      for (const p of pods()) {
        for (const plugin of DEFAULT_PLUGINS) {
          if (plugin.filterSkips?.(p)) for (const n of nodes) expect(plugin.filter!(p, n), `${plugin.name} for ${p.metadata.name}`).toBeUndefined();
          if (plugin.scoreSkips?.(p)) expect(new Set(nodes.map((n) => plugin.score!(p, n, nodes))).size, `${plugin.name} for ${p.metadata.name}`).toBe(1);
        }
      }
    }
  });

  it('removePod undoes addPod: requests, host ports and owner counts', () => {
    const n = newNodeInfo(node('n'), [pod('a', { cpu: '1', memory: '1Gi', owner: 'rs-1', hostPort: 80 })]);
    const before = structuredClone({ requested: n.requested, hostPorts: [...n.hostPorts], owners: [...n.owners] });
    addPod(n, pod('b', { cpu: '250m', memory: '256Mi', owner: 'rs-1', hostPort: 81 }));
    expect(removePod(n, pod('b'))).toBe(true);
    expect({ requested: n.requested, hostPorts: [...n.hostPorts], owners: [...n.owners] }).toEqual(before);
    expect(removePod(n, pod('b'))).toBe(false);
  });

  it('remembers what a pod requests, per pod object', () => {
    const p = pod('p', { cpu: '250m', memory: '64Mi' });
    expect(podRequests(p)).toBe(podRequests(p));
    expect(podRequests(structuredClone(p))).toEqual(podRequests(p));
  });
});
