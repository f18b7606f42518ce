/**
 * The process runtime: each container is a process group (its own session) started from its
 * command and args, with its own working directory and log. Needs neither root nor Docker. The
 * image is recorded, not pulled: the command must name a program on the machine.
 *
 * A container costs one small `sh` besides itself: it starts the program in a session of its
 * own, waits for it and writes its exit code to `exit.json`, so the exit code survives a kubelet
 * restart (the kubelet is not the container's parent). Output goes through two FIFOs to the
 * node's log collector (log-collector.ts), one process for all containers, which writes each
 * container's log. Everything lives in one directory per container under `root`, so a restarted
 * kubelet finds (adopts) what the previous one started.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import { createCgroups, detectCgroups, removeCgroups, cgroupJoinArgv, oomKilled, type CgroupLayout, type CgroupPaths } from './cgroups.js';
import type { ContainerFiles } from './container-files.js';
import { LOG_FILE, readContainerLog, type RotationPolicy } from './container-log.js';
import { collectorAddress, EXITS, FIFO, LOG_DONE } from './log-collector.js';
import { RuntimeError, type ContainerRecord, type ContainerRuntime, type ContainerSpec, type ContainerState, type ExecResult, type LogOptions } from './runtime.js';

/** The compiled collector beside this module; from the TypeScript sources (tests), the built one. */
const HERE = path.dirname(fileURLToPath(import.meta.url));
const COLLECTOR = existsSync(path.join(HERE, 'log-collector.js')) ? path.join(HERE, 'log-collector.js') : path.resolve(HERE, '../../dist/runtime/log-collector.js');

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

/** What the waiting `sh` writes when the container has exited. */
interface ExitFile {
  exitCode: number;
  finishedAt: string;
}

/** Where the container runs: its pid (= its process group and session) and its waiting sh's. */
interface PidFile {
  pid: number;
  waiterPid: number;
  startedAt: string;
}

const SIGNAL_NAMES: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 13: 'SIGPIPE', 15: 'SIGTERM' };

/**
 * The waiting sh: holds the FIFOs open (so the container never gets SIGPIPE, even while the
 * collector restarts), ignores the signals meant for the container's group, starts the program
 * in a new session through setsid (its output sent to the FIFOs, its pid written, its cgroups
 * joined before exec), and records how it ended. `$?` of a program killed by signal N is 128+N, as Kubernetes reports it.
 */
const WAITER = [
  'd=$1; setsid=$2; shift 2',
  `exec 3<>"$d/${FIFO.stdout}" 4<>"$d/${FIFO.stderr}"`,
  'trap : TERM INT HUP QUIT',
  // The container points its own stdout and stderr at the FIFOs (containerArgv): with the
  // redirections here, dash would print "Killed" for a container killed by a signal into its log.
  '"$setsid" -w "$@" 3>&- 4>&- </dev/null',
  'code=$?',
  'printf \'{"exitCode":%d,"finishedAt":"%s"}\' "$code" "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" > "$d/.exit.json" && mv "$d/.exit.json" "$d/exit.json"',
  // Tell the log collector (see EXITS in log-collector.ts): $d is <root>/containers/<id>.
  `: > "\${d%/containers/*}/${EXITS}/\${d##*/}" 2>/dev/null`,
].join('\n');

/** The container's own first steps, in its new session: its output to the FIFOs, its pid for the runtime, then its cgroups, then the program. */
function containerArgv(dir: string, cgroupProcs: string[], argv: string[]): string[] {
  const joined = cgroupJoinArgv(cgroupProcs, argv);
  return ['/bin/sh', '-c', `exec >"$0/${FIFO.stdout}" 2>"$0/${FIFO.stderr}" && echo $$ > "$0/pid" && exec "$@"`, dir, ...joined];
}

/** Where argv[0] is, as execvp would find it; undefined if nowhere (a start error, not an exit code). */
function findExecutable(file: string, pathVar: string | undefined, cwd: string): string | undefined {
  const candidates = file.includes('/') ? [path.resolve(cwd, file)] : (pathVar ?? '/usr/bin:/bin').split(':').filter(Boolean).map((d) => path.join(d, file));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return undefined;
}

const SETSID = findExecutable('setsid', '/usr/bin:/bin:/usr/sbin:/sbin', '/');

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

  private readonly root: string;

  constructor(root: string, private readonly options: ProcessRuntimeOptions = {}) {
    // Absolute: a container's waiting sh runs in the container's own working directory.
    this.root = path.resolve(root);
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
    if (!SETSID) throw new RuntimeError('RunContainerError', 'the process runtime needs setsid (util-linux) on the machine');
    const id = `${spec.podUid.slice(0, 8)}-${spec.name}-${spec.attempt}-${randomBytes(3).toString('hex')}`;
    const dir = this.dir(id);
    const rootfs = path.join(dir, 'rootfs');
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: rootfs, ...spec.env };
    const cwd = spec.workingDir ?? rootfs;
    if (!findExecutable(argv[0], env.PATH, cwd)) {
      throw new RuntimeError('RunContainerError', argv[0].includes('/')
        ? `exec: "${argv[0]}": stat ${argv[0]}: no such file or directory`
        : `exec: "${argv[0]}": executable file not found in $PATH`);
    }
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
    const files: ContainerFiles = { argv, env, cwd };
    if (meta.cgroups) files.cgroups = { procs: meta.cgroups.procs, oomEvents: meta.cgroups.oomEvents };
    if (this.options.logRotation) files.rotation = this.options.logRotation;
    await writeFile(path.join(dir, 'spec.json'), JSON.stringify(files));
    await writeFile(path.join(dir, LOG_FILE), '');
    // The collector holds the FIFOs before anything is written to them.
    await this.attach(dir);
    const startedAt = new Date().toISOString();
    const waiter = spawn('/bin/sh', ['-c', WAITER, 'flotilla-container', dir, SETSID, ...containerArgv(dir, meta.cgroups?.procs ?? [], argv)], { cwd, env, detached: true, stdio: 'ignore' });
    const failed = new Promise<Error>((resolve) => waiter.once('error', resolve));
    waiter.unref();
    for (let i = 0; i < 1_000; i++) {
      const err = await Promise.race([failed, sleep(i < 20 ? 2 : 10).then(() => undefined)]);
      if (err) throw new RuntimeError('RunContainerError', `starting ${argv[0]}: ${err.message}`);
      const pid = Number((await readFile(path.join(dir, 'pid'), 'utf8').catch(() => '')).trim());
      if (pid > 0) {
        await writeFile(path.join(dir, 'pid.json'), JSON.stringify({ pid, waiterPid: waiter.pid ?? 0, startedAt } satisfies PidFile));
        return (await this.inspect(id)) as ContainerRecord;
      }
      if (existsSync(path.join(dir, 'exit.json'))) break; // ended before it ran (setsid failed)
    }
    const exit = await readJson<ExitFile>(path.join(dir, 'exit.json'));
    throw new RuntimeError('RunContainerError', exit ? `${spec.name}: the container ended before it started (exit ${exit.exitCode})` : `${spec.name}: the container did not start within 10 s`);
  }

  /** The node's log collector, started if it is not running, takes up a new container's FIFOs. */
  private async attach(dir: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const reply = await new Promise<string>((resolve, reject) => {
          const conn = net.connect(collectorAddress(this.root));
          let buf = '';
          conn.setTimeout(5_000, () => conn.destroy(new Error('the log collector did not answer within 5 s')));
          conn.on('connect', () => conn.write(`${JSON.stringify({ attach: dir })}\n`));
          conn.on('data', (b: Buffer) => {
            buf += b.toString('utf8');
            if (buf.includes('\n')) {
              conn.end();
              resolve(buf.slice(0, buf.indexOf('\n')));
            }
          });
          conn.on('error', reject);
        });
        const answer = JSON.parse(reply) as { ok?: boolean; error?: string };
        if (!answer.ok) throw new RuntimeError('CreateContainerError', `the log collector refused the container: ${answer.error ?? reply}`);
        return;
      } catch (err) {
        if (err instanceof RuntimeError || attempt >= 200) throw err instanceof RuntimeError ? err : new RuntimeError('CreateContainerError', `the log collector: ${(err as Error).message}`);
        if (attempt === 0 || attempt % 50 === 0) this.startCollector();
        await sleep(attempt < 10 ? 5 : 25);
      }
    }
  }

  /** Exits as the log collector reports them; the connection is made again if it drops. */
  watchExits(onExit: (podUid: string) => void): () => void {
    let stopped = false;
    let conn: net.Socket | undefined;
    const connect = (): void => {
      if (stopped) return;
      const c = net.connect(collectorAddress(this.root));
      conn = c;
      let buf = '';
      c.on('connect', () => c.write(`${JSON.stringify({ subscribe: true })}\n`));
      c.on('data', (b: Buffer) => {
        buf += b.toString('utf8');
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const id = (JSON.parse(line) as { exited?: string }).exited;
          if (id) void readJson<Meta>(path.join(this.dir(id), 'meta.json')).then((m) => m && onExit(m.spec.podUid));
        }
      });
      let failed = false;
      c.on('error', () => {
        // No collector (yet): start one, so that there is something to be told by.
        failed = true;
        this.startCollector();
      });
      c.on('close', () => {
        if (!stopped) setTimeout(connect, failed ? 200 : 50).unref();
      });
    };
    connect();
    return () => {
      stopped = true;
      conn?.destroy();
    };
  }

  private lastCollectorKick = 0;

  /** Whether an exit has waited too long for its log to be closed; if so, make sure a collector runs. */
  private collectorLate(exit: ExitFile): boolean {
    if (Date.now() - Date.parse(exit.finishedAt) < 2_000) return false;
    if (Date.now() - this.lastCollectorKick > 5_000) {
      this.lastCollectorKick = Date.now();
      this.startCollector(); // exits at once if one serves this root already
    }
    return true;
  }

  /**
   * Makes sure the node's log collector runs (an agent calls this when it starts, so the first
   * container does not wait for one to boot).
   */
  async ensureCollector(): Promise<void> {
    for (let attempt = 0; attempt < 400; attempt++) {
      if (await this.collectorAnswers()) return;
      if (attempt % 100 === 0) this.startCollector();
      await sleep(25);
    }
    throw new Error(`the log collector for ${this.root} did not start within 10 s`);
  }

  private startCollector(): void {
    // Detached: it outlives this kubelet, as the containers do.
    const c = spawn(process.execPath, [COLLECTOR, this.root], { detached: true, stdio: 'ignore' });
    c.unref();
  }

  private collectorAnswers(): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const conn = net.connect(collectorAddress(this.root));
      conn.on('connect', () => {
        conn.end();
        resolve(true);
      });
      conn.on('error', () => resolve(false));
    });
  }

  /**
   * Stops the node's log collector (`flotilla down`): only when no container is left running.
   * It signals only a process that is this root's collector by its arguments: the pid file of a
   * collector that died may name someone else's process by now. A collector answers on its
   * socket a moment before it writes its pid file, so while one answers and the file does not
   * name it yet, this waits for the file (up to 2 s).
   */
  async stopCollector(): Promise<void> {
    for (let attempt = 0; attempt < 80; attempt++) {
      const pid = Number((await readFile(path.join(this.root, 'collector.pid'), 'utf8').catch(() => '')).trim());
      if (pid > 0 && this.isCollector(pid)) {
        process.kill(pid, 'SIGTERM');
        return;
      }
      if (!(await this.collectorAnswers())) return;
      await sleep(25);
    }
  }

  /** Whether `pid` runs this root's log collector (alive, with the collector and root as its arguments). */
  private isCollector(pid: number): boolean {
    if (!alive(pid)) return false;
    let args: string[];
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      return true; // no /proc here: alive is all we can know
    }
    return args.includes(this.root) && args.some((a) => a.endsWith(`${path.sep}log-collector.js`));
  }

  async inspect(id: string): Promise<ContainerRecord | undefined> {
    const dir = this.dir(id);
    const meta = await readJson<Meta>(path.join(dir, 'meta.json'));
    if (!meta) return undefined;
    const exit = await readJson<ExitFile>(path.join(dir, 'exit.json'));
    const pid = await readJson<PidFile>(path.join(dir, 'pid.json'));
    const startedAt = pid?.startedAt ?? meta.createdAt;
    let status: ContainerState;
    if (exit) {
      // Make sure a collector finishes this container's log, should the one that ran have died.
      if (!existsSync(path.join(dir, LOG_DONE))) this.collectorLate(exit);
      const signal = exit.exitCode > 128 ? SIGNAL_NAMES[exit.exitCode - 128] : undefined;
      const oom = exit.exitCode === 137 && meta.cgroups !== undefined && oomKilled(meta.cgroups.oomEvents);
      status = { state: 'exited', startedAt, finishedAt: exit.finishedAt, exitCode: exit.exitCode, reason: oom ? 'OOMKilled' : exit.exitCode === 0 ? 'Completed' : 'Error', ...(signal ? { signal } : {}) };
    } else if (pid && (alive(pid.waiterPid) || alive(pid.pid))) {
      status = { state: 'running', startedAt };
    } else if (!pid && Date.now() - Date.parse(meta.createdAt) < 10_000) {
      status = { state: 'running', startedAt }; // being started
    } else {
      // The waiting sh died without a word (the machine restarted, say): the container is gone.
      status = { state: 'exited', startedAt, finishedAt: startedAt, exitCode: 255, reason: 'Error' };
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
    // The log of an exited container is complete once the collector says so (it drains the
    // FIFOs within ~100 ms of the exit): wait for that, briefly, so what is read is all of it.
    const complete = async (): Promise<boolean> => {
      if (existsSync(path.join(dir, LOG_DONE))) return true;
      const rec = await this.inspect(id);
      if (rec?.status.state !== 'exited') return false;
      return !existsSync(path.join(dir, FIFO.stdout)) || Date.now() - Date.parse(rec.status.finishedAt) > 2_000;
    };
    if ((await this.inspect(id))?.status.state === 'exited') {
      for (let i = 0; i < 100 && !(await complete()); i++) await sleep(25);
    }
    return readContainerLog(dir, opts, complete);
  }

  /** Runs argv with the container's environment, working directory and cgroups, as `docker exec` would. */
  async exec(id: string, argv: string[], timeoutMs: number): Promise<ExecResult> {
    const dir = this.dir(id);
    const rec = await this.inspect(id);
    if (rec?.status.state !== 'running') throw new RuntimeError('RunContainerError', `container ${id} is not running`);
    const files = await readJson<ContainerFiles>(path.join(dir, 'spec.json'));
    if (!files) throw new RuntimeError('RunContainerError', `container ${id} has no spec`);
    const full = files.cgroups ? cgroupJoinArgv(files.cgroups.procs, argv) : argv;
    return new Promise<ExecResult>((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let timedOut = false;
      const child = spawn(full[0], full.slice(1), { cwd: files.cwd, env: files.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      const keep = (b: Buffer): void => {
        if (size < EXEC_OUTPUT_MAX) chunks.push(b.subarray(0, EXEC_OUTPUT_MAX - size));
        size += b.length;
      };
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          // Never kill(-0): that is this process's own group.
          if (child.pid) process.kill(-child.pid, 'SIGKILL');
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
