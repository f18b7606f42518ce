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
import { RuntimeError, type ContainerRecord, type ContainerRuntime, type ContainerSpec, type ContainerState, type LogOptions } from './runtime.js';

/** The compiled shim beside this module; from the TypeScript sources (tests), the built one. */
const HERE = path.dirname(fileURLToPath(import.meta.url));
const SHIM = existsSync(path.join(HERE, 'shim.js')) ? path.join(HERE, 'shim.js') : path.resolve(HERE, '../../dist/runtime/shim.js');

interface Meta {
  spec: ContainerSpec;
  createdAt: string;
}

interface ExitFile {
  exitCode: number;
  signal?: string;
  reason: 'Completed' | 'Error';
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

  constructor(private readonly root: string) {}

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
    await writeFile(path.join(dir, 'meta.json'), JSON.stringify(meta));
    await writeFile(path.join(dir, 'spec.json'), JSON.stringify({ argv, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: rootfs, ...spec.env }, cwd: spec.workingDir ?? rootfs }));
    await writeFile(path.join(dir, 'log'), '');
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
    } else if (pid && (alive(pid.shimPid) || alive(pid.pid))) {
      status = { state: 'running', startedAt: pid.startedAt };
    } else {
      // The shim died without a word (the machine restarted, say): the container is gone.
      const at = pid?.startedAt ?? meta.createdAt;
      status = { state: 'exited', startedAt: at, finishedAt: at, exitCode: 255, reason: 'Error' };
    }
    return { id, spec: meta.spec, status };
  }

  async list(): Promise<ContainerRecord[]> {
    let ids: string[];
    try {
      ids = await readdir(path.join(this.root, 'containers'));
    } catch {
      return [];
    }
    const records = (await Promise.all(ids.map((id) => this.inspect(id)))).filter((r): r is ContainerRecord => r !== undefined);
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
    await rm(this.dir(id), { recursive: true, force: true });
  }

  async logs(id: string, opts: LogOptions = {}): Promise<Buffer> {
    let buf: Buffer;
    try {
      buf = await readFile(path.join(this.dir(id), 'log'));
    } catch {
      throw new RuntimeError('CreateContainerError', `no container ${id}`);
    }
    if (opts.tailLines === undefined) return buf;
    const text = buf.toString('utf8');
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    return Buffer.from(lines.slice(Math.max(0, lines.length - opts.tailLines)).map((l) => `${l}\n`).join(''));
  }
}
