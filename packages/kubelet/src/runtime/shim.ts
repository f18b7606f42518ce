/**
 * The process runtime's shim: one small process per container that starts it in its own process
 * group, writes its output to the container's log (CRI format, rotated), waits for it, and
 * writes how it ended to `exit.json`, so the exit code survives a kubelet restart (the kubelet
 * is not the container's parent then). Like containerd's shim, it is the container's parent for
 * the container's whole life.
 *
 * Run as: node shim.js <containerDir>   (containerDir holds spec.json; output goes to log)
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { KUBERNETES_LOG_ROTATION, LogWriter, logClock } from './container-log.js';
import type { ShimSpec } from './shim-spec.js';
import { cgroupJoinArgv, oomKilled } from './cgroups.js';


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

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };

function main(dir: string): void {
  const spec = JSON.parse(readFileSync(path.join(dir, 'spec.json'), 'utf8')) as ShimSpec;
  const writeAtomic = (name: string, value: unknown): void => {
    const tmp = path.join(dir, `.${name}.tmp`);
    writeFileSync(tmp, JSON.stringify(value));
    renameSync(tmp, path.join(dir, name));
  };
  const startedAt = new Date().toISOString();
  const failed = (message: string): void => {
    writeAtomic('exit.json', { exitCode: 128, reason: 'Error', message, startedAt, finishedAt: new Date().toISOString(), failedToStart: true });
  };
  if (!findExecutable(spec.argv[0], spec.env.PATH, spec.cwd)) {
    failed(spec.argv[0].includes('/') ? `exec: "${spec.argv[0]}": stat ${spec.argv[0]}: no such file or directory` : `exec: "${spec.argv[0]}": executable file not found in $PATH`);
    return;
  }
  const log = new LogWriter(dir, spec.rotation ?? KUBERNETES_LOG_ROTATION, logClock());
  const argv = spec.cgroups ? cgroupJoinArgv(spec.cgroups.procs, spec.argv) : spec.argv;
  const child = spawn(argv[0], argv.slice(1), { cwd: spec.cwd, env: spec.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout.on('data', (b: Buffer) => log.write('stdout', b));
  child.stderr.on('data', (b: Buffer) => log.write('stderr', b));
  child.on('error', (err) => {
    failed(err.message);
    process.exit(0);
  });
  if (child.pid !== undefined) writeAtomic('pid.json', { pid: child.pid, shimPid: process.pid, startedAt });
  // The kubelet signals the container's process group itself; the shim only has to outlive it.
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => undefined);
  child.on('exit', (code, signal) => {
    const finishedAt = new Date().toISOString();
    const exitCode = code ?? 128 + (signal ? SIGNALS[signal] ?? 0 : 0);
    const oom = signal === 'SIGKILL' && spec.cgroups !== undefined && oomKilled(spec.cgroups.oomEvents);
    const finish = (): void => {
      log.end();
      writeAtomic('exit.json', { exitCode, signal: signal ?? undefined, reason: oom ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error', startedAt, finishedAt });
      process.exit(0);
    };
    // Output still in the pipes belongs to the log before the exit is declared; a background
    // process holding the pipe open must not keep the container "running", so wait only briefly.
    const timer = setTimeout(finish, 1_000);
    child.on('close', () => {
      clearTimeout(timer);
      finish();
    });
  });
}

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: shim <containerDir>\n');
  process.exit(2);
}
main(dir);
