/**
 * A real Kubernetes control plane for end-to-end tests: a raftkv cluster (TestRaftKvCluster) and
 * N `flotilla apiserver` processes over it, plus a private HOME and kubeconfig so that the real
 * `kubectl` runs against it without touching the developer's own. close() kills every process
 * by PID and removes every temp dir, even when the test failed.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { FLOTILLA_BIN, TestRaftKvCluster } from './raftkv-cluster.js';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class TestKubeCluster {
  readonly apiServers: { name: string; url: string; proc: ChildProcess; exit: Promise<number | null>; log: string[] }[] = [];
  private constructor(
    readonly raftkv: TestRaftKvCluster,
    readonly home: string,
  ) {}

  static async create(opts: { apiServers?: number } = {}): Promise<TestKubeCluster> {
    const raftkv = await TestRaftKvCluster.create({ size: 3 });
    const home = await mkdtemp(path.join(tmpdir(), 'flotilla-kubectl-home-'));
    const c = new TestKubeCluster(raftkv, home);
    try {
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
    const url = `http://127.0.0.1:${port}`;
    const proc = spawn(process.execPath, [FLOTILLA_BIN, 'apiserver', '--name', name, '--etcd-servers', this.raftkv.endpoints().join(','), '--port', String(port)], {
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
      const res = await fetch(`${url}/readyz`).catch(() => undefined);
      return res?.ok ? true : undefined;
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
      clusters: this.apiServers.map((a) => ({ name: a.name, cluster: { server: a.url } })),
      users: [{ name: 'admin', user: {} }],
      contexts: this.apiServers.map((a) => ({ name: a.name, context: { cluster: a.name, user: 'admin', namespace: 'default' } })),
      'current-context': this.apiServers[0].name,
    };
    await writeFile(path.join(this.home, 'kubeconfig'), JSON.stringify(cfg));
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
    await rm(this.home, { recursive: true, force: true });
  }
}

/** Like trackClusters: closes every cluster after each test and prints logs when it failed. */
export function trackKubeClusters(): (c: TestKubeCluster) => TestKubeCluster {
  const live: TestKubeCluster[] = [];
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') for (const c of live) console.error(c.dumpLogs());
    for (const c of live.splice(0)) await c.close();
  });
  return (c) => {
    live.push(c);
    return c;
  };
}
