/**
 * What a container of a pod is started with, as Kubernetes resolves it from the pod spec:
 * command and args, the environment (values, ConfigMap and Secret keys, envFrom, and the
 * downward API: POD_NAME, POD_NAMESPACE, POD_IP, NODE_NAME…), the working directory, the
 * resource limits and the image pull policy; and the pod's QoS class.
 */
import { isNotFound, isObject, parseQuantity, type KubeObject } from '@flotilla/api';
import { resources, type KubeClient } from '@flotilla/client';
import { RuntimeError, type ContainerSpec, type ResourceLimits } from './runtime/runtime.js';

type Json = Record<string, unknown>;

export class ContainerConfig {
  constructor(
    private readonly client: KubeClient,
    private readonly nodeName: string,
    private readonly nodeIP: string,
  ) {}

  /**
   * A container's command, args, environment and limits, as Kubernetes resolves them. The pod's
   * IP is also in the environment as POD_IP unless the spec sets it (DESIGN.md: pods share the
   * host network and bind their own address).
   */
  async containerSpec(pod: KubeObject, name: string, init: boolean, attempt: number, podIP: string): Promise<ContainerSpec> {
    const spec = isObject(pod.spec) ? pod.spec : {};
    const list = Array.isArray(init ? spec.initContainers : spec.containers) ? ((init ? spec.initContainers : spec.containers) as unknown[]).filter(isObject) : [];
    const c = list.find((x) => x.name === name) ?? {};
    const ns = pod.metadata.namespace ?? 'default';
    const env: Record<string, string> = {};
    for (const from of Array.isArray(c.envFrom) ? c.envFrom.filter(isObject) : []) {
      const prefix = typeof from.prefix === 'string' ? from.prefix : '';
      if (isObject(from.configMapRef)) Object.assign(env, prefixed(prefix, await this.data('configmaps', ns, String(from.configMapRef.name))));
      if (isObject(from.secretRef)) Object.assign(env, prefixed(prefix, await this.data('secrets', ns, String(from.secretRef.name))));
    }
    for (const e of Array.isArray(c.env) ? c.env.filter(isObject) : []) {
      const key = String(e.name);
      if (typeof e.value === 'string') env[key] = e.value;
      else if (isObject(e.valueFrom)) {
        const vf = e.valueFrom;
        if (isObject(vf.fieldRef)) env[key] = this.downward(pod, String(vf.fieldRef.fieldPath), podIP);
        else if (isObject(vf.configMapKeyRef)) env[key] = (await this.data('configmaps', ns, String(vf.configMapKeyRef.name)))[String(vf.configMapKeyRef.key)] ?? '';
        else if (isObject(vf.secretKeyRef)) env[key] = (await this.data('secrets', ns, String(vf.secretKeyRef.name)))[String(vf.secretKeyRef.key)] ?? '';
      }
    }
    env.POD_IP ??= podIP;
    const strings = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.map(String) : undefined);
    const out: ContainerSpec = {
      podUid: pod.metadata.uid ?? '', podNamespace: ns, podName: pod.metadata.name ?? '',
      name, image: String(c.image ?? ''), attempt, init, env,
    };
    const command = strings(c.command);
    const args = strings(c.args);
    if (command) out.command = command;
    if (args) out.args = args;
    if (typeof c.workingDir === 'string') out.workingDir = c.workingDir;
    const limits = limitsOf(c);
    if (limits) out.limits = limits;
    if (c.imagePullPolicy === 'Always' || c.imagePullPolicy === 'IfNotPresent' || c.imagePullPolicy === 'Never') out.imagePullPolicy = c.imagePullPolicy;
    return out;
  }

  private downward(pod: KubeObject, path: string, podIP: string): string {
    switch (path) {
      case 'metadata.name': return pod.metadata.name ?? '';
      case 'metadata.namespace': return pod.metadata.namespace ?? '';
      case 'metadata.uid': return pod.metadata.uid ?? '';
      case 'spec.nodeName': return this.nodeName;
      case 'status.podIP': return podIP;
      case 'status.hostIP': return this.nodeIP;
      default: return '';
    }
  }

  /** A ConfigMap's data, or a Secret's decoded; a missing one fails the start (CreateContainerConfigError). */
  private async data(kind: 'configmaps' | 'secrets', namespace: string, name: string): Promise<Record<string, string>> {
    let obj: KubeObject;
    try {
      obj = await this.client.get(kind === 'secrets' ? resources.secrets : resources.configmaps, name, namespace);
    } catch (err) {
      if (isNotFound(err)) throw new RuntimeError('CreateContainerError', `${kind === 'secrets' ? 'secret' : 'configmap'} "${name}" not found`);
      throw err;
    }
    const data = isObject(obj.data) ? obj.data : {};
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(data)) if (typeof v === 'string') out[k] = kind === 'secrets' ? Buffer.from(v, 'base64').toString('utf8') : v;
    return out;
  }
}

/** resources.limits as the runtime takes them (the API server has validated the quantities). */
function limitsOf(c: Json): ResourceLimits | undefined {
  const l = isObject(c.resources) && isObject(c.resources.limits) ? c.resources.limits : {};
  const out: ResourceLimits = {};
  if (typeof l.memory === 'string' || typeof l.memory === 'number') out.memoryBytes = parseQuantity(l.memory).value;
  if (typeof l.cpu === 'string' || typeof l.cpu === 'number') out.cpuMillis = parseQuantity(l.cpu).milli;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Kubernetes' QoS class: Guaranteed when every container's requests equal its limits for CPU and memory. */
export function qosClassOf(pod: KubeObject): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const spec = isObject(pod.spec) ? pod.spec : {};
  const cs = [spec.initContainers, spec.containers].flatMap((l) => (Array.isArray(l) ? l.filter(isObject) : []));
  const res = cs.map((c) => (isObject(c.resources) ? c.resources : {}));
  const get = (r: Json, kind: 'requests' | 'limits', name: string): string | undefined => {
    const m = isObject(r[kind]) ? r[kind] : {};
    return typeof m[name] === 'string' || typeof m[name] === 'number' ? String(m[name]) : undefined;
  };
  const any = res.some((r) => ['cpu', 'memory'].some((n) => get(r, 'requests', n) !== undefined || get(r, 'limits', n) !== undefined));
  if (!any) return 'BestEffort';
  const guaranteed = res.every((r) => ['cpu', 'memory'].every((n) => {
    const lim = get(r, 'limits', n);
    const req = get(r, 'requests', n) ?? lim; // requests default to limits
    return lim !== undefined && parseQuantity(lim).milli === parseQuantity(req as string).milli;
  }));
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

function prefixed(prefix: string, data: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [`${prefix}${k}`, v]));
}
