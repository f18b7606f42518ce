/**
 * The kubelet's own HTTPS endpoint (port 10250 by default, as the real kubelet's): the API
 * server reaches it to serve `kubectl logs`. Only the API server may ask: it presents a client
 * certificate from the cluster CA whose CN is one this kubelet trusts (kube-apiserver's
 * `kube-apiserver-kubelet-client`, or any member of system:masters), so a user cannot go around
 * the API server's RBAC by calling the node directly. /healthz and /metrics are open, as
 * Prometheus scrapes them.
 */
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { ApiError, forbidden, parsePodLogOptions, unauthorized } from '@flotilla/api';
import type { Kubelet } from './kubelet.js';
import type { KubeletMetrics } from './metrics.js';

export interface KubeletServerOptions {
  kubelet: Kubelet;
  metrics: KubeletMetrics;
  host: string;
  port: number;
  tls: { certPem: string; keyPem: string };
  /** PEM of the CA client certificates are checked against; without it no one may read logs. */
  clientCAPem?: string;
  /** Certificate CNs allowed besides system:masters. Default: kube-apiserver-kubelet-client. */
  allowedUsers?: string[];
}

export const APISERVER_KUBELET_CLIENT = 'kube-apiserver-kubelet-client';

function send(reply: FastifyReply, err: unknown): FastifyReply {
  const e = err instanceof ApiError ? err : new ApiError(500, 'InternalError', `Internal error occurred: ${(err as Error).message}`);
  return reply.code(e.code).type('application/json').send(e.status);
}

export class KubeletServer {
  private readonly app: FastifyInstance;

  constructor(private readonly o: KubeletServerOptions) {
    this.app = Fastify({
      logger: false,
      forceCloseConnections: true,
      https: { cert: o.tls.certPem, key: o.tls.keyPem, ...(o.clientCAPem ? { ca: o.clientCAPem, requestCert: true } : {}), rejectUnauthorized: false },
    });
    const allowed = new Set(o.allowedUsers ?? [APISERVER_KUBELET_CLIENT]);
    this.app.get('/healthz', async () => 'ok');
    this.app.get('/metrics', async (_req, reply) => reply.type(o.metrics.registry.contentType).send(await o.metrics.registry.metrics()));
    this.app.get<{ Params: { namespace: string; pod: string; container: string }; Querystring: Record<string, string> }>(
      '/containerLogs/:namespace/:pod/:container',
      async (req, reply) => {
        try {
          const socket = req.raw.socket as TLSSocket;
          if (!o.clientCAPem || !socket.authorized) throw unauthorized();
          const subject = socket.getPeerCertificate().subject;
          const orgs = ([] as string[]).concat(subject.O ?? []);
          const user = String(subject.CN ?? '');
          if (!allowed.has(user) && !orgs.includes('system:masters')) {
            throw forbidden(`Forbidden (user=${user}, verb=get, resource=nodes, subresource=log)`);
          }
          const opts = parsePodLogOptions({ ...req.query, container: req.params.container }, req.params.pod);
          const ac = new AbortController();
          reply.raw.on('close', () => ac.abort());
          const stream = await o.kubelet.containerLog(req.params.namespace, req.params.pod, opts, ac.signal);
          return reply.type('text/plain; charset=utf-8').send(stream);
        } catch (err) {
          return send(reply, err);
        }
      },
    );
  }

  /** Listens; resolves with the port (the one given, or the one picked for 0). */
  async start(): Promise<number> {
    await this.app.listen({ host: this.o.host, port: this.o.port });
    const addr = this.app.server.address();
    return typeof addr === 'object' && addr ? addr.port : this.o.port;
  }

  async stop(): Promise<void> {
    await this.app.close();
  }
}
