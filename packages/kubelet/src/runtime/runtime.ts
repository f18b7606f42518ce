/**
 * The one small interface every container runtime implements (process today, docker next), so
 * that pod workers never know which one runs their containers. A compliance suite
 * (runtime.compliance.ts) holds each implementation to the same contract.
 *
 * Contract:
 * - start() returns once the container runs (or has failed to start, as an error).
 * - A container outlives the kubelet: list() after a restart finds every container a previous
 *   kubelet started, with its state, so nothing is started twice and nothing is orphaned.
 * - stop() sends the stop signal, waits up to the grace period, then SIGKILLs; it resolves once
 *   the container has exited. Its exit code is kept until remove().
 * - Logs survive the container until remove().
 */

export interface ContainerSpec {
  /** Identify the pod the container belongs to; recorded so a restarted kubelet can adopt it. */
  podUid: string;
  podNamespace: string;
  podName: string;
  /** The container's name within its pod. */
  name: string;
  image: string;
  /** As Kubernetes defines them: command replaces the image's entrypoint, args its arguments. */
  command?: string[];
  args?: string[];
  env?: Record<string, string>;
  workingDir?: string;
  /** The restart count this start is (0 for the first). */
  attempt: number;
  /** An init container: runs to completion before the pod's other containers start. */
  init?: boolean;
  /** Default SIGTERM. */
  stopSignal?: NodeJS.Signals;
}

export type ContainerState =
  | { state: 'running'; startedAt: string }
  | { state: 'exited'; startedAt: string; finishedAt: string; exitCode: number; signal?: string; reason: 'Completed' | 'Error' };

export interface ContainerRecord {
  id: string;
  spec: ContainerSpec;
  status: ContainerState;
}

export interface LogOptions {
  /** Only the last N lines. */
  tailLines?: number;
}

export class RuntimeError extends Error {
  /** As Kubernetes reports waiting reasons: the kubelet copies it into containerStatuses. */
  constructor(readonly reason: 'CreateContainerError' | 'ErrImagePull' | 'RunContainerError', message: string) {
    super(message);
    this.name = 'RuntimeError';
  }
}

export interface ContainerRuntime {
  readonly name: string;
  start(spec: ContainerSpec): Promise<ContainerRecord>;
  stop(id: string, graceMs: number): Promise<void>;
  inspect(id: string): Promise<ContainerRecord | undefined>;
  /** Every container this runtime manages, running or exited, in start order. */
  list(): Promise<ContainerRecord[]>;
  /** Forgets an exited container and its logs. */
  remove(id: string): Promise<void>;
  logs(id: string, opts?: LogOptions): Promise<Buffer>;
}
