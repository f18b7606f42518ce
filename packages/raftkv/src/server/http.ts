/**
 * The client-facing HTTP API of a raftkv member: etcd v3's JSON gateway (POST /v3/kv/range,
 * /v3/watch, /v3/lease/*, /v3/cluster/member/*, /v3/maintenance/*) plus GET /health, /metrics
 * and /version. An app factory: the caller listens (and closes) it.
 *
 * Wire format: see http/wire.ts (snake_case, base64 bytes, int64 as strings). Errors: see
 * http/errors.ts (status + {error, code, message, reason}). Any Content-Type is parsed as JSON
 * (`curl -d` sends form-urlencoded); an empty body is `{}`.
 *
 * Differences from etcd's gateway, on purpose:
 * - /v3/watch carries one watch per HTTP stream (the body is one create_request); cancel by
 *   closing the stream.
 * - /v3/maintenance/snapshot answers the raw snapshot bytes (application/octet-stream), not a
 *   stream of `{"result":{"blob":...}}` objects.
 * - Responses carry default values explicitly (etcd omits zero fields).
 * - /v3/lease/keepalive takes one request and answers one `{"result":{...}}` object.
 */
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import Fastify from 'fastify';
import { Agent, request as undiciRequest } from 'undici';
import type { TxnRequest } from '../kv/types.js';
import type { ClusterHeader, RaftKvApi } from './api.js';
import { RaftKvError } from './api.js';
import { asApiError, fromApiError, httpError } from './http/errors.js';
import { WatchStreams } from './http/watch.js';
import type { Json } from './http/wire.js';
import {
  decodeCompactionRequest,
  decodeDeleteRangeRequest,
  decodeId,
  decodeLeaseGrantRequest,
  decodeMemberAddRequest,
  decodePutRequest,
  decodeRangeRequest,
  decodeTimeToLiveRequest,
  decodeTxnRequest,
  encodeDeleteRangeResponse,
  encodeHeader,
  encodeMember,
  encodeMembers,
  encodePutResponse,
  encodeRangeResponse,
  encodeStatus,
  encodeTimeToLive,
  encodeTxnResponse,
  requestObject,
} from './http/wire.js';

/** etcd's default --max-request-bytes. */
export const DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
/** HTTP body limit: a max-size request base64-encoded (x4/3) plus etcd's 512 KiB gRPC envelope allowance. */
export const DEFAULT_BODY_LIMIT = Math.ceil((DEFAULT_MAX_REQUEST_BYTES * 4) / 3) + 512 * 1024;
/** etcd's default progress-notify interval. */
export const DEFAULT_PROGRESS_NOTIFY_MS = 10 * 60 * 1000;
/** Header marking a request forwarded to the leader (forwarding is one hop only). */
export const FORWARDED_HEADER = 'x-raftkv-forwarded';

export const VERSION_INFO = { etcdserver: '3.5.0-compatible', etcdcluster: '3.5.0', flotilla: '0.1.0' } as const;

export interface HttpApiOptions {
  /** Body of GET /metrics (404 without it). */
  metricsText?: () => Promise<string>;
  /** Default: Prometheus text format 0.0.4. */
  metricsContentType?: string;
  /** Bytes of HTTP request body accepted; larger → 413 TOO_LARGE. Default DEFAULT_BODY_LIMIT (≈2.5 MiB). */
  bodyLimit?: number;
  /** Bytes of keys plus values in one put or txn (decoded); larger → 413 TOO_LARGE. Default 1.5 MiB (etcd's --max-request-bytes). */
  maxRequestBytes?: number;
  /** fastify's logger option. Default false. */
  logger?: boolean | object;
  /** Interval of watch progress notifications, ms. Default 10 minutes (etcd's). */
  progressNotifyMs?: number;
  /** Unsent bytes after which a watch consumer is disconnected (it resumes itself). Default 16 MiB. */
  watchBufferBytes?: number;
  /** Timeout of a request forwarded to the leader, ms. Default 5000. */
  forwardTimeoutMs?: number;
}

const SERIALIZABLE = Object.freeze({ serializable: true });
const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function checkPositive(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new TypeError(`buildHttpApi: ${name} must be a positive number, got ${String(v)}`);
  return v;
}

export function buildHttpApi(api: RaftKvApi, opts: HttpApiOptions = {}): FastifyInstance {
  const bodyLimit = Math.floor(checkPositive('bodyLimit', opts.bodyLimit, DEFAULT_BODY_LIMIT));
  const maxRequestBytes = checkPositive('maxRequestBytes', opts.maxRequestBytes, DEFAULT_MAX_REQUEST_BYTES);
  const progressNotifyMs = checkPositive('progressNotifyMs', opts.progressNotifyMs, DEFAULT_PROGRESS_NOTIFY_MS);
  const watchBufferBytes = checkPositive('watchBufferBytes', opts.watchBufferBytes, 16 * 1024 * 1024);
  const forwardTimeoutMs = checkPositive('forwardTimeoutMs', opts.forwardTimeoutMs, 5000);

  const app = Fastify({
    logger: (opts.logger ?? false) as FastifyServerOptions['logger'],
    bodyLimit,
    // Watch streams are ended in preClose; idle keep-alive sockets are closed on close().
    forceCloseConnections: 'idle',
  });

  // ---- body parsing: any content type is JSON; empty is {} ---------------------------------------
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit }, (_req, body, done) => {
    const text = body as string;
    if (text.length === 0) {
      done(null, {});
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      done(new RaftKvError('INVALID', `invalid request: malformed JSON body (${(err as Error).message})`), undefined);
      return;
    }
    done(null, parsed);
  });

  // ---- errors ------------------------------------------------------------------------------------
  app.setErrorHandler((err: FastifyError | Error, request, reply) => {
    const apiErr = asApiError(err);
    if (apiErr) {
      const e = fromApiError(apiErr);
      return reply.code(e.status).send(e.body);
    }
    const fe = err as FastifyError;
    if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      const e = httpError('TOO_LARGE', `request body is larger than the limit of ${bodyLimit} bytes`);
      return reply.code(e.status).send(e.body);
    }
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      const e = httpError('INVALID', `invalid request: ${fe.message}`);
      return reply.code(fe.statusCode).send(e.body);
    }
    request.log.error({ err }, 'raftkv http: internal error');
    return reply.code(500).send({ error: 'internal error', code: 13, message: 'internal error', reason: 'INTERNAL' });
  });

  app.setNotFoundHandler((request, reply) => {
    const e = httpError('INVALID', `unknown endpoint: ${request.method} ${request.url.split('?')[0]}`);
    return reply.code(404).send(e.body);
  });

  const body = (request: FastifyRequest): Json => requestObject(request.body);
  const header = (): ClusterHeader => api.header();

  function tooLarge(n: number): never {
    throw new RaftKvError('TOO_LARGE', `etcdserver: request is too large (${n} bytes of keys and values; the limit is ${maxRequestBytes} bytes)`);
  }

  // ---- KV ---------------------------------------------------------------------------------------
  app.post('/v3/kv/range', async (request) => {
    const req = decodeRangeRequest(body(request));
    const resp = await api.range(req, req.serializable ? SERIALIZABLE : undefined);
    return encodeRangeResponse(resp, header());
  });

  app.post('/v3/kv/put', async (request) => {
    const req = decodePutRequest(body(request));
    const n = req.key.length + req.value.length;
    if (n > maxRequestBytes) tooLarge(n);
    return encodePutResponse(await api.put(req), header());
  });

  app.post('/v3/kv/deleterange', async (request) => {
    return encodeDeleteRangeResponse(await api.deleteRange(decodeDeleteRangeRequest(body(request))), header());
  });

  app.post('/v3/kv/txn', async (request) => {
    const req = decodeTxnRequest(body(request));
    const n = txnBytes(req);
    if (n > maxRequestBytes) tooLarge(n);
    return encodeTxnResponse(await api.txn(req), header());
  });

  app.post('/v3/kv/compaction', async (request) => {
    const { revision } = decodeCompactionRequest(body(request));
    const resp = await api.compact({ revision });
    return { header: encodeHeader(header(), resp.header.revision) };
  });

  // ---- watch ------------------------------------------------------------------------------------
  const watches = new WatchStreams(api, { progressNotifyMs, bufferBytes: watchBufferBytes });
  app.post('/v3/watch', (request, reply) => {
    watches.handle(body(request), reply);
  });

  // ---- leases -----------------------------------------------------------------------------------
  const leaseGrant = async (request: FastifyRequest): Promise<Json> => {
    const req = decodeLeaseGrantRequest(body(request));
    const resp = await api.leaseGrant(req);
    return { header: encodeHeader(header(), resp.header.revision), ID: String(resp.ID), TTL: String(resp.TTL) };
  };
  const leaseRevoke = async (request: FastifyRequest): Promise<Json> => {
    const resp = await api.leaseRevoke({ ID: decodeId(body(request)) });
    return { header: encodeHeader(header(), resp.header.revision) };
  };
  const leaseLeases = async (request: FastifyRequest): Promise<Json> => {
    body(request);
    return { header: encodeHeader(header()), leases: api.leaseLeases().map((l) => ({ ID: String(l.ID) })) };
  };

  let agent: Agent | undefined;
  /** Runs a leader-only call; on NOT_LEADER relays the same request to the leader, once. */
  async function leaderOnly(request: FastifyRequest, reply: FastifyReply, local: () => Promise<Json>): Promise<unknown> {
    try {
      return await local();
    } catch (err) {
      const e = asApiError(err);
      if (e?.code !== 'NOT_LEADER' || request.headers[FORWARDED_HEADER] !== undefined) throw err;
      const target = api.leaderClientURLs()[0] ?? (e as RaftKvError).leaderClientURLs?.[0];
      if (target === undefined) throw new RaftKvError('NO_LEADER', 'etcdserver: no leader');
      agent ??= new Agent({ keepAliveTimeout: 10_000, pipelining: 1 });
      let res;
      try {
        res = await undiciRequest(new URL(request.url, target), {
          method: 'POST',
          dispatcher: agent,
          headers: { 'content-type': 'application/json', [FORWARDED_HEADER]: '1' },
          body: JSON.stringify(request.body ?? {}),
          headersTimeout: forwardTimeoutMs,
          bodyTimeout: forwardTimeoutMs,
        });
      } catch (ferr) {
        throw new RaftKvError('NO_LEADER', `etcdserver: forwarding to the leader at ${target} failed: ${(ferr as Error).message}`);
      }
      const text = await res.body.text();
      const ct = res.headers['content-type'];
      return reply
        .code(res.statusCode)
        .header('content-type', typeof ct === 'string' ? ct : 'application/json')
        .send(text);
    }
  }

  const leaseKeepAlive = (request: FastifyRequest, reply: FastifyReply): Promise<unknown> =>
    leaderOnly(request, reply, async () => {
      const id = decodeId(body(request));
      const r = await api.leaseKeepAlive(id);
      return { result: { header: encodeHeader(header()), ID: String(r.ID), TTL: String(r.TTL) } };
    });
  const leaseTimeToLive = (request: FastifyRequest, reply: FastifyReply): Promise<unknown> =>
    leaderOnly(request, reply, async () => {
      const req = decodeTimeToLiveRequest(body(request));
      return encodeTimeToLive(await api.leaseTimeToLive(req.ID, req.keys), header());
    });

  app.post('/v3/lease/grant', leaseGrant);
  app.post('/v3/lease/revoke', leaseRevoke);
  app.post('/v3/kv/lease/revoke', leaseRevoke);
  app.post('/v3/lease/keepalive', leaseKeepAlive);
  app.post('/v3/lease/timetolive', leaseTimeToLive);
  app.post('/v3/kv/lease/timetolive', leaseTimeToLive);
  app.post('/v3/lease/leases', leaseLeases);
  app.post('/v3/kv/lease/leases', leaseLeases);

  // ---- cluster ----------------------------------------------------------------------------------
  app.post('/v3/cluster/member/list', async (request) => {
    body(request);
    return { header: encodeHeader(header()), members: encodeMembers(api.memberList()) };
  });
  app.post('/v3/cluster/member/add', async (request) => {
    const req = decodeMemberAddRequest(body(request));
    const r = await api.memberAdd(req.peerURLs, req.isLearner);
    return { header: encodeHeader(header()), member: encodeMember(r.member), members: encodeMembers(r.members) };
  });
  app.post('/v3/cluster/member/remove', async (request) => {
    const members = await api.memberRemove(decodeId(body(request)));
    return { header: encodeHeader(header()), members: encodeMembers(members) };
  });
  app.post('/v3/cluster/member/promote', async (request) => {
    const members = await api.memberPromote(decodeId(body(request)));
    return { header: encodeHeader(header()), members: encodeMembers(members) };
  });

  // ---- maintenance ------------------------------------------------------------------------------
  app.post('/v3/maintenance/status', async (request) => {
    body(request);
    return encodeStatus(api.status());
  });
  app.post('/v3/maintenance/snapshot', async (request, reply) => {
    body(request);
    const b = await api.snapshotBytes();
    return reply.type('application/octet-stream').send(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  });

  // ---- plain HTTP -------------------------------------------------------------------------------
  app.get('/health', async (_request, reply) => {
    let reason: string | undefined;
    try {
      if (api.status().leader === 0) reason = 'RAFT NO LEADER';
    } catch (err) {
      reason = (err as Error).message;
    }
    if (reason === undefined) return { health: 'true' };
    return reply.code(503).send({ health: 'false', reason });
  });
  app.get('/version', async () => VERSION_INFO);
  app.get('/metrics', async (_request, reply) => {
    if (opts.metricsText === undefined) return reply.code(404).send(httpError('INVALID', 'metrics are not enabled').body);
    const text = await opts.metricsText();
    return reply.type(opts.metricsContentType ?? METRICS_CONTENT_TYPE).send(text);
  });

  // Shutdown: end every watch stream (each has `connection: close`, so its socket goes once
  // flushed) and drop connections that never sent a byte (clients such as undici reconnect
  // eagerly); node's server.close() then waits only for requests in flight.
  const sockets = new Set<Socket>();
  app.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  app.addHook('preClose', (done) => {
    watches.closeAll();
    for (const s of sockets) if (s.bytesRead === 0) s.destroy();
    done();
  });
  app.addHook('onClose', async () => {
    await agent?.close();
  });
  return app;
}

/** Bytes of keys and values a txn carries (etcd's request size check, without the envelope). */
function txnBytes(t: TxnRequest): number {
  let n = 0;
  for (const c of t.compare) n += c.key.length + (c.value?.length ?? 0) + (c.rangeEnd?.length ?? 0);
  for (const branch of [t.success, t.failure]) {
    for (const op of branch) {
      if ('requestPut' in op) n += op.requestPut.key.length + op.requestPut.value.length;
      else if ('requestTxn' in op) n += txnBytes(op.requestTxn);
      else if ('requestRange' in op) n += op.requestRange.key.length;
      else n += op.requestDeleteRange.key.length;
    }
  }
  return n;
}
