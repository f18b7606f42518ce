/**
 * The Kubernetes REST client every Flotilla component uses (as client-go is for Kubernetes):
 * typed-enough verbs over undici, https with the cluster CA, bearer-token or client-certificate
 * credentials, and errors as ApiError carrying the server's Status (match with isNotFound,
 * isConflict… from @flotilla/api).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Agent, request, type Dispatcher } from 'undici';
import YAML from 'yaml';
import { ApiError, isObject, type DeleteOptions, type KubeList, type KubeObject, type Status, type WatchEvent } from '@flotilla/api';

export interface ClientConfig {
  /** e.g. https://127.0.1.1:6443 */
  server: string;
  /** PEM of the CA that signed the server's certificate. */
  caPem?: string;
  token?: string;
  certPem?: string;
  keyPem?: string;
  /** Per request (not for watches), ms. Default 30000. */
  timeoutMs?: number;
  userAgent?: string;
}

/** What a resource is called on the wire. */
export interface ResourceRef {
  group: string;
  version: string;
  /** Plural: "pods". */
  resource: string;
  namespaced: boolean;
}

const core = (resource: string, namespaced = true): ResourceRef => ({ group: '', version: 'v1', resource, namespaced });
export const resources = {
  namespaces: core('namespaces', false),
  nodes: core('nodes', false),
  pods: core('pods'),
  services: core('services'),
  endpoints: core('endpoints'),
  configmaps: core('configmaps'),
  secrets: core('secrets'),
  events: core('events'),
  serviceaccounts: core('serviceaccounts'),
  deployments: { group: 'apps', version: 'v1', resource: 'deployments', namespaced: true },
  replicasets: { group: 'apps', version: 'v1', resource: 'replicasets', namespaced: true },
  leases: { group: 'coordination.k8s.io', version: 'v1', resource: 'leases', namespaced: true },
} satisfies Record<string, ResourceRef>;

export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';
const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
};

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  limit?: number;
  continue?: string;
}

export interface WatchOptions extends Omit<ListOptions, 'limit' | 'continue'> {
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
}

export interface WatchHandle {
  stop(): void;
  /** Settles when the stream ends: normally (server timeout, stop()), or with the error. */
  done: Promise<void>;
}

/** Reads a kubeconfig (YAML or JSON) the way kubectl does for the fields Flotilla uses. */
export function loadKubeconfig(file: string, context?: string): ClientConfig {
  const doc: unknown = YAML.parse(readFileSync(file, 'utf8'));
  if (!isObject(doc)) throw new Error(`${file}: not a kubeconfig`);
  const named = (list: unknown, name: unknown, what: string): Record<string, unknown> => {
    const found = (Array.isArray(list) ? list : []).find((x) => isObject(x) && x.name === name);
    if (!isObject(found)) throw new Error(`${file}: no ${what} named ${JSON.stringify(name)}`);
    const inner = found[what];
    return isObject(inner) ? inner : {};
  };
  const ctx = named(doc.contexts, context ?? doc['current-context'], 'context');
  const cluster = named(doc.clusters, ctx.cluster, 'cluster');
  const user = ctx.user === undefined ? {} : named(doc.users, ctx.user, 'user');
  const dir = path.dirname(file);
  const read = (data: unknown, fileField: unknown): string | undefined => {
    if (typeof data === 'string') return Buffer.from(data, 'base64').toString('utf8');
    if (typeof fileField === 'string') return readFileSync(path.resolve(dir, fileField), 'utf8');
    return undefined;
  };
  if (typeof cluster.server !== 'string') throw new Error(`${file}: the cluster has no server`);
  const cfg: ClientConfig = { server: cluster.server };
  const ca = read(cluster['certificate-authority-data'], cluster['certificate-authority']);
  if (ca) cfg.caPem = ca;
  if (typeof user.token === 'string') cfg.token = user.token;
  const cert = read(user['client-certificate-data'], user['client-certificate']);
  const key = read(user['client-key-data'], user['client-key']);
  if (cert && key) {
    cfg.certPem = cert;
    cfg.keyPem = key;
  }
  return cfg;
}

export function resourcePath(r: ResourceRef, namespace?: string, name?: string, subresource?: string): string {
  const base = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  let p = r.namespaced && namespace !== undefined ? `${base}/namespaces/${encodeURIComponent(namespace)}/${r.resource}` : `${base}/${r.resource}`;
  if (name !== undefined) p += `/${encodeURIComponent(name)}`;
  if (subresource !== undefined) p += `/${subresource}`;
  return p;
}

function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** The ApiError for a failed reply (a Status body, or whatever the server sent). */
export function errorFromReply(status: number, text: string): ApiError {
  try {
    const s = JSON.parse(text) as Partial<Status>;
    if (s.kind === 'Status') return new ApiError(s.code ?? status, s.reason, s.message ?? `HTTP ${status}`, s.details);
  } catch {
    // not JSON
  }
  return new ApiError(status, undefined, `HTTP ${status}: ${text.slice(0, 200)}`);
}

export class KubeClient {
  private readonly dispatcher: Dispatcher;
  private readonly headers: Record<string, string>;

  constructor(readonly config: ClientConfig) {
    this.dispatcher = new Agent({
      connect: { ca: config.caPem, cert: config.certPem, key: config.keyPem },
      keepAliveTimeout: 30_000,
    });
    this.headers = { accept: 'application/json', 'user-agent': config.userAgent ?? 'flotilla-client' };
    if (config.token) this.headers.authorization = `Bearer ${config.token}`;
  }

  /** One request; a non-2xx reply throws ApiError. Returns the parsed JSON body. */
  async request<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', urlPath: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const res = await request(`${this.config.server}${urlPath}`, {
      method,
      dispatcher: this.dispatcher,
      headers: body === undefined ? this.headers : { ...this.headers, 'content-type': contentType },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: this.config.timeoutMs ?? 30_000,
      bodyTimeout: this.config.timeoutMs ?? 30_000,
    });
    const text = await res.body.text();
    if (res.statusCode < 200 || res.statusCode >= 300) throw errorFromReply(res.statusCode, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  get<T extends KubeObject = KubeObject>(r: ResourceRef, name: string, namespace?: string): Promise<T> {
    return this.request('GET', resourcePath(r, namespace, name));
  }

  list<T extends KubeObject = KubeObject>(r: ResourceRef, opts: ListOptions = {}): Promise<KubeList<T>> {
    const { namespace, ...rest } = opts;
    return this.request('GET', resourcePath(r, namespace) + query({ ...rest }));
  }

  create<T extends KubeObject = KubeObject>(r: ResourceRef, obj: T, namespace = obj.metadata.namespace): Promise<T> {
    return this.request('POST', resourcePath(r, namespace), obj);
  }

  /** PUT; `subresource` "status" writes only the status. */
  update<T extends KubeObject = KubeObject>(r: ResourceRef, obj: T, opts: { subresource?: string } = {}): Promise<T> {
    return this.request('PUT', resourcePath(r, obj.metadata.namespace, obj.metadata.name, opts.subresource), obj);
  }

  patch<T extends KubeObject = KubeObject>(r: ResourceRef, name: string, patch: unknown, type: PatchType, opts: { namespace?: string; subresource?: string; fieldManager?: string } = {}): Promise<T> {
    return this.request('PATCH', resourcePath(r, opts.namespace, name, opts.subresource) + query({ fieldManager: opts.fieldManager }), patch, PATCH_CONTENT_TYPE[type]);
  }

  delete(r: ResourceRef, name: string, opts: Omit<DeleteOptions, 'dryRun'> & { namespace?: string } = {}): Promise<unknown> {
    const { namespace, ...options } = opts;
    return this.request('DELETE', resourcePath(r, namespace, name), { kind: 'DeleteOptions', apiVersion: 'v1', ...options });
  }

  /** POST pods/<name>/binding: what a scheduler does. 409 when the pod is bound already. */
  bind(namespace: string, pod: string, node: string): Promise<unknown> {
    return this.request('POST', resourcePath(resources.pods, namespace, pod, 'binding'), {
      apiVersion: 'v1', kind: 'Binding', metadata: { name: pod, namespace }, target: { apiVersion: 'v1', kind: 'Node', name: node },
    });
  }

  /**
   * A watch stream: `onEvent` gets each event in order (ERROR events included: a 410 there
   * means "list again"). The stream ends when the server closes it (timeoutSeconds), on stop(),
   * or on a connection failure (done rejects).
   */
  watch<T extends KubeObject = KubeObject>(r: ResourceRef, opts: WatchOptions, onEvent: (ev: WatchEvent<T | Status>) => void): WatchHandle {
    const ac = new AbortController();
    const { namespace, ...rest } = opts;
    const url = `${this.config.server}${resourcePath(r, namespace)}${query({ ...rest, watch: true })}`;
    const done = (async () => {
      try {
        const res = await request(url, { dispatcher: this.dispatcher, headers: this.headers, signal: ac.signal, bodyTimeout: 0 });
        if (res.statusCode !== 200) throw errorFromReply(res.statusCode, await res.body.text());
        let buf = '';
        for await (const chunk of res.body) {
          buf += (chunk as Buffer).toString('utf8');
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line.trim()) onEvent(JSON.parse(line) as WatchEvent<T | Status>);
          }
        }
      } catch (err) {
        if (!ac.signal.aborted) throw err;
      }
    })();
    done.catch(() => undefined); // the caller may only care about stop()
    return { stop: () => ac.abort(), done };
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
