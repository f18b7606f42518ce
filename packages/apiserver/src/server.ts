/**
 * One apiserver replica: a raftkv client, the REST app, and the bootstrap objects every cluster
 * has (the default namespaces). Replicas share nothing but raftkv, so any number may run.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { RaftKvClient } from '@flotilla/raftkv/client';
import { builtinRegistry, type Registry } from './registry/registry.js';
import type { ResourceDef } from './registry/types.js';
import { Store } from './storage/store.js';
import { ApiServerMetrics } from './metrics.js';
import { buildApp, resourceStores } from './http/app.js';
import { PodLogProxy } from './http/pod-logs.js';
import { ResourceStore } from './rest/resource-store.js';
import { ApiError, isObject } from '@flotilla/api';
import { readFileSync } from 'node:fs';
import { Authenticator } from './auth/authn.js';
import { TokenIssuer } from './auth/service-account-tokens.js';
import { authorize, type Attributes, type Decision } from './auth/rbac.js';
import { authorizeNode } from './auth/node-authorizer.js';
import type { UserInfo } from './auth/authn.js';
import { RbacCache } from './auth/rbac-cache.js';
import { bootstrapClusterRoleBindings, bootstrapClusterRoles } from './auth/bootstrap-policy.js';
import type { KubeObject } from '@flotilla/api';

export interface ApiServerOptions {
  /** raftkv client URLs (any members; the client finds the leader). */
  etcdServers: string[];
  host: string;
  /** 0 picks a free port (see `address` after start). */
  port: number;
  logger: Logger;
  /** Timeout of one raftkv call, ms. Default 5000. */
  storageTimeoutMs?: number;
  /** Serve https with this certificate and key (PEM files). Without, plain http. */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** Client certificates signed by this CA authenticate as CN (user) and O (groups). */
  clientCAFile?: string;
  /** kube-apiserver's static token file: token,user,uid,"group1,group2". */
  tokenAuthFile?: string;
  /** PEM public key to verify service-account tokens with. */
  serviceAccountKeyFile?: string;
  /** PEM private key to sign the tokens of TokenRequests with. */
  serviceAccountSigningKeyFile?: string;
  /** Client certificate and key (PEM files) this server presents to kubelets (pod logs). */
  kubeletClientCertFile?: string;
  kubeletClientKeyFile?: string;
  /** Verify kubelets' serving certificates against this CA (PEM file); unverified without. */
  kubeletCAFile?: string;
}

/** Namespaces every Kubernetes cluster has from the start. */
const BOOTSTRAP_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

export class ApiServer {
  readonly registry: Registry = builtinRegistry();
  readonly metrics = new ApiServerMetrics();
  private readonly kv: RaftKvClient;
  private readonly store: Store;
  private app: FastifyInstance | undefined;
  private rbac: RbacCache | undefined;
  private stores: Map<ResourceDef, ResourceStore> | undefined;
  private podLogs: PodLogProxy | undefined;
  address = '';

  constructor(private readonly opts: ApiServerOptions) {
    this.kv = new RaftKvClient({ endpoints: opts.etcdServers, timeoutMs: opts.storageTimeoutMs ?? 5_000 });
    this.store = new Store(this.kv, (operation, key, seconds) => {
      // "/registry/<resource>[.<group>]/…": the resource is the second segment.
      this.metrics.storageDuration.observe({ operation, resource: key.split('/')[2] ?? '' }, seconds);
    });
  }

  async start(): Promise<void> {
    const log = this.opts.logger;
    await this.bootstrap();
    const o = this.opts;
    if ((o.tlsCertFile === undefined) !== (o.tlsKeyFile === undefined)) throw new Error('--tls-cert-file and --tls-private-key-file go together');
    const https = o.tlsCertFile && o.tlsKeyFile
      ? {
          cert: readFileSync(o.tlsCertFile),
          key: readFileSync(o.tlsKeyFile),
          // Ask for a client certificate but let token users in without one; socket.authorized
          // then says whether a certificate was presented and checks out.
          ...(o.clientCAFile ? { ca: readFileSync(o.clientCAFile), requestCert: true, rejectUnauthorized: false } : {}),
        }
      : undefined;
    if ((o.kubeletClientCertFile === undefined) !== (o.kubeletClientKeyFile === undefined)) throw new Error('--kubelet-client-certificate and --kubelet-client-key go together');
    this.podLogs = new PodLogProxy(o.kubeletClientCertFile && o.kubeletClientKeyFile
      ? { certPem: readFileSync(o.kubeletClientCertFile, 'utf8'), keyPem: readFileSync(o.kubeletClientKeyFile, 'utf8'), ...(o.kubeletCAFile ? { caPem: readFileSync(o.kubeletCAFile, 'utf8') } : {}) }
      : undefined);
    const authenticating = o.tokenAuthFile !== undefined || o.clientCAFile !== undefined || o.serviceAccountKeyFile !== undefined;
    if (authenticating) {
      this.rbac = new RbacCache(this.store, this.registry, log);
      await this.rbac.start();
    }
    const rbac = this.rbac;
    // Every resource's watch cache starts now, so that a client's list-then-watch always finds
    // its resourceVersion inside the cache's window.
    const stores = resourceStores(this.registry, this.store, Date.now);
    await Promise.all([...stores.values()].filter((s) => !s.def.virtual).map((s) => s.cache.start()));
    this.stores = stores;
    this.app = buildApp({
      registry: this.registry,
      store: this.store,
      log,
      metrics: this.metrics,
      storageReady: async () => (await this.kv.health()).health,
      https,
      authenticator: authenticating
        ? new Authenticator({
            tokenFile: o.tokenAuthFile,
            serviceAccountPublicKey: o.serviceAccountKeyFile ? readFileSync(o.serviceAccountKeyFile, 'utf8') : undefined,
            serviceAccountUid: async (ns, name) => (await this.store.get(`/registry/serviceaccounts/${ns}/${name}`))?.metadata.uid,
          })
        : undefined,
      tokenIssuer: o.serviceAccountSigningKeyFile ? new TokenIssuer(readFileSync(o.serviceAccountSigningKeyFile, 'utf8')) : undefined,
      authorizer: rbac ? (user, attrs) => this.authorize(rbac, user, attrs) : undefined,
      resourceStores: stores,
      podLogs: this.podLogs,
    });
    this.address = await this.app.listen({ host: this.opts.host, port: this.opts.port });
    log.info({ url: this.address, storage: this.opts.etcdServers }, 'serving the Kubernetes API');
  }

  /** The node authorizer, then RBAC: allowed when either allows (as kube-apiserver chains them). */
  private authorize(rbac: RbacCache, user: UserInfo, attrs: Attributes): Decision {
    const pods = this.registry.lookup('', 'v1', 'pods');
    const podStore = pods ? this.stores?.get(pods) : undefined;
    const node = authorizeNode(user, attrs, (name) => podStore?.cache.peek((p) => isObject(p.spec) && p.spec.nodeName === name) ?? []);
    if (node?.allowed) return node;
    const r = authorize(rbac.state(), user, attrs);
    return r.allowed || !node ? r : node;
  }

  /** Creates what must exist; every replica may race to do it, AlreadyExists is success. */
  private async bootstrap(): Promise<void> {
    const ensure = async (resource: string, group: string, objs: KubeObject[]): Promise<void> => {
      const def = this.registry.lookup(group, 'v1', resource);
      if (!def) throw new Error(`registry has no ${resource}`);
      const rs = new ResourceStore(def, this.store, Date.now, async () => undefined);
      for (const obj of objs) {
        for (let attempt = 0; ; attempt++) {
          try {
            await rs.create(undefined, structuredClone(obj));
            break;
          } catch (err) {
            if (err instanceof ApiError && err.code === 409) break;
            // raftkv may still be electing its first leader when the cluster starts.
            if (attempt >= 30) throw err;
            await new Promise((r) => setTimeout(r, 500));
          }
        }
      }
    };
    await ensure('namespaces', '', BOOTSTRAP_NAMESPACES.map((name) => ({ metadata: { name } })));
    await ensure('clusterroles', 'rbac.authorization.k8s.io', bootstrapClusterRoles());
    await ensure('clusterrolebindings', 'rbac.authorization.k8s.io', bootstrapClusterRoleBindings());
  }

  async stop(): Promise<void> {
    this.rbac?.stop();
    for (const s of this.stores?.values() ?? []) if (!s.def.virtual) s.cache.stop();
    await this.app?.close();
    await this.podLogs?.close();
    await this.kv.close();
  }
}
