/**
 * The kubelet's node: registration (the Node object with its labels, taints, capacity and
 * addresses) and the two heartbeats Kubernetes uses — the node Lease in kube-node-lease, renewed
 * often and cheaply, and the NodeStatus conditions, refreshed less often. Capacity is detected
 * from the machine unless given, so that one machine can host nodes of different sizes.
 */
import { cpus, totalmem, hostname, release, type } from 'node:os';
import { isAlreadyExists, isConflict, isNotFound, type KubeObject } from '@flotilla/api';
import { resources, type KubeClient } from '@flotilla/client';

export interface NodeConfig {
  name: string;
  labels?: Record<string, string>;
  taints?: { key: string; value?: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' }[];
  /** Kubernetes quantities; detected from the machine when absent. */
  cpu?: string;
  memory?: string;
  pods?: number;
  /** The node's IP (pods on it bind addresses of its block). */
  internalIP: string;
  runtime: string;
  /** The node's block of pod IPs (spec.podCIDR), if pods get their own. */
  podCIDR?: string;
  /** The port of the kubelet's own server (logs), reported as status.daemonEndpoints. */
  kubeletPort?: number;
  /** Whether the runtime enforces memory and CPU limits; reported as the LimitsEnforced condition. */
  limitsEnforced?: boolean;
  /** Lease renewal period, ms. Default 1000 (a node is declared lost after a few missed ones). */
  leasePeriodMs?: number;
  /** NodeStatus refresh period, ms. Default 10000. */
  statusPeriodMs?: number;
  now?: () => number;
}

export const KUBELET_VERSION = 'v1.32.0-flotilla';

const microTime = (ms: number): string => new Date(ms).toISOString().replace('Z', '000Z');
const seconds = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

export function nodeCapacity(cfg: Pick<NodeConfig, 'cpu' | 'memory' | 'pods'>): Record<string, string> {
  return {
    cpu: cfg.cpu ?? String(cpus().length),
    memory: cfg.memory ?? `${Math.floor(totalmem() / 1024)}Ki`,
    pods: String(cfg.pods ?? 110),
  };
}

/** The Node's status as this kubelet reports it (pure, given the time). */
export function nodeStatus(cfg: NodeConfig, now: number, ready: { ok: boolean; message: string }): Record<string, unknown> {
  const cap = nodeCapacity(cfg);
  const t = seconds(now);
  const condition = (type: string, status: 'True' | 'False', reason: string, message: string): Record<string, unknown> => ({
    type, status, reason, message, lastHeartbeatTime: t, lastTransitionTime: t,
  });
  return {
    capacity: cap,
    allocatable: cap,
    addresses: [{ type: 'InternalIP', address: cfg.internalIP }, { type: 'Hostname', address: cfg.name }],
    nodeInfo: {
      kubeletVersion: KUBELET_VERSION,
      kubeProxyVersion: KUBELET_VERSION,
      operatingSystem: 'linux',
      architecture: process.arch === 'x64' ? 'amd64' : process.arch,
      osImage: `${type()} (${hostname()})`,
      kernelVersion: release(),
      containerRuntimeVersion: `${cfg.runtime}://flotilla`,
      machineID: '', systemUUID: '', bootID: '',
    },
    conditions: [
      condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
      condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
      condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
      condition('Ready', ready.ok ? 'True' : 'False', ready.ok ? 'KubeletReady' : 'KubeletNotReady', ready.message),
      // Not a Kubernetes condition: the process runtime cannot always enforce limits, and a user
      // should see that on the node rather than find it out from a runaway container.
      cfg.limitsEnforced === false
        ? condition('LimitsEnforced', 'False', 'CgroupsUnavailable', `the ${cfg.runtime} runtime cannot write cgroups here: memory and CPU limits are recorded, not enforced`)
        : condition('LimitsEnforced', 'True', 'CgroupsAvailable', `the ${cfg.runtime} runtime enforces memory and CPU limits through cgroups`),
    ],
    ...(cfg.kubeletPort ? { daemonEndpoints: { kubeletEndpoint: { Port: cfg.kubeletPort } } } : {}),
  };
}

export class NodeAgent {
  private timers: NodeJS.Timeout[] = [];
  private readonly now: () => number;

  constructor(
    private readonly client: KubeClient,
    private readonly cfg: NodeConfig,
    private readonly log: (msg: string, fields?: Record<string, unknown>) => void = () => undefined,
  ) {
    this.now = cfg.now ?? Date.now;
  }

  /** Creates (or takes over) the Node, reports its status, takes its Lease, then keeps both fresh. */
  async start(): Promise<void> {
    await this.register();
    await this.renewLease();
    await this.updateStatus();
    this.timers.push(setInterval(() => void this.renewLease().catch((err: Error) => this.log('lease renewal failed', { err: err.message })), this.cfg.leasePeriodMs ?? 1_000));
    this.timers.push(setInterval(() => void this.updateStatus().catch((err: Error) => this.log('status update failed', { err: err.message })), this.cfg.statusPeriodMs ?? 10_000));
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  private async register(): Promise<void> {
    const labels = {
      'kubernetes.io/hostname': this.cfg.name,
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': process.arch === 'x64' ? 'amd64' : process.arch,
      ...this.cfg.labels,
    };
    const spec = { taints: this.cfg.taints ?? [], ...(this.cfg.podCIDR ? { podCIDR: this.cfg.podCIDR, podCIDRs: [this.cfg.podCIDR] } : {}) };
    const node: KubeObject = { apiVersion: 'v1', kind: 'Node', metadata: { name: this.cfg.name, labels }, spec };
    try {
      await this.client.create(resources.nodes, node);
      this.log('registered the node', { node: this.cfg.name });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      // Re-registration after a restart: labels and taints are what this kubelet says now.
      await this.client.patch(resources.nodes, this.cfg.name, { metadata: { labels }, spec }, 'merge');
    }
  }

  async updateStatus(): Promise<void> {
    const status = nodeStatus(this.cfg, this.now(), { ok: true, message: 'kubelet is posting ready status' });
    await this.client.patch(resources.nodes, this.cfg.name, { status }, 'merge', { subresource: 'status' });
  }

  async renewLease(): Promise<void> {
    const now = this.now();
    const spec = { holderIdentity: this.cfg.name, leaseDurationSeconds: 40, renewTime: microTime(now) };
    try {
      const lease = await this.client.get(resources.leases, this.cfg.name, 'kube-node-lease');
      await this.client.update(resources.leases, { ...lease, spec: { ...(lease.spec as object), ...spec } });
    } catch (err) {
      if (isNotFound(err)) {
        await this.client.create(resources.leases, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.cfg.name, namespace: 'kube-node-lease' }, spec }, 'kube-node-lease')
          .catch((e: unknown) => {
            if (!isAlreadyExists(e)) throw e;
          });
      } else if (!isConflict(err)) {
        throw err; // a conflict means another renewal raced this one: the next period retries
      }
    }
  }
}
