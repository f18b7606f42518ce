/**
 * Process and machine helpers for the benchmarks: a supervisor that owns every child it starts
 * (killed by PID on stop, error, SIGINT/SIGTERM or exit) together with a temp-dir root that is
 * removed at the end; free loopback ports; RSS from /proc; PATH look-ups.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface ManagedProcess {
  label: string;
  pid: number;
  child: ChildProcess;
  logFile: string;
  /** Set once the process has exited. */
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Where stdout and stderr go; appended to, so restarts keep the earlier output. */
  logFile: string;
}

export class Supervisor {
  readonly root: string;
  private readonly procs = new Set<ManagedProcess>();
  private readonly cleanups: (() => void)[] = [];
  private cleaned = false;

  constructor(prefix = 'flotilla-bench-') {
    this.root = mkdtempSync(join(tmpdir(), prefix));
  }

  spawn(label: string, command: string, args: string[], opts: SpawnOptions): ManagedProcess {
    const fd = openSync(opts.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    if (child.pid === undefined) throw new Error(`could not start ${label} (${command})`);
    const mp: ManagedProcess = {
      label,
      pid: child.pid,
      child,
      logFile: opts.logFile,
      exited: new Promise((resolve) => {
        child.once('exit', (code, signal) => {
          mp.exit = { code, signal };
          this.procs.delete(mp);
          resolve({ code, signal });
        });
      }),
    };
    child.once('error', () => undefined);
    this.procs.add(mp);
    return mp;
  }

  /** Sends `signal` to the process by PID and waits (up to `waitMs`) for it to exit. */
  async kill(p: ManagedProcess, signal: NodeJS.Signals = 'SIGKILL', waitMs = 10_000): Promise<void> {
    if (p.exit) return;
    try {
      process.kill(p.pid, signal);
    } catch {
      return;
    }
    const timer = new Promise<void>((resolve) => setTimeout(resolve, waitMs).unref());
    await Promise.race([p.exited.then(() => undefined), timer]);
    if (!p.exit && signal !== 'SIGKILL') await this.kill(p, 'SIGKILL', waitMs);
  }

  async killAll(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await Promise.all([...this.procs].map((p) => this.kill(p, signal)));
  }

  /**
   * A synchronous step for cleanupSync to run first (newest first), for what the supervisor did
   * not spawn itself, e.g. `flotilla down` for a detached cluster. A throwing step is skipped.
   */
  onCleanup(fn: () => void): void {
    this.cleanups.push(fn);
  }

  /** Synchronous last-resort cleanup: the onCleanup steps, SIGKILL every child by PID, remove the temp root. */
  cleanupSync(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    for (const fn of this.cleanups.splice(0).reverse()) {
      try {
        fn();
      } catch {
        /* best effort */
      }
    }
    for (const p of this.procs) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    rmSync(this.root, { recursive: true, force: true });
  }

  /** On SIGINT/SIGTERM and at exit: kill the children and remove the temp root. */
  installExitHandlers(): void {
    process.once('exit', () => this.cleanupSync());
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(sig, () => {
        process.stderr.write(`\n${sig}: stopping benchmark processes and removing ${this.root}\n`);
        this.cleanupSync();
        process.exit(130);
      });
    }
  }
}

/** Allocates `n` distinct free TCP ports on 127.0.0.1 (all held open together, then released). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const addr = s.address();
    if (!addr || typeof addr === 'string') throw new Error('unexpected server address');
    return addr.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

/** VmRSS of a process in KiB, from /proc/PID/status; undefined if unavailable. */
export function rssKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** CPU time (user + system) a process has used so far, in seconds, from /proc/PID/stat; undefined if unavailable. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name (which may contain spaces): utime and stime are fields 14 and 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[11]) + Number(rest[12]);
    return Number.isFinite(ticks) ? ticks / CLOCK_TICKS : undefined;
  } catch {
    return undefined;
  }
}

/** USER_HZ: Linux reports CPU times in 1/100 s on every architecture Node runs on. */
const CLOCK_TICKS = 100;

/** Absolute path of `cmd` on PATH, or undefined. */
export function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const full = join(dir, cmd);
    if (existsSync(full)) return full;
  }
  return undefined;
}

/** Runs a command with inherited stdio (so the user sees what it does); throws on failure. */
export function runVisible(command: string, args: string[], env?: NodeJS.ProcessEnv): void {
  process.stdout.write(`$ ${[command, ...args].join(' ')}\n`);
  const r = spawnSync(command, args, { stdio: 'inherit', env: env ?? process.env });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
}

/** First line of a command's output (stdout, else stderr), or undefined if it fails to run. */
export function commandOutput(command: string, args: string[]): string | undefined {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return undefined;
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
}

/** Last `lines` lines of a file (for showing why a member did not come up). */
export function tail(file: string, lines = 20): string {
  try {
    const all = readFileSync(file, 'utf8').trimEnd().split('\n');
    return all.slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
