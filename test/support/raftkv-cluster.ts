/**
 * Real raftkv clusters for end-to-end tests: each member is its own `flotilla raftkv` process
 * on loopback ports, with its own data dir under a temp dir that close() removes. Members can
 * be SIGKILLed, SIGTERMed, restarted, added and removed. Every process is killed by PID on
 * close(), even if the test failed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { RaftKvClient } from '@flotilla/raftkv/client';
import { freePorts } from './ports.js';
import { waitFor } from './wait.js';

export const FLOTILLA_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../packages/cli/bin/flotilla.js');

export interface MemberSpec {
  name: string;
  clientURL: string;
  peerURL: string;
  dataDir: string;
}

export interface ClusterOptions {
  size?: number;
  snapshotCount?: number;
  catchUpEntries?: number;
  extraArgs?: string[];
}

export class TestRaftKvCluster {
  readonly members: MemberSpec[] = [];
  private readonly procs = new Map<string, ChildProcess>();
  private readonly exits = new Map<string, Promise<number | null>>();
  readonly logs = new Map<string, string[]>();
  readonly secret = `test-secret-${Math.random().toString(36).slice(2)}`;
  readonly token = `test-cluster-${Math.random().toString(36).slice(2)}`;
  private constructor(readonly root: string, readonly opts: ClusterOptions) {}

  static async create(opts: ClusterOptions = {}): Promise<TestRaftKvCluster> {
    const root = await mkdtemp(path.join(tmpdir(), 'flotilla-raftkv-'));
    const c = new TestRaftKvCluster(root, opts);
    const n = opts.size ?? 3;
    for (let i = 1; i <= n; i++) await c.allocate(`m${i}`);
    return c;
  }

  private async allocate(name: string): Promise<MemberSpec> {
    const [cp, pp] = await freePorts(2);
    const spec = { name, clientURL: `http://127.0.0.1:${cp}`, peerURL: `http://127.0.0.1:${pp}`, dataDir: path.join(this.root, name) };
    this.members.push(spec);
    return spec;
  }

  initialCluster(members = this.members): string {
    return members.map((m) => `${m.name}=${m.peerURL}`).join(',');
  }

  member(name: string): MemberSpec {
    const m = this.members.find((x) => x.name === name);
    if (!m) throw new Error(`no member ${name}`);
    return m;
  }

  start(name: string, state: 'new' | 'existing' = 'new', initialCluster = this.initialCluster(), extra: string[] = []): void {
    const m = this.member(name);
    const args = [
      FLOTILLA_BIN, 'raftkv',
      '--name', m.name, '--data-dir', m.dataDir,
      '--listen-client-urls', m.clientURL, '--listen-peer-urls', m.peerURL,
      '--initial-cluster', initialCluster, '--initial-cluster-state', state,
      '--initial-cluster-token', this.token,
      '--snapshot-count', String(this.opts.snapshotCount ?? 100_000),
      '--experimental-snapshot-catchup-entries', String(this.opts.catchUpEntries ?? 5_000),
      ...(this.opts.extraArgs ?? []), ...extra,
    ];
    const child = spawn(process.execPath, args, { env: { ...process.env, FLOTILLA_PEER_SECRET: this.secret }, stdio: ['ignore', 'pipe', 'pipe'] });
    const log = this.logs.get(name) ?? [];
    this.logs.set(name, log);
    const keep = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) if (line) log.push(line);
      if (log.length > 2000) log.splice(0, log.length - 2000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.procs.set(name, child);
    this.exits.set(name, new Promise((resolve) => child.on('exit', (code) => resolve(code))));
  }

  async startAll(): Promise<void> {
    for (const m of this.members) this.start(m.name);
    await this.waitForLeader();
  }

  isRunning(name: string): boolean {
    const p = this.procs.get(name);
    return !!p && p.exitCode === null && p.signalCode === null;
  }

  /** SIGKILL: no chance to flush or hand over anything. */
  async kill(name: string): Promise<void> {
    const p = this.procs.get(name);
    if (!p || !this.isRunning(name)) return;
    p.kill('SIGKILL');
    await this.exits.get(name);
  }

  /** Sends a signal without waiting (SIGSTOP/SIGCONT freeze and thaw a member, say). */
  signal(name: string, sig: NodeJS.Signals): void {
    const p = this.procs.get(name);
    if (p && this.isRunning(name)) p.kill(sig);
  }

  /** SIGTERM and wait for the exit code. */
  async terminate(name: string): Promise<number | null> {
    const p = this.procs.get(name);
    if (!p || !this.isRunning(name)) return p?.exitCode ?? null;
    p.kill('SIGTERM');
    return (await this.exits.get(name)) ?? null;
  }

  exited(name: string): Promise<number | null> | undefined {
    return this.exits.get(name);
  }

  async addSpec(name: string): Promise<MemberSpec> {
    return this.allocate(name);
  }

  dropSpec(name: string): void {
    const i = this.members.findIndex((m) => m.name === name);
    if (i >= 0) this.members.splice(i, 1);
  }

  endpoints(names?: string[]): string[] {
    return this.members.filter((m) => !names || names.includes(m.name)).map((m) => m.clientURL);
  }

  client(names?: string[], timeoutMs = 5_000): RaftKvClient {
    return new RaftKvClient({ endpoints: this.endpoints(names), timeoutMs });
  }

  /** The member every running member agrees is the leader. */
  async waitForLeader(timeoutMs = 20_000): Promise<MemberSpec> {
    return waitFor('a leader that every running member agrees on', async () => {
      const running = this.members.filter((m) => this.isRunning(m.name));
      const c = new RaftKvClient({ endpoints: running.map((m) => m.clientURL), timeoutMs: 1_000 });
      try {
        const leaders = new Set<number>();
        let leaderSpec: MemberSpec | undefined;
        for (const m of running) {
          const st = await c.status(m.clientURL);
          if (!st.leader) return undefined;
          leaders.add(st.leader);
          if (st.header.memberId === st.leader) leaderSpec = m;
        }
        return leaders.size === 1 ? leaderSpec : undefined;
      } finally {
        await c.close();
      }
    }, timeoutMs, 100);
  }

  dumpLogs(): string {
    return [...this.logs].map(([n, l]) => `--- ${n}\n${l.slice(-40).join('\n')}`).join('\n');
  }

  async close(): Promise<void> {
    for (const [name, p] of this.procs) {
      if (this.isRunning(name)) p.kill('SIGKILL');
    }
    await Promise.all([...this.exits.values()]);
    await rm(this.root, { recursive: true, force: true });
  }
}

/**
 * Registers an afterEach that prints the members' logs when the test failed and closes every
 * cluster the test created. Returns the function that registers a cluster.
 */
export function trackClusters(): (c: TestRaftKvCluster) => TestRaftKvCluster {
  const live: TestRaftKvCluster[] = [];
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') for (const c of live) console.error(c.dumpLogs());
    for (const c of live.splice(0)) await c.close();
  });
  return (c) => {
    live.push(c);
    return c;
  };
}
