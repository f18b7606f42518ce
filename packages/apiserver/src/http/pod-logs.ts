/**
 * `GET …/pods/NAME/log`: the API server checks the request (the pod, its container, the
 * PodLogOptions) and then streams the log from the kubelet of the pod's node, as kube-apiserver
 * does. It reaches the kubelet at the node's InternalIP and the port the node reports
 * (status.daemonEndpoints.kubeletEndpoint), presenting its kubelet-client certificate; it checks
 * the kubelet's serving certificate against a CA only when given one (kube-apiserver's
 * --kubelet-certificate-authority), since kubelets commonly sign their own.
 */
import type { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { ApiError, badRequest, isObject, logContainerOf, parsePodLogOptions, podLogQuery, unavailable, type KubeObject } from '@flotilla/api';

export interface KubeletClientTLS {
  certPem: string;
  keyPem: string;
  /** Verify kubelets' serving certificates against this CA; without it they are not verified. */
  caPem?: string;
}

const DEFAULT_KUBELET_PORT = 10250;

/** Where the node's kubelet listens: InternalIP (else any address) and the port it reported. */
export function kubeletAddress(node: KubeObject): { host: string; port: number } | undefined {
  const status = isObject(node.status) ? node.status : {};
  const addrs = Array.isArray(status.addresses) ? status.addresses.filter(isObject) : [];
  const addr = (addrs.find((a) => a.type === 'InternalIP') ?? addrs.find((a) => a.type === 'ExternalIP') ?? addrs[0])?.address;
  if (typeof addr !== 'string') return undefined;
  const ep = isObject(status.daemonEndpoints) && isObject(status.daemonEndpoints.kubeletEndpoint) ? status.daemonEndpoints.kubeletEndpoint.Port : undefined;
  return { host: addr.includes(':') ? `[${addr}]` : addr, port: typeof ep === 'number' && ep > 0 ? ep : DEFAULT_KUBELET_PORT };
}

export class PodLogProxy {
  private readonly dispatcher: Agent | undefined;

  constructor(tls: KubeletClientTLS | undefined) {
    this.dispatcher = tls
      ? new Agent({ connect: { cert: tls.certPem, key: tls.keyPem, ...(tls.caPem ? { ca: tls.caPem } : { rejectUnauthorized: false }) } })
      : undefined;
  }

  /**
   * The log stream of `pod`'s container; `node` is the pod's node, looked up by the caller.
   * Errors the kubelet gives (a Status) come back as the same ApiError.
   */
  async stream(pod: KubeObject, getNode: (name: string) => Promise<KubeObject>, query: Record<string, string | undefined>, signal: AbortSignal): Promise<Readable> {
    const name = pod.metadata.name ?? '';
    const opts = parsePodLogOptions(query, name);
    const container = logContainerOf(pod, opts.container);
    const nodeName = isObject(pod.spec) && typeof pod.spec.nodeName === 'string' ? pod.spec.nodeName : '';
    if (!nodeName) throw badRequest(`pod ${name} does not have a host assigned`);
    if (!this.dispatcher) throw unavailable('this API server has no kubelet client certificate (--kubelet-client-certificate), so it cannot reach kubelets for logs');
    const node = await getNode(nodeName);
    const at = kubeletAddress(node);
    if (!at) throw unavailable(`node ${nodeName} reports no address to reach its kubelet at`);
    const url = `https://${at.host}:${at.port}/containerLogs/${encodeURIComponent(pod.metadata.namespace ?? '')}/${encodeURIComponent(name)}/${encodeURIComponent(container)}${podLogQuery({ ...opts, container })}`;
    let res;
    try {
      res = await request(url, { dispatcher: this.dispatcher, signal, headersTimeout: 10_000, bodyTimeout: 0 });
    } catch (err) {
      throw unavailable(`reaching the kubelet of node ${nodeName} at ${at.host}:${at.port}: ${(err as Error).message}`);
    }
    if (res.statusCode === 200) return res.body;
    const text = await res.body.text();
    let status: unknown;
    try {
      status = JSON.parse(text);
    } catch {
      // not a Status: quoted below
    }
    if (isObject(status) && status.kind === 'Status' && typeof status.message === 'string') {
      throw new ApiError(res.statusCode, typeof status.reason === 'string' ? (status.reason as 'BadRequest') : undefined, status.message);
    }
    throw new ApiError(502, 'InternalError', `the kubelet of node ${nodeName} answered ${res.statusCode}: ${text.slice(0, 200)}`);
  }

  async close(): Promise<void> {
    await this.dispatcher?.close();
  }
}
