/**
 * A `flotilla scheduler` process for end-to-end tests, with the scheduler's own credentials
 * from a TestKubeCluster; its output is kept (the last 2,000 chunks) for failure messages.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { TestKubeCluster } from './kube-cluster.js';
import { FLOTILLA_BIN } from './raftkv-cluster.js';

export interface SchedulerProcess {
  name: string;
  proc: ChildProcess;
  /** Resolves when the process has exited (also after a SIGKILL). */
  exit: Promise<unknown>;
  log: string[];
}

export async function startScheduler(cluster: TestKubeCluster, name: string): Promise<SchedulerProcess> {
  const kubeconfig = await cluster.kubeconfigFor(cluster.tokens.scheduler, 'scheduler');
  const proc = spawn(process.execPath, [FLOTILLA_BIN, 'scheduler', '--kubeconfig', kubeconfig, '--name', name], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  const keep = (b: Buffer): void => {
    log.push(b.toString());
    if (log.length > 2000) log.splice(0, log.length - 2000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  return { name, proc, log, exit: new Promise((r) => proc.once('exit', r)) };
}

/** SIGKILLs what still runs (stopped ones too) and waits for every one to exit. */
export async function killSchedulers(procs: readonly SchedulerProcess[]): Promise<void> {
  for (const p of procs) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exit));
}
