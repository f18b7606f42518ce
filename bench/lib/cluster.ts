/**
 * A local N-member cluster of etcd-style processes on 127.0.0.1: free ports, one data dir per
 * member under the supervisor's temp root, start/kill/restart by PID, health waiting, RSS.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { waitHealthy } from './etcdv3.js';
import { freePorts, rssKiB, tail, type ManagedProcess, type Supervisor } from './proc.js';

export interface MemberSpec {
  name: string;
  clientURL: string;
  peerURL: string;
  dataDir: string;
}

export interface ClusterKind {
  /** Short label, e.g. "etcd" or "raftkv". */
  kind: string;
  command: string;
  /** Command-line arguments for `member` of `all`; the same arguments are used on restart. */
  args(member: MemberSpec, all: MemberSpec[], token: string): string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface Member extends MemberSpec {
  proc?: ManagedProcess;
  logFile: string;
}

export class LocalCluster {
  readonly members: Member[] = [];
  readonly dir: string;
  private readonly token: string;

  private constructor(
    private readonly sup: Supervisor,
    private readonly spec: ClusterKind,
    dir: string,
  ) {
    this.dir = dir;
    this.token = `bench-${spec.kind}-${process.pid}-${Date.now()}`;
  }

  static async create(sup: Supervisor, spec: ClusterKind, size = 3): Promise<LocalCluster> {
    const dir = join(sup.root, spec.kind);
    mkdirSync(dir, { recursive: true });
    const c = new LocalCluster(sup, spec, dir);
    const ports = await freePorts(size * 2);
    for (let i = 0; i < size; i++) {
      const name = `m${i + 1}`;
      c.members.push({
        name,
        clientURL: `http://127.0.0.1:${ports[2 * i]}`,
        peerURL: `http://127.0.0.1:${ports[2 * i + 1]}`,
        dataDir: join(dir, `${name}.data`),
        logFile: join(dir, `${name}.log`),
      });
    }
    return c;
  }

  get origins(): string[] {
    return this.members.map((m) => m.clientURL);
  }

  member(origin: string): Member {
    const m = this.members.find((x) => x.clientURL === origin);
    if (!m) throw new Error(`no member serves ${origin}`);
    return m;
  }

  startMember(m: Member): void {
    m.proc = this.sup.spawn(`${this.spec.kind} ${m.name}`, this.spec.command, this.spec.args(m, this.members, this.token), {
      env: this.spec.env,
      cwd: this.spec.cwd,
      logFile: m.logFile,
    });
  }

  /** Throws (with the member's log tail) if any started member has exited. */
  checkAlive(): void {
    for (const m of this.members) {
      if (m.proc?.exit) {
        throw new Error(
          `${this.spec.kind} ${m.name} exited (code ${m.proc.exit.code}, signal ${m.proc.exit.signal}); last log lines:\n${tail(m.logFile)}`,
        );
      }
    }
  }

  /** Starts every member and waits until they agree on a leader that accepts a put. Returns the leader's origin. */
  async start(timeoutMs = 60_000): Promise<string> {
    for (const m of this.members) this.startMember(m);
    return this.waitHealthy(timeoutMs);
  }

  async waitHealthy(timeoutMs = 60_000): Promise<string> {
    try {
      return await waitHealthy(this.origins, timeoutMs, () => this.checkAlive());
    } catch (err) {
      if (/ exited \(code /.test((err as Error).message)) throw err; // already carries its log tail
      const logs = this.members.map((m) => `--- ${this.spec.kind} ${m.name} (${m.logFile}):\n${tail(m.logFile, 15)}`).join('\n');
      throw new Error(`${(err as Error).message}\n${logs}`);
    }
  }

  async kill(m: Member, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (m.proc) await this.sup.kill(m.proc, signal);
  }

  async restart(m: Member): Promise<void> {
    if (m.proc && !m.proc.exit) await this.kill(m);
    this.startMember(m);
  }

  /** RSS in KiB of each running member, by name. */
  rss(): Map<string, number | undefined> {
    return new Map(this.members.map((m) => [m.name, m.proc && !m.proc.exit ? rssKiB(m.proc.pid) : undefined]));
  }

  /** Kills every member (SIGKILL by PID) and removes the cluster's data dirs. */
  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => this.kill(m)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
