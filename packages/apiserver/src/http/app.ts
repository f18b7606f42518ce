/**
 * The Kubernetes REST surface as a fastify app (built separately from listen(), so tests can use
 * inject()). Routing resolves a URL to a registry entry; the verbs themselves live in
 * rest/resource-store.ts and are the same for every resource. Every failure leaves as a
 * meta/v1 Status with the right code — never an unshaped 500.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import Fastify from 'fastify';
import type { IncomingMessage } from 'node:http';
import YAML from 'yaml';
import {
  ApiError,
  badRequest,
  internalError,
  isObject,
  methodNotAllowed,
  notFound,
  tooLarge,
  unauthorized,
  unsupportedMediaType,
  type DeleteOptions,
  type KubeObject,
  type Status,
} from '@flotilla/api';
import type { Logger } from 'pino';
import { ANONYMOUS, type Authenticator, type UserInfo } from '../auth/authn.js';
import { forbiddenMessage, type Attributes, type Decision } from '../auth/rbac.js';
import { nodeAdmission } from '../auth/node-authorizer.js';
import { DEFAULT_AUDIENCE, type TokenIssuer } from '../auth/service-account-tokens.js';
import { applyPatch, PATCH_CONTENT_TYPES } from '../rest/patch.js';
import { decodeKubernetesProtobuf, isProtobufError } from '../protobuf/index.js';
import { ResourceStore } from '../rest/resource-store.js';
import type { Registry } from '../registry/registry.js';
import { verbsOf } from '../registry/registry.js';
import { apiVersionOfDef, SUBRESOURCE_VERBS, type ResourceDef, type SubresourceKind } from '../registry/types.js';
import type { Store } from '../storage/store.js';
import type { ApiServerMetrics } from '../metrics.js';
import { aggregatedDiscovery, AGGREGATED_CONTENT_TYPE, legacyApiGroup, legacyApiGroupList, legacyApiVersions, legacyResourceList, OpenApi, VERSION_INFO } from './discovery.js';
import { boolParam, intParam, q, resolveTarget, selectorFilter, type Query, type Target } from './request.js';
import { toTable, wantsTable, type IncludeObject } from './table.js';
import type { PodLogProxy } from './pod-logs.js';
import { serveWatch } from './watch.js';

/** Kubernetes refuses request bodies over 3 MiB; raftkv's own limit is 1.5 MiB per value. */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export interface AppOptions {
  registry: Registry;
  store: Store;
  log: Logger;
  metrics: ApiServerMetrics;
  clock?: () => number;
  /** Whether raftkv answers: /readyz reports it. */
  storageReady: () => Promise<boolean>;
  /** Without one every request is served as is (a plain-HTTP development server). */
  authenticator?: Authenticator;
  /** Without one every authenticated caller may do everything. */
  authorizer?: (user: UserInfo, attrs: Attributes) => Decision;
  /** Signs service-account tokens for TokenRequest; without one, /token answers 503. */
  tokenIssuer?: TokenIssuer;
  /** One per resource (see resourceStores); made here when not given. */
  resourceStores?: Map<ResourceDef, ResourceStore>;
  /** Streams pods/log from kubelets; without it, pods/log answers 503. */
  podLogs?: PodLogProxy;
  /** TLS material: the app serves https when given. */
  https?: { cert: Buffer; key: Buffer; ca?: Buffer; requestCert?: boolean; rejectUnauthorized?: boolean };
}

/** URLs naming resources (anything below a group-version); the rest is discovery, health, metrics. */
const RESOURCE_PATH = /^\/api\/v1\/.+|^\/apis\/[^/]+\/[^/]+\/.+/;

/** Reachable without credentials, as on kube-apiserver (health checks, kubectl's version probe). */
const PUBLIC_PATHS = new Set(['/version', '/healthz', '/livez', '/readyz']);

interface Ctx {
  resource: string;
  verb: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    k8s?: Ctx;
    user?: UserInfo;
  }
}

export function buildApp(opts: AppOptions): FastifyInstance {
  const { registry, store, log, metrics } = opts;
  const clock = opts.clock ?? Date.now;
  const openapi = new OpenApi(registry);
  const stores = opts.resourceStores ?? resourceStores(registry, store, clock);
  const storeFor = (def: ResourceDef): ResourceStore => {
    const s = stores.get(def);
    if (!s) throw new Error(`no store for ${def.resource}`);
    return s;
  };

  const app = (opts.https
    ? Fastify({ logger: false, bodyLimit: MAX_BODY_BYTES, return503OnClosing: true, forceCloseConnections: true, https: opts.https })
    : Fastify({ logger: false, bodyLimit: MAX_BODY_BYTES, return503OnClosing: true, forceCloseConnections: true })) as unknown as FastifyInstance;

  const parseJson = (body: string): unknown => {
    if (body.trim() === '') return undefined;
    try {
      return JSON.parse(body);
    } catch (err) {
      throw badRequest(`the request body is not valid JSON: ${(err as Error).message}`);
    }
  };
  const parseYaml = (body: string): unknown => {
    try {
      const docs = YAML.parseAllDocuments(body);
      if (docs.length !== 1) throw badRequest(`the request body must hold exactly one YAML document (got ${docs.length})`);
      const doc = docs[0];
      if (doc.errors.length > 0) throw badRequest(`the request body is not valid YAML: ${doc.errors[0].message}`);
      return doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw badRequest(`the request body is not valid YAML: ${(err as Error).message}`);
    }
  };
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(['application/json', ...PATCH_CONTENT_TYPES.filter((t) => t.endsWith('json'))], { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJson(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.addContentTypeParser(['application/yaml', 'application/apply-patch+yaml'], { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseYaml(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  // kubectl's typed requests (auth can-i, create namespace|configmap|secret|deployment) send the
  // Kubernetes protobuf envelope; it is decoded to the JSON object it stands for.
  app.addContentTypeParser('application/vnd.kubernetes.protobuf', { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      done(null, decodeKubernetesProtobuf(body as Buffer).object);
    } catch (err) {
      if (isProtobufError(err)) {
        done(err.unsupported ? new ApiError(415, 'UnsupportedMediaType', err.message) : badRequest(`the protobuf body is malformed: ${err.message}`), undefined);
      } else done(err as Error, undefined);
    }
  });
  app.addContentTypeParser('*', (req, _payload, done) => {
    done(unsupportedMediaType(String(req.headers['content-type'] ?? '')), undefined);
  });

  const sendStatus = (reply: FastifyReply, s: Status): FastifyReply => reply.code(s.code).header('content-type', 'application/json').send(s);

  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    if (err instanceof ApiError) return sendStatus(reply, err.status);
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      // Read (and drop) the rest of the body first, for a bounded time: answering mid-upload
      // makes the client see a reset connection instead of the 413.
      return drain(req.raw, 5_000).then(() => sendStatus(reply, tooLarge(`the request body is larger than the ${MAX_BODY_BYTES}-byte limit`).status));
    }
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return sendStatus(reply, unsupportedMediaType(String(req.headers['content-type'] ?? '')).status);
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return sendStatus(reply, new ApiError(err.statusCode, 'BadRequest', err.message).status);
    const code = (err as { code?: string }).code;
    if (code === 'NO_LEADER' || code === 'TIMEOUT' || code === 'LEADER_CHANGED' || code === 'STOPPING') {
      return sendStatus(reply, new ApiError(code === 'TIMEOUT' ? 504 : 503, code === 'TIMEOUT' ? 'Timeout' : 'ServiceUnavailable', `storage is unavailable: ${err.message}`).status);
    }
    log.error({ err: { message: err.message, stack: err.stack }, method: req.method, url: req.url }, 'request failed');
    return sendStatus(reply, internalError(err.message).status);
  });
  app.setNotFoundHandler((req, reply) => sendStatus(reply, { ...notFound({ resource: '', group: '' }).status, message: `the server could not find the requested resource (${req.method} ${req.url.split('?')[0]})`, details: undefined } as Status));

  app.addHook('onRequest', async (req) => {
    (req as FastifyRequest & { startedAt?: number }).startedAt = performance.now();
    if (!opts.authenticator || PUBLIC_PATHS.has(req.url.split('?')[0])) return;
    const user = await opts.authenticator.authenticate(req.raw);
    if (!user || user === ANONYMOUS) throw unauthorized();
    req.user = user;
    const path = req.url.split('?')[0];
    // Resource requests are authorized once their verb and target are resolved (in serve).
    if (opts.authorizer && !RESOURCE_PATH.test(path)) {
      const attrs: Attributes = { kind: 'nonResource', verb: req.method === 'GET' || req.method === 'HEAD' ? 'get' : req.method.toLowerCase(), path };
      if (!opts.authorizer(user, attrs).allowed) throw new ApiError(403, 'Forbidden', `forbidden: ${forbiddenMessage(user, attrs)}`);
    }
  });
  app.addHook('onResponse', async (req, reply) => {
    const ctx = req.k8s;
    if (!ctx || ctx.verb === 'watch') return;
    const started = (req as FastifyRequest & { startedAt?: number }).startedAt ?? performance.now();
    metrics.requests.inc({ verb: ctx.verb, resource: ctx.resource, code: String(reply.statusCode) });
    metrics.requestDuration.observe({ verb: ctx.verb, resource: ctx.resource }, (performance.now() - started) / 1000);
  });

  // ---- health, version, discovery, OpenAPI ----------------------------------------------------
  app.get('/version', async () => VERSION_INFO);
  app.get('/healthz', async (_req, reply) => reply.type('text/plain').send('ok'));
  app.get('/livez', async (_req, reply) => reply.type('text/plain').send('ok'));
  app.get('/readyz', async (_req, reply) => {
    const ok = await opts.storageReady().catch(() => false);
    return reply.code(ok ? 200 : 503).type('text/plain').send(ok ? 'ok' : '[-]storage failed: raftkv is not answering\nreadyz check failed');
  });
  app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));

  const discovery = (core: boolean) => async (req: FastifyRequest, reply: FastifyReply) => {
    const accept = String(req.headers.accept ?? '');
    if (accept.includes('as=APIGroupDiscoveryList') && accept.includes('v=v2')) {
      return reply.header('content-type', AGGREGATED_CONTENT_TYPE).send(JSON.stringify(aggregatedDiscovery(registry, core)));
    }
    return core ? legacyApiVersions(`${req.hostname}`) : legacyApiGroupList(registry);
  };
  app.get('/api', discovery(true));
  app.get('/apis', discovery(false));
  app.get('/api/v1', async () => legacyResourceList(registry, '', 'v1'));
  app.get('/apis/:group', async (req) => {
    const { group } = req.params as { group: string };
    return legacyApiGroup(registry, group) ?? Promise.reject(notFound({ resource: '', group }));
  });
  app.get('/apis/:group/:version', async (req) => {
    const { group, version } = req.params as { group: string; version: string };
    return legacyResourceList(registry, group, version) ?? Promise.reject(notFound({ resource: '', group }));
  });
  app.get('/openapi/v3', async () => openapi.root());
  // kubectl falls back to v2 when a kind is missing from v3; an empty v2 document lets it go on
  // to its REST mapping, which then names the unknown kind (kubectl-wire.md §2).
  app.get('/openapi/v2', async (req, reply) => {
    // kubectl asks for the protobuf form; an empty message is a valid, empty Document.
    if (String(req.headers.accept ?? '').includes('protobuf')) {
      return reply.header('content-type', 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf').send(Buffer.alloc(0));
    }
    return { swagger: '2.0', info: { title: 'Flotilla', version: VERSION_INFO.gitVersion }, paths: {}, definitions: {} };
  });
  app.get('/openapi/v3/*', async (req, reply) => {
    const doc = openapi.doc((req.params as { '*': string })['*']);
    if (!doc) throw notFound({ resource: 'openapi', group: '' });
    // Immutable per hash: kubectl then caches the per-group documents (kubectl-wire.md §0.2).
    return reply.header('content-type', 'application/json').header('cache-control', 'public, immutable').send(doc);
  });

  // ---- resources ------------------------------------------------------------------------------
  const handle = async (req: FastifyRequest, reply: FastifyReply, group: string, version: string, rest: string): Promise<unknown> => {
    const target = resolveTarget(registry, group, version, rest);
    return serve(req, reply, target);
  };
  const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
  app.route({ method: [...methods], url: '/api/v1/*', handler: (req, reply) => handle(req, reply, '', 'v1', (req.params as { '*': string })['*']) });
  app.route({
    method: [...methods],
    url: '/apis/:group/:version/*',
    handler: (req, reply) => {
      const p = req.params as { group: string; version: string; '*': string };
      return handle(req, reply, p.group, p.version, p['*']);
    },
  });

  const serve = async (req: FastifyRequest, reply: FastifyReply, t: Target): Promise<unknown> => {
    const def = t.def;
    const rs = storeFor(def);
    const query = req.query as Query;
    const namespace = def.namespaced ? t.namespace : undefined;
    const verb = verbFor(req.method, t, query);
    req.k8s = { verb, resource: t.subresource ? `${def.resource}/${t.subresource}` : def.resource };
    const allowedVerbs = t.subresource ? SUBRESOURCE_VERBS[t.subresource as SubresourceKind] : verbsOf(def);
    if (!allowedVerbs.includes(verb)) {
      throw methodNotAllowed(`the server does not allow this method on the requested resource (${verb} ${t.subresource ? `${def.resource}/${t.subresource}` : def.resource})`);
    }
    if (def.namespaced && t.name !== undefined && namespace === undefined) {
      throw notFound({ resource: def.resource, group: def.group, name: t.name });
    }
    if (opts.authorizer && req.user) {
      const attrs: Attributes = { kind: 'resource', verb, group: def.group, resource: def.resource };
      if (t.subresource) attrs.subresource = t.subresource;
      if (namespace !== undefined) attrs.namespace = namespace;
      if (t.name !== undefined) attrs.name = t.name;
      if (!opts.authorizer(req.user, attrs).allowed) throw new ApiError(403, 'Forbidden', forbiddenMessage(req.user, attrs), { group: def.group, kind: def.resource, ...(t.name ? { name: t.name } : {}) });
    }
    const dryRun = q(query, 'dryRun') === 'All';
    const accept = String(req.headers.accept ?? '');
    const include = (q(query, 'includeObject') as IncludeObject | undefined) ?? 'Metadata';
    const now = clock();

    if (t.subresource === 'log') {
      if (!opts.podLogs) throw new ApiError(503, 'ServiceUnavailable', 'this API server was started without a way to reach kubelets, so it cannot serve pod logs');
      const pod = await rs.get(namespace, t.name as string);
      const nodes = registry.lookup('', 'v1', 'nodes') as ResourceDef;
      const flat = Object.fromEntries(Object.keys(query).map((k) => [k, q(query, k)]));
      const ac = new AbortController();
      reply.raw.on('close', () => ac.abort());
      const stream = await opts.podLogs.stream(pod, (node) => storeFor(nodes).get(undefined, node), flat, ac.signal);
      return reply.type('text/plain; charset=utf-8').send(stream);
    }

    switch (verb) {
      case 'get': {
        const obj = await rs.get(namespace, t.name as string);
        if (t.subresource === 'scale') return toScale(def, obj);
        if (wantsTable(accept)) return toTable(def, [obj], now, include, { resourceVersion: obj.metadata.resourceVersion });
        return obj;
      }
      case 'list': {
        const filter = selectorFilter(def, query);
        const limit = intParam(query, 'limit');
        const token = q(query, 'continue');
        // resourceVersion=0 asks for "any recent state" (informers list that way): served from the
        // watch cache without touching raftkv, whole (as Kubernetes serves cached lists).
        const page = q(query, 'resourceVersion') === '0' && !token && !def.virtual
          ? await rs.listCached(namespace, filter)
          : await rs.list(namespace, { filter, limit, continueToken: token });
        const meta: { resourceVersion: string; continue?: string; remainingItemCount?: number } = { resourceVersion: page.resourceVersion };
        if (page.continueToken) meta.continue = page.continueToken;
        if (page.remaining !== undefined) meta.remainingItemCount = page.remaining;
        if (wantsTable(accept)) return toTable(def, page.items, now, include, meta);
        return { kind: def.listKind, apiVersion: apiVersionOfDef(def), metadata: meta, items: page.items };
      }
      case 'watch': {
        const rv = q(query, 'resourceVersion');
        // Everything that can be refused is checked before the reply is taken over.
        const params = {
          namespace,
          resourceVersion: rv === undefined || rv === '' || rv === '0' ? undefined : parseRevision(rv),
          filter: selectorFilter(def, query),
          timeoutSeconds: intParam(query, 'timeoutSeconds'),
          bookmarks: boolParam(query, 'allowWatchBookmarks'),
          table: wantsTable(accept) ? include : undefined,
          clock,
        };
        reply.hijack();
        await serveWatch(reply.raw, rs, params, { opened: (r) => metrics.watchers.inc({ resource: r }), closed: (r) => metrics.watchers.dec({ resource: r }) }).catch((err: unknown) => {
          // Before the headers went out, the error can still be a proper reply.
          if (!reply.raw.headersSent) {
            const s = err instanceof ApiError ? err.status : internalError((err as Error).message).status;
            reply.raw.writeHead(s.code, { 'content-type': 'application/json' });
            reply.raw.end(JSON.stringify(s));
          } else if (!reply.raw.writableEnded) reply.raw.end();
        });
        return reply;
      }
      case 'create': {
        if (def.virtual) return reply.code(201).send(review(req.body, req.user, opts.authorizer));
        if (t.subresource === 'token') return reply.code(201).send(await tokenRequest(rs, namespace as string, t.name as string, req.body, opts.tokenIssuer, clock()));
        if (t.subresource === 'binding') {
          await rs.bind(namespace as string, t.name as string, req.body);
          return reply.code(201).send({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
        }
        const refused = req.user ? nodeAdmission(req.user, def, namespace, req.body) : undefined;
        if (refused) throw new ApiError(403, 'Forbidden', `${def.resource} is forbidden: ${refused}`);
        const obj = await rs.create(namespace, req.body, { dryRun });
        return reply.code(201).send(obj);
      }
      case 'update': {
        if (t.subresource === 'scale') return toScale(def, await updateScale(rs, namespace, t.name as string, req.body, dryRun));
        const sub = t.subresource === 'status' || t.subresource === 'finalize' ? t.subresource : undefined;
        return rs.update(namespace, t.name as string, req.body, { dryRun, subresource: sub });
      }
      case 'patch': {
        const contentType = String(req.headers['content-type'] ?? '').split(';')[0].trim();
        if (t.subresource === 'scale') {
          return toScale(def, await rs.writeLoop(namespace, t.name as string, undefined, (cur) => {
            const scale = applyPatch(def, toScale(def, cur) as unknown as KubeObject, contentType, req.body, 'scale');
            return withReplicas(def, cur, scale);
          }, { dryRun }));
        }
        if (contentType === 'application/apply-patch+yaml') {
          return serverSideApply(rs, namespace, t.name as string, req.body, dryRun, reply);
        }
        const statusOnly = t.subresource === 'status';
        return rs.writeLoop(namespace, t.name as string, patchPrecondition(req.body, contentType), (cur) => {
          const patched = applyPatch(def, cur, contentType, req.body, statusOnly ? 'status' : 'main');
          return statusOnly ? { ...cur, status: patched.status } : keepStatus(def, cur, patched);
        }, { dryRun });
      }
      case 'delete': {
        const options = deleteOptions(req.body, query);
        const r = await rs.delete(namespace, t.name as string, { ...options, dryRun });
        return r.object;
      }
      case 'deletecollection': {
        const options = deleteOptions(req.body, query);
        const items = await rs.deleteCollection(namespace, { ...options, filter: selectorFilter(def, query), dryRun });
        return { kind: def.listKind, apiVersion: apiVersionOfDef(def), metadata: {}, items };
      }
      default:
        throw methodNotAllowed(`unsupported verb ${verb}`);
    }
  };

  /** Apply with create-if-absent; a field-ownership model is not kept yet, so force is implied. */
  const serverSideApply = async (rs: ResourceStore, namespace: string | undefined, name: string, body: unknown, dryRun: boolean, reply: FastifyReply): Promise<unknown> => {
    if (!isObject(body)) throw badRequest('the apply patch must be an object');
    try {
      const obj = await rs.writeLoop(namespace, name, undefined, (cur) => keepStatus(rs.def, cur, applyPatch(rs.def, cur, 'application/merge-patch+json', stripForApply(body), 'main')), { dryRun });
      return obj;
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 404)) throw err;
      const created = await rs.create(namespace, { ...body, metadata: { ...(isObject(body.metadata) ? body.metadata : {}), name } }, { dryRun });
      return reply.code(201).send(created);
    }
  };

  return app;
}

/** The verbs of every resource, sharing one namespace-lifecycle check (admission). */
export function resourceStores(registry: Registry, store: Store, clock: () => number): Map<ResourceDef, ResourceStore> {
  const namespaceCheck = async (ns: string): Promise<void> => {
    const obj = await store.get(`/registry/namespaces/${ns}`);
    if (!obj) throw notFound({ resource: 'namespaces', group: '', name: ns });
    const phase = isObject(obj.status) ? obj.status.phase : undefined;
    if (obj.metadata.deletionTimestamp || phase === 'Terminating') {
      throw new ApiError(403, 'Forbidden', `unable to create new content in namespace ${ns} because it is being terminated`);
    }
  };
  return new Map(registry.all.map((def) => [def, new ResourceStore(def, store, clock, namespaceCheck)]));
}

function drain(req: IncomingMessage, maxMs: number): Promise<void> {
  if (req.complete || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, maxMs);
    function done(): void {
      clearTimeout(timer);
      resolve();
    }
    req.on('end', done);
    req.on('close', done);
    req.on('error', done);
    req.resume();
  });
}

function verbFor(method: string, t: Target, query: Query): string {
  switch (method) {
    case 'GET':
      if (t.name !== undefined) return 'get';
      return boolParam(query, 'watch') ? 'watch' : 'list';
    case 'POST':
      if (t.name !== undefined && !t.def.virtual && t.subresource !== 'binding' && t.subresource !== 'token') throw methodNotAllowed('POST is for creating objects in a collection; use PUT or PATCH on an object');
      return 'create';
    case 'PUT':
      if (t.name === undefined) throw methodNotAllowed('PUT needs an object name');
      return 'update';
    case 'PATCH':
      if (t.name === undefined) throw methodNotAllowed('PATCH needs an object name');
      return 'patch';
    case 'DELETE':
      return t.name === undefined ? 'deletecollection' : 'delete';
    default:
      throw methodNotAllowed(`method ${method} is not supported`);
  }
}

function parseRevision(rv: string): number {
  const n = Number(rv);
  if (!Number.isSafeInteger(n) || n < 0) throw badRequest(`resourceVersion: invalid value ${JSON.stringify(rv)}: must be a non-negative integer`);
  return n;
}

function deleteOptions(body: unknown, query: Query): Omit<DeleteOptions, 'dryRun'> {
  const out: Omit<DeleteOptions, 'dryRun'> = {};
  if (isObject(body)) {
    if (typeof body.gracePeriodSeconds === 'number') out.gracePeriodSeconds = body.gracePeriodSeconds;
    if (typeof body.propagationPolicy === 'string') out.propagationPolicy = body.propagationPolicy as DeleteOptions['propagationPolicy'];
    if (isObject(body.preconditions)) out.preconditions = body.preconditions as DeleteOptions['preconditions'];
  }
  const g = intParam(query, 'gracePeriodSeconds');
  if (g !== undefined) out.gracePeriodSeconds = g;
  const pp = q(query, 'propagationPolicy');
  if (pp) out.propagationPolicy = pp as DeleteOptions['propagationPolicy'];
  if (out.propagationPolicy && !['Orphan', 'Background', 'Foreground'].includes(out.propagationPolicy)) {
    throw badRequest(`propagationPolicy: Unsupported value: "${out.propagationPolicy}": supported values: "Foreground", "Background", "Orphan"`);
  }
  return out;
}

/** A patch that names a resourceVersion makes it a precondition, as Kubernetes does. */
function patchPrecondition(body: unknown, contentType: string): string | undefined {
  if (contentType === 'application/json-patch+json') return undefined;
  if (isObject(body) && isObject(body.metadata) && typeof body.metadata.resourceVersion === 'string') return body.metadata.resourceVersion;
  return undefined;
}

function keepStatus(def: ResourceDef, cur: KubeObject, next: KubeObject): KubeObject {
  if (def.subresources?.includes('status')) {
    if (cur.status === undefined) delete next.status;
    else next.status = cur.status;
  }
  return next;
}

function stripForApply(body: Record<string, unknown>): Record<string, unknown> {
  const meta = isObject(body.metadata) ? { ...body.metadata } : {};
  delete meta.resourceVersion;
  delete meta.managedFields;
  return { ...body, metadata: meta };
}

function toScale(def: ResourceDef, obj: KubeObject): Record<string, unknown> {
  const s = def.scale;
  if (!s) throw notFound({ resource: `${def.resource}/scale`, group: def.group });
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace, uid: obj.metadata.uid, resourceVersion: obj.metadata.resourceVersion, creationTimestamp: obj.metadata.creationTimestamp },
    spec: { replicas: s.specReplicas(obj) },
    status: { replicas: s.statusReplicas(obj), selector: s.selector(obj) },
  };
}

function withReplicas(def: ResourceDef, cur: KubeObject, scale: KubeObject): KubeObject {
  const replicas = isObject(scale.spec) ? scale.spec.replicas : undefined;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
    throw new ApiError(422, 'Invalid', `Scale "${cur.metadata.name ?? ''}" is invalid: spec.replicas: Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`, {
      name: cur.metadata.name, kind: 'Scale', causes: [{ reason: 'FieldValueInvalid', message: 'must be greater than or equal to 0', field: 'spec.replicas' }],
    });
  }
  const next = structuredClone(cur);
  def.scale?.setSpecReplicas(next, replicas);
  return next;
}

async function updateScale(rs: ResourceStore, namespace: string | undefined, name: string, body: unknown, dryRun: boolean): Promise<KubeObject> {
  if (!isObject(body)) throw badRequest('the request body must be a Scale object');
  const pinned = isObject(body.metadata) && typeof body.metadata.resourceVersion === 'string' ? body.metadata.resourceVersion : undefined;
  return rs.writeLoop(namespace, name, pinned, (cur) => withReplicas(rs.def, cur, body as KubeObject), { dryRun });
}

/** TokenRequest (kubectl create token): a signed token for an existing service account. */
async function tokenRequest(rs: ResourceStore, namespace: string, name: string, body: unknown, issuer: TokenIssuer | undefined, now: number): Promise<Record<string, unknown>> {
  if (!issuer) throw new ApiError(503, 'ServiceUnavailable', 'this API server issues no service-account tokens (no --service-account-signing-key-file)');
  const sa = await rs.get(namespace, name);
  const spec = isObject(body) && isObject(body.spec) ? body.spec : {};
  const expirationSeconds = spec.expirationSeconds === undefined ? 3600 : spec.expirationSeconds;
  if (typeof expirationSeconds !== 'number' || !Number.isInteger(expirationSeconds) || expirationSeconds < 600 || expirationSeconds > 2 ** 32) {
    throw new ApiError(422, 'Invalid', `TokenRequest.authentication.k8s.io "${name}" is invalid: spec.expirationSeconds: Invalid value: ${JSON.stringify(expirationSeconds)}: may not specify a duration less than 10 minutes`, {
      name, kind: 'TokenRequest', causes: [{ reason: 'FieldValueInvalid', message: 'may not specify a duration less than 10 minutes', field: 'spec.expirationSeconds' }],
    });
  }
  const audiences = Array.isArray(spec.audiences) ? spec.audiences.filter((a): a is string => typeof a === 'string') : [];
  const { token, expires } = issuer.issue({ namespace, name, uid: sa.metadata.uid ?? '' }, { audiences, expirationSeconds, now });
  return {
    kind: 'TokenRequest',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { name, namespace, creationTimestamp: new Date(Math.floor(now / 1000) * 1000).toISOString().replace('.000Z', 'Z') },
    spec: { ...spec, audiences: audiences.length > 0 ? audiences : [DEFAULT_AUDIENCE], expirationSeconds },
    status: { token, expirationTimestamp: new Date(expires).toISOString().replace('.000Z', 'Z') },
  };
}

/** SelfSubjectAccessReview (kubectl auth can-i): the authorizer's answer for the caller itself. */
function review(body: unknown, user: UserInfo | undefined, authorizer: AppOptions['authorizer']): Record<string, unknown> {
  if (!isObject(body) || !isObject(body.spec)) throw badRequest('the request body must be a SelfSubjectAccessReview with a spec');
  const spec = body.spec;
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  let attrs: Attributes;
  if (isObject(spec.resourceAttributes)) {
    const r = spec.resourceAttributes;
    attrs = { kind: 'resource', verb: str(r.verb) ?? '', group: str(r.group) ?? '', resource: str(r.resource) ?? '' };
    if (str(r.subresource)) attrs.subresource = str(r.subresource);
    if (str(r.namespace)) attrs.namespace = str(r.namespace);
    if (str(r.name)) attrs.name = str(r.name);
  } else if (isObject(spec.nonResourceAttributes)) {
    attrs = { kind: 'nonResource', verb: str(spec.nonResourceAttributes.verb) ?? '', path: str(spec.nonResourceAttributes.path) ?? '' };
  } else {
    throw new ApiError(422, 'Invalid', 'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec: Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified', {
      kind: 'SelfSubjectAccessReview', causes: [{ reason: 'FieldValueRequired', message: 'exactly one of nonResourceAttributes or resourceAttributes must be specified', field: 'spec' }],
    });
  }
  const decision: Decision = !authorizer || !user ? { allowed: true, reason: 'no authorizer is configured' } : authorizer(user, attrs);
  const status: Record<string, unknown> = { allowed: decision.allowed };
  if (decision.reason) status.reason = decision.reason;
  return { kind: 'SelfSubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: {}, spec, status };
}
