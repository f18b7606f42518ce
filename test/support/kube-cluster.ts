/**
 * A real Kubernetes control plane for end-to-end tests: a raftkv cluster (TestRaftKvCluster) and
 * N `flotilla apiserver` processes over it, plus a private HOME and kubeconfig so that the real
 * `kubectl` runs against it without touching the developer's own. close() kills every process
 * by PID and removes every temp dir, even when the test failed.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'undici';
import { createCA, issue, newToken, serviceAccountKeyPair, type KeyPair } from '@flotilla/apiserver';
import { serversExtension } from '@flotilla/client';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FLOTILLA_BIN, TestRaftKvCluster } from './raftkv-cluster.js';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

/**
 * Whether the real kubectl is on PATH. In CI it must be (.ci/run installs it); elsewhere the
 * kubectl tests skip with this warning.
 */
export function kubectlAvailable(): boolean {
  let ok = false;
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 20_000 });
    ok = true;
  } catch {
    // not installed
  }
  if (!ok && process.env.CI) throw new Error('kubectl is required in CI (.ci/run installs it)');
  if (!ok) console.warn('skipping the kubectl tests: no kubectl on PATH (apt-get install kubernetes-client)');
  return ok;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CallResult {
  status: number;
  json: Record<string, unknown>;
  text: string;
}

/**
 * Every replica serves https with a serving certificate from a test CA, and authenticates the
 * admin by bearer token, as `flotilla up` sets them up.
 */
export class TestKubeCluster {
  readonly apiServers: { name: string; url: string; proc: ChildProcess; exit: Promise<number | null>; log: string[] }[] = [];
  readonly ca: KeyPair = createCA('flotilla-test-ca');
  readonly adminToken = newToken();
  /** Tokens of users with no role bound (alice) and of a kubelet (group system:nodes). */
  readonly tokens = { alice: newToken(), node1: newToken(), node2: newToken(), scheduler: newToken() };
  /** An undici dispatcher that trusts the cluster CA, for tests' own requests. */
  readonly dispatcher = new Agent({ connect: { ca: this.ca.certPem } });
  private constructor(
    readonly raftkv: TestRaftKvCluster,
    readonly home: string,
  ) {}

  private async writePki(): Promise<void> {
    const serving = issue(this.ca, { commonName: 'flotilla-apiserver', usage: 'server', ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'] });
    await writeFile(path.join(this.home, 'ca.crt'), this.ca.certPem);
    const sa = serviceAccountKeyPair();
    await writeFile(path.join(this.home, 'sa.key'), sa.privateKeyPem, { mode: 0o600 });
    await writeFile(path.join(this.home, 'sa.pub'), sa.publicKeyPem);
    await writeFile(path.join(this.home, 'apiserver.crt'), serving.certPem);
    await writeFile(path.join(this.home, 'apiserver.key'), serving.keyPem, { mode: 0o600 });
    // The API servers' identity towards kubelets (pod logs), as `flotilla up` issues it.
    const kubeletClient = issue(this.ca, { commonName: 'kube-apiserver-kubelet-client', organizations: ['system:masters'], usage: 'client' });
    await writeFile(path.join(this.home, 'kubelet-client.crt'), kubeletClient.certPem);
    await writeFile(path.join(this.home, 'kubelet-client.key'), kubeletClient.keyPem, { mode: 0o600 });
    const lines = [
      `${this.adminToken},admin,admin,"system:masters"`,
      `${this.tokens.alice},alice,alice`,
      `${this.tokens.node1},system:node:node-1,node-1,"system:nodes"`,
      `${this.tokens.node2},system:node:node-2,node-2,"system:nodes"`,
      `${this.tokens.scheduler},system:kube-scheduler,kube-scheduler`,
    ];
    await writeFile(path.join(this.home, 'tokens.csv'), `${lines.join('\n')}\n`, { mode: 0o600 });
  }

  /**
   * One HTTP call to a replica (default: the first), as the admin unless `token` says otherwise
   * (null: no credentials at all). Never throws on an error status.
   */
  async call(method: string, urlPath: string, body?: unknown, opts: { base?: string; contentType?: string; token?: string | null; raw?: string } = {}): Promise<CallResult> {
    const headers: Record<string, string> = {};
    const token = opts.token === undefined ? this.adminToken : opts.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const payload = opts.raw ?? (body === undefined ? undefined : JSON.stringify(body));
    if (payload !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
    const res = await request(`${opts.base ?? this.url}${urlPath}`, { method: method as 'GET', headers, body: payload, dispatcher: this.dispatcher, headersTimeout: 20_000, bodyTimeout: 20_000 });
    const text = await res.body.text();
    let json: Record<string, unknown> = {};
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      // not JSON: the caller looks at text
    }
    return { status: res.statusCode, json, text };
  }

  /** Opens a watch and collects its events until `until` holds or `timeoutMs` passes. */
  async watch<T = Record<string, unknown>>(urlPath: string, until: (events: { type: string; object: T }[]) => boolean, timeoutMs = 15_000): Promise<{ type: string; object: T }[]> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeoutMs);
    const events: { type: string; object: T }[] = [];
    try {
      const res = await request(`${this.url}${urlPath}`, { headers: { authorization: `Bearer ${this.adminToken}` }, dispatcher: this.dispatcher, signal: ac.signal });
      if (res.statusCode !== 200) throw new Error(`watch ${urlPath}: HTTP ${res.statusCode} ${await res.body.text()}`);
      let buf = '';
      for await (const chunk of res.body) {
        buf += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buf.slice(0, nl)) as { type: string; object: T });
          buf = buf.slice(nl + 1);
        }
        if (until(events)) break;
      }
    } catch (err) {
      if (!ac.signal.aborted) throw err;
    } finally {
      clearTimeout(timer);
      ac.abort();
    }
    return events;
  }

  static async create(opts: { apiServers?: number } = {}): Promise<TestKubeCluster> {
    const raftkv = await TestRaftKvCluster.create({ size: 3 });
    const home = await mkdtemp(path.join(tmpdir(), 'flotilla-kubectl-home-'));
    const c = new TestKubeCluster(raftkv, home);
    try {
      await c.writePki();
      await raftkv.startAll();
      for (let i = 1; i <= (opts.apiServers ?? 1); i++) await c.startApiServer(`api${i}`);
      await c.writeKubeconfig();
    } catch (err) {
      await c.close();
      throw err;
    }
    return c;
  }

  async startApiServer(name: string): Promise<string> {
    const port = await freePort();
    const url = `https://127.0.0.1:${port}`;
    const proc = spawn(process.execPath, [
      FLOTILLA_BIN, 'apiserver', '--name', name, '--etcd-servers', this.raftkv.endpoints().join(','), '--port', String(port),
      '--tls-cert-file', path.join(this.home, 'apiserver.crt'), '--tls-private-key-file', path.join(this.home, 'apiserver.key'),
      '--client-ca-file', path.join(this.home, 'ca.crt'), '--token-auth-file', path.join(this.home, 'tokens.csv'),
      '--service-account-key-file', path.join(this.home, 'sa.pub'), '--service-account-signing-key-file', path.join(this.home, 'sa.key'),
      '--kubelet-client-certificate', path.join(this.home, 'kubelet-client.crt'), '--kubelet-client-key', path.join(this.home, 'kubelet-client.key'),
    ], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const log: string[] = [];
    const keep = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) if (line) log.push(line);
      if (log.length > 1000) log.splice(0, log.length - 1000);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    this.apiServers.push({ name, url, proc, exit, log });
    await waitFor(`${name} ready`, async () => {
      if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode}:\n${log.join('\n')}`);
      const res = await this.call('GET', '/readyz', undefined, { base: url, token: null }).catch(() => undefined);
      return res?.status === 200 ? true : undefined;
    }, 30_000);
    return url;
  }

  get url(): string {
    return this.apiServers[0].url;
  }

  async killApiServer(name: string): Promise<void> {
    const a = this.apiServers.find((x) => x.name === name);
    if (!a || a.proc.exitCode !== null) return;
    a.proc.kill('SIGKILL');
    await a.exit;
  }

  /** A kubeconfig (JSON is valid YAML) with one context per replica; "api1" is current. */
  async writeKubeconfig(): Promise<void> {
    const cfg = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: this.apiServers.map((a) => ({ name: a.name, cluster: { server: a.url, 'certificate-authority-data': Buffer.from(this.ca.certPem).toString('base64') } })),
      users: [{ name: 'admin', user: { token: this.adminToken } }],
      contexts: this.apiServers.map((a) => ({ name: a.name, context: { cluster: a.name, user: 'admin', namespace: 'default' } })),
      'current-context': this.apiServers[0].name,
    };
    await writeFile(path.join(this.home, 'kubeconfig'), JSON.stringify(cfg));
  }

  /** Writes a kubeconfig for `token` (all replicas, the first current) and returns its path. */
  async kubeconfigFor(token: string, name: string): Promise<string> {
    const file = path.join(this.home, `${name}.kubeconfig`);
    const ca = Buffer.from(this.ca.certPem).toString('base64');
    await writeFile(file, JSON.stringify({
      apiVersion: 'v1', kind: 'Config',
      // Each cluster lists every replica too, as `flotilla up` writes them, so components fail over.
      clusters: this.apiServers.map((a) => ({ name: a.name, cluster: { server: a.url, 'certificate-authority-data': ca, extensions: [serversExtension(this.apiServers.map((x) => x.url))] } })),
      users: [{ name, user: { token } }],
      contexts: this.apiServers.map((a) => ({ name: a.name, context: { cluster: a.name, user: name } })),
      'current-context': this.apiServers[0].name,
    }), { mode: 0o600 });
    return file;
  }

  /** Runs the real kubectl with this cluster's kubeconfig; never throws on a non-zero exit. */
  kubectl(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<KubectlResult> {
    return new Promise((resolve, reject) => {
      const child = execFile('kubectl', args, {
        env: { PATH: process.env.PATH, HOME: this.home, KUBECONFIG: path.join(this.home, 'kubeconfig') },
        timeout: opts.timeoutMs ?? 30_000,
        maxBuffer: 16 * 1024 * 1024,
      }, (err, stdout, stderr) => {
        if (err && typeof (err as { code?: unknown }).code !== 'number') {
          reject(new Error(`kubectl ${args.join(' ')} did not run: ${err.message}\n${stderr}`));
          return;
        }
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
      if (opts.input !== undefined) child.stdin!.end(opts.input);
    });
  }

  dumpLogs(): string {
    return [this.raftkv.dumpLogs(), ...this.apiServers.map((a) => `--- ${a.name}\n${a.log.slice(-40).join('\n')}`)].join('\n');
  }

  async close(): Promise<void> {
    for (const a of this.apiServers) if (a.proc.exitCode === null && a.proc.signalCode === null) a.proc.kill('SIGKILL');
    await Promise.all(this.apiServers.map((a) => a.exit));
    await this.raftkv.close();
    await this.dispatcher.close();
    await rm(this.home, { recursive: true, force: true });
  }
}
