/**
 * The process runtime's shim: one small process per container that starts it in its own process
 * group, waits for it, and writes how it ended to `exit.json`, so the exit code survives a
 * kubelet restart (the kubelet is not the container's parent then). Like containerd's shim, it
 * is the container's parent for the container's whole life.
 *
 * Run as: node shim.js <containerDir>   (containerDir holds spec.json; output goes to log)
 */
import { spawn } from 'node:child_process';
import { openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

interface ShimSpec {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
}

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: shim <containerDir>\n');
  process.exit(2);
}
const spec = JSON.parse(readFileSync(path.join(dir, 'spec.json'), 'utf8')) as ShimSpec;
const log = openSync(path.join(dir, 'log'), 'a');

function writeAtomic(name: string, value: unknown): void {
  const tmp = path.join(dir, `.${name}.tmp`);
  writeFileSync(tmp, JSON.stringify(value));
  renameSync(tmp, path.join(dir, name));
}

const startedAt = new Date().toISOString();
const child = spawn(spec.argv[0], spec.argv.slice(1), { cwd: spec.cwd, env: spec.env, stdio: ['ignore', log, log], detached: true });
child.on('error', (err) => {
  writeAtomic('exit.json', { exitCode: 128, reason: 'Error', message: err.message, startedAt, finishedAt: new Date().toISOString(), failedToStart: true });
  process.exit(0);
});
if (child.pid !== undefined) writeAtomic('pid.json', { pid: child.pid, shimPid: process.pid, startedAt });
// The kubelet signals the container's process group itself; the shim only has to outlive it.
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => undefined);
child.on('exit', (code, signal) => {
  const exitCode = code ?? 128 + (signal ? (({ SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGHUP: 1, SIGQUIT: 3 }) as Record<string, number>)[signal] ?? 0 : 0);
  writeAtomic('exit.json', { exitCode, signal: signal ?? undefined, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt, finishedAt: new Date().toISOString() });
  process.exit(0);
});
