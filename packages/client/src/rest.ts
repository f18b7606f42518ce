/**
 * The Kubernetes REST client every Flotilla component uses (as client-go is for Kubernetes):
 * typed-enough verbs over undici, https with the cluster CA, bearer-token or client-certificate
 * credentials, and errors as ApiError carrying the server's Status (match with isNotFound,
 * isConflict… from @flotilla/api). Given several replicas of the API, it moves to the next when
 * the one it uses cannot be reached, so a component outlives the loss of its API server (k3s's
 * agents do the same with a client-side load balancer).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Agent, request, type Dispatcher } from 'undici';
import YAML from 'yaml';
import { ApiError, isObject, type DeleteOptions, type KubeList, type KubeObject, type Status, type WatchEvent } from '@flotilla/api';

export interface ClientConfig {
  /** e.g. https://127.0.1.1:6443 */
  server: string;
  /**
   * Every replica of the same API (server among them), tried in turn when the current one cannot
   * be reached. From a kubeconfig cluster's `flotilla.dev/servers` extension.
   */
  servers?: string[];
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
  const servers = replicasOf(cluster);
  if (servers.length > 1) cfg.servers = servers;
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

/** The kubeconfig extension naming every replica of a cluster's API (kubectl ignores it). */
export const SERVERS_EXTENSION = 'flotilla.dev/servers';

/** A kubeconfig cluster's extension listing the API's replicas, for `cluster.extensions`. */
export function serversExtension(servers: string[]): { name: string; extension: Record<string, unknown> } {
  return { name: SERVERS_EXTENSION, extension: { apiVersion: 'flotilla.dev/v1', kind: 'APIServers', servers } };
}

function replicasOf(cluster: Record<string, unknown>): string[] {
  const ext = (Array.isArray(cluster.extensions) ? cluster.extensions : []).find((e) => isObject(e) && e.name === SERVERS_EXTENSION);
  const list = isObject(ext) && isObject(ext.extension) && Array.isArray(ext.extension.servers) ? ext.extension.servers.filter((x): x is string => typeof x === 'string') : [];
  return [...new Set([cluster.server as string, ...list])];
}

/**
 * Failures that say the server was not reached at all, so no request was sent: safe to send
 * anything again to another replica.
 */
const NOT_SENT = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'EADDRNOTAVAIL']);
/** Failures after which the request may or may not have been applied: only reads are retried. */
const MAYBE_SENT = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CLOSED']);

function errorCode(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  return String(e?.code ?? e?.cause?.code ?? '');
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
  private readonly servers: string[];
  private current = 0;

  constructor(readonly config: ClientConfig) {
    this.dispatcher = new Agent({
      connect: { ca: config.caPem, cert: config.certPem, key: config.keyPem },
      keepAliveTimeout: 30_000,
    });
    this.headers = { accept: 'application/json', 'user-agent': config.userAgent ?? 'flotilla-client' };
    if (config.token) this.headers.authorization = `Bearer ${config.token}`;
    this.servers = [...new Set([config.server, ...(config.servers ?? [])])];
  }

  /** The API server requests go to now. */
  get server(): string {
    return this.servers[this.current];
  }

  /** After a failure on `server`: move on to the next replica (unless another call already did). */
  private failedOver(server: string): boolean {
    if (this.servers.length < 2) return false;
    if (this.servers[this.current] === server) this.current = (this.current + 1) % this.servers.length;
    return true;
  }

  /** One request; a non-2xx reply throws ApiError. Returns the parsed JSON body. */
  async request<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', urlPath: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    for (let tried = 1; ; tried++) {
      const server = this.server;
      let res: Dispatcher.ResponseData;
      try {
        res = await request(`${server}${urlPath}`, {
          method,
          dispatcher: this.dispatcher,
          headers: body === undefined ? this.headers : { ...this.headers, 'content-type': contentType },
          body: body === undefined ? undefined : JSON.stringify(body),
          headersTimeout: this.config.timeoutMs ?? 30_000,
          bodyTimeout: this.config.timeoutMs ?? 30_000,
        });
      } catch (err) {
        const code = errorCode(err);
        const retriable = NOT_SENT.has(code) || (method === 'GET' && MAYBE_SENT.has(code));
        if (retriable && tried < this.servers.length && this.failedOver(server)) continue;
        if (NOT_SENT.has(code) || MAYBE_SENT.has(code)) this.failedOver(server); // the next call starts elsewhere
        throw err;
      }
      const text = await res.body.text();
      if (res.statusCode < 200 || res.statusCode >= 300) throw errorFromReply(res.statusCode, text);
      return (text ? JSON.parse(text) : undefined) as T;
    }
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
    const server = this.server;
    const url = `${server}${resourcePath(r, namespace)}${query({ ...rest, watch: true })}`;
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
        if (ac.signal.aborted) return;
        // The watcher (an informer) watches again; it should find a replica that answers.
        if (NOT_SENT.has(errorCode(err)) || MAYBE_SENT.has(errorCode(err))) this.failedOver(server);
        throw err;
      }
    })();
    done.catch(() => undefined); // the caller may only care about stop()
    return { stop: () => ac.abort(), done };
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
