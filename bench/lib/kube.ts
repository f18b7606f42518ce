/**
 * A Kubernetes control plane for the benchmarks, as `flotilla up` wires it: the cluster's PKI
 * (CA, serving certificate, bearer tokens for the admin and the scheduler), `flotilla apiserver`
 * replicas over a raftkv cluster, kubeconfigs for components, an https client with a token, and
 * a watch stream that hands each event to a callback.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, Pool, request } from 'undici';
import { createCA, issue, newToken } from '@flotilla/apiserver';
import type { LocalCluster } from './cluster.js';
import { freePorts, tail, type ManagedProcess, type Supervisor } from './proc.js';
import { sleep } from './stats.js';

export interface BenchPki {
  dir: string;
  caPem: string;
  adminToken: string;
  schedulerToken: string;
  certFile: string;
  keyFile: string;
  caFile: string;
  tokensFile: string;
}

/** CA, a serving certificate for 127.0.0.1, and tokens for admin and system:kube-scheduler (kube-apiserver's token-file format). */
export function writePki(root: string): BenchPki {
  const dir = join(root, 'pki');
  mkdirSync(dir, { recursive: true });
  const ca = createCA('bench-ca');
  const serving = issue(ca, { commonName: 'flotilla-apiserver', usage: 'server', ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'] });
  const adminToken = newToken();
  const schedulerToken = newToken();
  const pki: BenchPki = {
    dir, caPem: ca.certPem, adminToken, schedulerToken,
    certFile: join(dir, 'apiserver.crt'), keyFile: join(dir, 'apiserver.key'), caFile: join(dir, 'ca.crt'), tokensFile: join(dir, 'tokens.csv'),
  };
  writeFileSync(pki.caFile, ca.certPem);
  writeFileSync(pki.certFile, serving.certPem);
  writeFileSync(pki.keyFile, serving.keyPem, { mode: 0o600 });
  writeFileSync(pki.tokensFile, `${adminToken},admin,admin,"system:masters"\n${schedulerToken},system:kube-scheduler,kube-scheduler\n`, { mode: 0o600 });
  return pki;
}

export interface ApiServer {
  url: string;
  proc: ManagedProcess;
}

/** Starts `count` `flotilla apiserver` replicas over `kv` (https, token auth) and waits until each answers /readyz. */
export async function startApiServers(sup: Supervisor, bin: string, cwd: string, kv: LocalCluster, pki: BenchPki, count: number, timeoutMs = 60_000): Promise<ApiServer[]> {
  const ports = await freePorts(count);
  const apis: ApiServer[] = ports.map((port, i) => ({
    url: `https://127.0.0.1:${port}`,
    proc: sup.spawn(`apiserver-${i + 1}`, process.execPath, [
      bin, 'apiserver', '--name', `api${i + 1}`, '--etcd-servers', kv.origins.join(','), '--port', String(port), '--log-level', 'warn',
      '--tls-cert-file', pki.certFile, '--tls-private-key-file', pki.keyFile, '--client-ca-file', pki.caFile, '--token-auth-file', pki.tokensFile,
    ], { logFile: join(sup.root, `apiserver-${i + 1}.log`), cwd }),
  }));
  const agent = new Agent({ connect: { ca: pki.caPem } });
  try {
    const deadline = Date.now() + timeoutMs;
    for (const a of apis) {
      for (;;) {
        const ok = await request(`${a.url}/readyz`, { dispatcher: agent }).then((r) => (r.body.dump(), r.statusCode === 200)).catch(() => false);
        if (ok) break;
        if (a.proc.exit || Date.now() > deadline) throw new Error(`apiserver ${a.url} did not become ready; last log lines:\n${tail(a.proc.logFile)}`);
        await sleep(100);
      }
    }
  } finally {
    await agent.close();
  }
  return apis;
}

/** A kubeconfig (JSON, which kubectl and loadKubeconfig read like YAML) for one server and token. */
export function kubeconfig(server: string, caPem: string, token: string, user: string): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Config', preferences: {},
    clusters: [{ name: 'bench', cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'bench', context: { cluster: 'bench', user, namespace: 'default' } }],
    'current-context': 'bench',
  });
}

export interface Reply {
  status: number;
  text: string;
}

/** Requests as one identity to a set of replicas (request i goes to replica i mod n), over keep-alive pools. */
export class Api {
  readonly pools: Pool[];

  constructor(readonly urls: string[], caPem: string, private readonly token: string, connections = 32) {
    this.pools = urls.map((u) => new Pool(u, { connections, connect: { ca: caPem } }));
  }

  async call(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown, opts: { replica?: number; contentType?: string } = {}): Promise<Reply> {
    const pool = this.pools[(opts.replica ?? 0) % this.pools.length];
    const res = await pool.request({
      method, path,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      headers: { authorization: `Bearer ${this.token}`, 'content-type': opts.contentType ?? 'application/json' },
      headersTimeout: 60_000, bodyTimeout: 60_000,
    });
    return { status: res.statusCode, text: await res.body.text() };
  }

  /** Like call(), but a reply outside 2xx throws with its text. */
  async must(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown, opts: { replica?: number; contentType?: string } = {}): Promise<unknown> {
    const r = await this.call(method, path, body, opts);
    if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${path}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
    return r.text ? JSON.parse(r.text) : undefined;
  }

  async close(): Promise<void> {
    await Promise.all(this.pools.map((p) => p.close()));
  }
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: { metadata: { name?: string; namespace?: string; resourceVersion?: string }; spec?: Record<string, unknown>; status?: Record<string, unknown>; code?: number; message?: string };
}

export interface WatchStream {
  /** Resolves once the server answered 200 (events may follow). */
  opened: Promise<void>;
  /** Settles when the stream ends: rejects on an error other than stop(). */
  done: Promise<void>;
  stop(): void;
}

/** GET `path`?watch=true from `resourceVersion`; `onEvent` gets each event, `at` is when its line was read (performance.now()). */
export function watch(url: string, caPem: string, token: string, path: string, resourceVersion: string, onEvent: (ev: WatchEvent, at: number) => void): WatchStream {
  const ac = new AbortController();
  const dispatcher = new Agent({ connect: { ca: caPem } });
  let opened: () => void = () => undefined;
  let failed: (err: unknown) => void = () => undefined;
  const openedP = new Promise<void>((resolve, reject) => {
    opened = resolve;
    failed = reject;
  });
  const sep = path.includes('?') ? '&' : '?';
  const done = (async () => {
    try {
      const res = await request(`${url}${path}${sep}watch=true&resourceVersion=${resourceVersion}&timeoutSeconds=3600`, {
        dispatcher, headers: { authorization: `Bearer ${token}` }, signal: ac.signal, bodyTimeout: 0, headersTimeout: 60_000,
      });
      if (res.statusCode !== 200) throw new Error(`watch ${path}: HTTP ${res.statusCode} ${(await res.body.text()).slice(0, 200)}`);
      opened();
      let buf = '';
      for await (const chunk of res.body) {
        const at = performance.now();
        buf += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim()) onEvent(JSON.parse(line) as WatchEvent, at);
        }
      }
    } catch (err) {
      failed(err);
      if (!ac.signal.aborted) throw err;
    } finally {
      await dispatcher.close().catch(() => undefined);
    }
  })();
  done.catch(() => undefined);
  openedP.catch(() => undefined);
  return { opened: openedP, done, stop: () => ac.abort() };
}

/** `total` calls of `fn(i)` by `concurrency` workers, each i once, in order of hand-out. */
export async function forEachConcurrently(total: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, async () => {
    for (let i = next++; i < total; i = next++) await fn(i);
  }));
}
