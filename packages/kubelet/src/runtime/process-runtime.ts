/**
 * The process runtime: each container is a process group started from its command and args,
 * with its own working directory and log file, under a shim that records how it ended. Needs
 * neither root nor Docker. The image is recorded, not pulled: the command must name a program
 * on the machine. Everything lives in one directory per container under `root`, so a restarted
 * kubelet finds (adopts) what the previous one started.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import { createCgroups, detectCgroups, removeCgroups, cgroupJoinArgv, type CgroupLayout, type CgroupPaths } from './cgroups.js';
import { LOG_FILE, readContainerLog, type RotationPolicy } from './container-log.js';
import type { ShimSpec } from './shim-spec.js';
import { RuntimeError, type ContainerRecord, type ContainerRuntime, type ContainerSpec, type ContainerState, type ExecResult, type LogOptions } from './runtime.js';

/** The compiled shim beside this module; from the TypeScript sources (tests), the built one. */
const HERE = path.dirname(fileURLToPath(import.meta.url));
const SHIM = existsSync(path.join(HERE, 'shim.js')) ? path.join(HERE, 'shim.js') : path.resolve(HERE, '../../dist/runtime/shim.js');

interface Meta {
  spec: ContainerSpec;
  createdAt: string;
  cgroups?: CgroupPaths;
}

export interface ProcessRuntimeOptions {
  /** Log rotation; Kubernetes' defaults (10 MiB × 5 files) if absent. */
  logRotation?: RotationPolicy;
  /** Set false to not enforce limits even where cgroups are writable. */
  cgroups?: boolean;
}

/** Output an exec keeps: enough for a probe's message. */
const EXEC_OUTPUT_MAX = 10 * 1024;

interface ExitFile {
  exitCode: number;
  signal?: string;
  reason: 'Completed' | 'Error' | 'OOMKilled';
  message?: string;
  startedAt: string;
  finishedAt: string;
  failedToStart?: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class ProcessRuntime implements ContainerRuntime {
  readonly name = 'process';
  readonly enforcesLimits: boolean;
  private readonly cgroupLayout: CgroupLayout | undefined;

  constructor(private readonly root: string, private readonly options: ProcessRuntimeOptions = {}) {
    this.cgroupLayout = options.cgroups === false ? undefined : detectCgroups();
    this.enforcesLimits = this.cgroupLayout !== undefined;
  }

  private dir(id: string): string {
    return path.join(this.root, 'containers', id);
  }

  async start(spec: ContainerSpec): Promise<ContainerRecord> {
    const argv = spec.command && spec.command.length > 0 ? [...spec.command, ...(spec.args ?? [])] : [...(spec.args ?? [])];
    if (argv.length === 0) {
      throw new RuntimeError('CreateContainerError', `the process runtime runs a container's command; ${spec.name} (image ${spec.image}) has neither command nor args`);
    }
    const id = `${spec.podUid.slice(0, 8)}-${spec.name}-${spec.attempt}-${randomBytes(3).toString('hex')}`;
    const dir = this.dir(id);
    const rootfs = path.join(dir, 'rootfs');
    await mkdir(rootfs, { recursive: true });
    const meta: Meta = { spec, createdAt: new Date().toISOString() };
    const limits = spec.limits ?? {};
    if (this.cgroupLayout && (limits.memoryBytes !== undefined || limits.cpuMillis !== undefined)) {
      try {
        meta.cgroups = createCgroups(this.cgroupLayout, id, limits);
      } catch (err) {
        throw new RuntimeError('CreateContainerError', `${spec.name}: setting its limits: ${(err as Error).message}`);
      }
    }
    await writeFile(path.join(dir, 'meta.json'), JSON.stringify(meta));
    const shimSpec: ShimSpec = { argv, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: rootfs, ...spec.env }, cwd: spec.workingDir ?? rootfs };
    if (meta.cgroups) shimSpec.cgroups = { procs: meta.cgroups.procs, oomEvents: meta.cgroups.oomEvents };
    if (this.options.logRotation) shimSpec.rotation = this.options.logRotation;
    await writeFile(path.join(dir, 'spec.json'), JSON.stringify(shimSpec));
    await writeFile(path.join(dir, LOG_FILE), '');
    const shim = spawn(process.execPath, [SHIM, dir], { detached: true, stdio: 'ignore' });
    shim.unref();
    // The shim writes pid.json once the process runs, or exit.json if it could not start.
    for (let i = 0; i < 500; i++) {
      const exit = await readJson<ExitFile>(path.join(dir, 'exit.json'));
      if (exit?.failedToStart) throw new RuntimeError('RunContainerError', `starting ${argv[0]}: ${exit.message ?? 'failed'}`);
      if (exit || (await readJson(path.join(dir, 'pid.json')))) return (await this.inspect(id)) as ContainerRecord;
      await sleep(10);
    }
    throw new RuntimeError('RunContainerError', `${spec.name}: the container did not start within 5 s`);
  }

  async inspect(id: string): Promise<ContainerRecord | undefined> {
    const dir = this.dir(id);
    const meta = await readJson<Meta>(path.join(dir, 'meta.json'));
    if (!meta) return undefined;
    const exit = await readJson<ExitFile>(path.join(dir, 'exit.json'));
    const pid = await readJson<{ pid: number; shimPid: number; startedAt: string }>(path.join(dir, 'pid.json'));
    let status: ContainerState;
    if (exit) {
      status = { state: 'exited', startedAt: exit.startedAt, finishedAt: exit.finishedAt, exitCode: exit.exitCode, reason: exit.reason, ...(exit.signal ? { signal: exit.signal } : {}) };
      if (exit.failedToStart) status.startedAt = status.finishedAt;
    } else if (pid && (alive(pid.shimPid) || alive(pid.pid))) {
      status = { state: 'running', startedAt: pid.startedAt };
    } else {
      // The shim died without a word (the machine restarted, say): the container is gone.
      const at = pid?.startedAt ?? meta.createdAt;
      status = { state: 'exited', startedAt: at, finishedAt: at, exitCode: 255, reason: 'Error' };
    }
    return { id, spec: meta.spec, status };
  }

  async list(filter: { podUid?: string } = {}): Promise<ContainerRecord[]> {
    let ids: string[];
    try {
      ids = await readdir(path.join(this.root, 'containers'));
    } catch {
      return [];
    }
    // A container's id starts with its pod's uid (abbreviated): only those need reading.
    if (filter.podUid !== undefined) ids = ids.filter((id) => id.startsWith(`${filter.podUid?.slice(0, 8)}-`));
    const records = (await Promise.all(ids.map((id) => this.inspect(id))))
      .filter((r): r is ContainerRecord => r !== undefined && (filter.podUid === undefined || r.spec.podUid === filter.podUid));
    const created = new Map<string, string>();
    for (const r of records) created.set(r.id, (await readJson<Meta>(path.join(this.dir(r.id), 'meta.json')))?.createdAt ?? '');
    return records.sort((a, b) => ((created.get(a.id) ?? '') < (created.get(b.id) ?? '') ? -1 : 1));
  }

  async stop(id: string, graceMs: number): Promise<void> {
    const dir = this.dir(id);
    const rec = await this.inspect(id);
    if (!rec || rec.status.state === 'exited') return;
    const pid = await readJson<{ pid: number }>(path.join(dir, 'pid.json'));
    if (!pid) return;
    const signalGroup = (sig: NodeJS.Signals): void => {
      try {
        process.kill(-pid.pid, sig); // the whole process group: children of the container too
      } catch {
        // already gone
      }
    };
    const exited = async (ms: number): Promise<boolean> => {
      for (const until = Date.now() + ms; Date.now() <= until; await sleep(20)) {
        if ((await this.inspect(id))?.status.state === 'exited') return true;
      }
      return false;
    };
    signalGroup(rec.spec.stopSignal ?? 'SIGTERM');
    if (await exited(graceMs)) return;
    signalGroup('SIGKILL');
    await exited(5_000);
  }

  async remove(id: string): Promise<void> {
    const rec = await this.inspect(id);
    if (rec?.status.state === 'running') await this.stop(id, 0);
    const meta = await readJson<Meta>(path.join(this.dir(id), 'meta.json'));
    if (meta?.cgroups) removeCgroups(meta.cgroups.dirs);
    await rm(this.dir(id), { recursive: true, force: true });
  }

  async logs(id: string, opts: LogOptions = {}): Promise<Readable> {
    const dir = this.dir(id);
    if (!(await readJson<Meta>(path.join(dir, 'meta.json')))) throw new RuntimeError('CreateContainerError', `no container ${id}`);
    return readContainerLog(dir, opts, async () => existsSync(path.join(dir, 'exit.json')) || (await this.inspect(id))?.status.state !== 'running');
  }

  /** Runs argv with the container's environment, working directory and cgroups, as `docker exec` would. */
  async exec(id: string, argv: string[], timeoutMs: number): Promise<ExecResult> {
    const dir = this.dir(id);
    const rec = await this.inspect(id);
    if (rec?.status.state !== 'running') throw new RuntimeError('RunContainerError', `container ${id} is not running`);
    const shimSpec = await readJson<ShimSpec>(path.join(dir, 'spec.json'));
    if (!shimSpec) throw new RuntimeError('RunContainerError', `container ${id} has no spec`);
    const full = shimSpec.cgroups ? cgroupJoinArgv(shimSpec.cgroups.procs, argv) : argv;
    return new Promise<ExecResult>((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let timedOut = false;
      const child = spawn(full[0], full.slice(1), { cwd: shimSpec.cwd, env: shimSpec.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      const keep = (b: Buffer): void => {
        if (size < EXEC_OUTPUT_MAX) chunks.push(b.subarray(0, EXEC_OUTPUT_MAX - size));
        size += b.length;
      };
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          process.kill(-(child.pid ?? 0), 'SIGKILL');
        } catch {
          // already gone
        }
      }, timeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        resolve({ exitCode: 126, output: Buffer.from(err.message), timedOut: false });
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ exitCode: code ?? 128 + (signal === 'SIGKILL' ? 9 : 15), output: Buffer.concat(chunks), timedOut });
      });
    });
  }
}
