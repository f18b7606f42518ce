/**
 * One apiserver replica: a raftkv client, the REST app, and the bootstrap objects every cluster
 * has (the default namespaces). Replicas share nothing but raftkv, so any number may run.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { RaftKvClient } from '@flotilla/raftkv/client';
import { builtinRegistry, type Registry } from './registry/registry.js';
import { Store } from './storage/store.js';
import { ApiServerMetrics } from './metrics.js';
import { buildApp } from './http/app.js';
import { ResourceStore } from './rest/resource-store.js';
import { ApiError } from '@flotilla/api';
import { readFileSync } from 'node:fs';
import { Authenticator } from './auth/authn.js';

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
}

/** Namespaces every Kubernetes cluster has from the start. */
const BOOTSTRAP_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

export class ApiServer {
  readonly registry: Registry = builtinRegistry();
  readonly metrics = new ApiServerMetrics();
  private readonly kv: RaftKvClient;
  private readonly store: Store;
  private app: FastifyInstance | undefined;
  address = '';

  constructor(private readonly opts: ApiServerOptions) {
    this.kv = new RaftKvClient({ endpoints: opts.etcdServers, timeoutMs: opts.storageTimeoutMs ?? 5_000 });
    this.store = new Store(this.kv);
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
    const authenticating = o.tokenAuthFile !== undefined || o.clientCAFile !== undefined;
    this.app = buildApp({
      registry: this.registry,
      store: this.store,
      log,
      metrics: this.metrics,
      storageReady: async () => (await this.kv.health()).health,
      https,
      authenticator: authenticating ? new Authenticator({ tokenFile: o.tokenAuthFile }) : undefined,
    });
    this.address = await this.app.listen({ host: this.opts.host, port: this.opts.port });
    log.info({ url: this.address, storage: this.opts.etcdServers }, 'serving the Kubernetes API');
  }

  /** Creates what must exist; every replica may race to do it, AlreadyExists is success. */
  private async bootstrap(): Promise<void> {
    const nsDef = this.registry.lookup('', 'v1', 'namespaces');
    if (!nsDef) return;
    const rs = new ResourceStore(nsDef, this.store, Date.now, async () => undefined);
    for (const name of BOOTSTRAP_NAMESPACES) {
      for (let attempt = 0; ; attempt++) {
        try {
          await rs.create(undefined, { metadata: { name } });
          break;
        } catch (err) {
          if (err instanceof ApiError && err.code === 409) break;
          // raftkv may still be electing its first leader when the cluster starts.
          if (attempt >= 30) throw err;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    }
  }

  async stop(): Promise<void> {
    await this.app?.close();
    await this.kv.close();
  }
}
