/**
 * A `flotilla agent` process (node agent + kubelet) for end-to-end tests, with a node's own
 * credentials from a TestKubeCluster, its own container root, and its kubelet server on a free
 * port. It can be killed and started again on the same root (a restarted kubelet adopts its
 * containers). close() stops the agent and every container it left, and removes its root.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DockerRuntime, ProcessRuntime, type ContainerRuntime } from '@flotilla/kubelet';
import type { TestKubeCluster } from './kube-cluster.js';
import { FLOTILLA_BIN } from './raftkv-cluster.js';
import { waitFor } from './wait.js';

export interface AgentOptions {
  name: 'node-1' | 'node-2';
  runtime?: 'process' | 'docker';
  /** For the docker runtime: the engine's socket. */
  dockerSocket?: string;
  /** The node's pod block (--pod-cidr); without it pods have the node's IP. */
  podCIDR?: string;
  /** Extra flags, e.g. --container-restart-backoff or --memory. */
  args?: string[];
}

export class TestAgent {
  proc: ChildProcess | undefined;
  exit: Promise<number | null> = Promise.resolve(null);
  readonly log: string[] = [];

  private constructor(private readonly cluster: TestKubeCluster, readonly opts: AgentOptions, readonly root: string, private readonly kubeconfig: string) {}

  static async start(cluster: TestKubeCluster, opts: AgentOptions): Promise<TestAgent> {
    const root = await mkdtemp(path.join(tmpdir(), `flotilla-agent-${opts.name}-`));
    const token = opts.name === 'node-1' ? cluster.tokens.node1 : cluster.tokens.node2;
    const a = new TestAgent(cluster, opts, root, await cluster.kubeconfigFor(token, opts.name));
    try {
      await a.restart();
    } catch (err) {
      await a.close();
      throw err;
    }
    return a;
  }

  /** The runtime the agent uses, opened on the same state (to look at, or to clean up). */
  runtime(): ContainerRuntime {
    return this.opts.runtime === 'docker' ? new DockerRuntime({ socketPath: this.opts.dockerSocket ?? '', scope: this.opts.name }) : new ProcessRuntime(this.root);
  }

  /** Starts the agent (again, after kill()) and waits until it has registered its node. */
  async restart(): Promise<void> {
    const proc = spawn(process.execPath, [
      FLOTILLA_BIN, 'agent', '--kubeconfig', this.kubeconfig, '--node-name', this.opts.name, '--node-ip', '127.0.0.1',
      '--root', this.root, '--runtime', this.opts.runtime ?? 'process', '--port', '0', '--client-ca-file', path.join(this.cluster.home, 'ca.crt'),
      ...(this.opts.dockerSocket ? ['--docker-endpoint', `unix://${this.opts.dockerSocket}`] : []),
      ...(this.opts.podCIDR ? ['--pod-cidr', this.opts.podCIDR] : []),
      ...(this.opts.args ?? []),
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) if (line) this.log.push(line);
      if (this.log.length > 2000) this.log.splice(0, this.log.length - 2000);
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    this.proc = proc;
    this.exit = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
    const mark = this.log.length;
    await waitFor(`${this.opts.name} registered`, async () => {
      if (proc.exitCode !== null) throw new Error(`agent ${this.opts.name} exited with ${proc.exitCode}:\n${this.log.join('\n')}`);
      return this.log.slice(mark).some((l) => l.includes('node registered')) ? true : undefined;
    }, 30_000);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    await this.exit;
  }

  async close(): Promise<void> {
    await this.kill();
    const rt = this.runtime();
    for (const r of await rt.list().catch(() => [])) {
      await rt.stop(r.id, 0).catch(() => undefined);
      await rt.remove(r.id).catch(() => undefined);
    }
    await rm(this.root, { recursive: true, force: true });
  }
}
