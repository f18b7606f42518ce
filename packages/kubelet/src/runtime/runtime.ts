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
 * - Logs survive the container until remove(). A log line carries its time and stream, so that
 *   `kubectl logs --timestamps` and `--since-time` can be answered.
 * - exec() runs a command inside a running container (exec probes use it).
 */
import type { Readable } from 'node:stream';

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
  /**
   * Failed runs in a row before this one (how far into a CrashLoopBackOff it is), recorded so
   * the back-off survives the removal of old runs and a kubelet restart.
   */
  backoffStreak?: number;
  /** An init container: runs to completion before the pod's other containers start. */
  init?: boolean;
  /** Default SIGTERM. */
  stopSignal?: NodeJS.Signals;
  /** From resources.limits; enforced where the runtime can (cgroups), else recorded. */
  limits?: ResourceLimits;
  /** Kubernetes' imagePullPolicy; runtimes without images (process) record it. Default IfNotPresent. */
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
}

export interface ResourceLimits {
  memoryBytes?: number;
  /** Thousandths of a CPU (Kubernetes' millicores): 500 = half a CPU. */
  cpuMillis?: number;
}

export type ContainerState =
  | { state: 'running'; startedAt: string }
  | { state: 'exited'; startedAt: string; finishedAt: string; exitCode: number; signal?: string; reason: 'Completed' | 'Error' | 'OOMKilled' };

export interface ContainerRecord {
  id: string;
  spec: ContainerSpec;
  status: ContainerState;
}

export interface LogOptions {
  /** Only the last N lines (of those at or after sinceTime). */
  tailLines?: number;
  /** Only lines written at or after this time. */
  sinceTime?: Date;
  /** Prefix each line with its RFC 3339 time (nanosecond precision) and a space, as kubectl shows. */
  timestamps?: boolean;
  /** Keep streaming new lines until the container exits (and its output is drained) or signal aborts. */
  follow?: boolean;
  /** Stop after this many bytes. */
  limitBytes?: number;
  signal?: AbortSignal;
}

export interface ExecResult {
  exitCode: number;
  /** stdout and stderr, interleaved as written, truncated to a few KiB (probe messages quote it). */
  output: Buffer;
  timedOut: boolean;
}

export type RuntimeErrorReason = 'CreateContainerError' | 'RunContainerError' | 'ErrImagePull' | 'ErrImageNeverPull';

export class RuntimeError extends Error {
  /** As Kubernetes reports waiting reasons: the kubelet copies it into containerStatuses. */
  constructor(readonly reason: RuntimeErrorReason, message: string) {
    super(message);
    this.name = 'RuntimeError';
  }
}

export interface ContainerRuntime {
  readonly name: string;
  /** Whether memory and CPU limits are enforced here (cgroups); the node reports it when not. */
  readonly enforcesLimits: boolean;
  start(spec: ContainerSpec): Promise<ContainerRecord>;
  stop(id: string, graceMs: number): Promise<void>;
  inspect(id: string): Promise<ContainerRecord | undefined>;
  /** Every container this runtime manages (or only a pod's), running or exited, in start order. */
  list(filter?: { podUid?: string }): Promise<ContainerRecord[]>;
  /** Forgets an exited container and its logs. */
  remove(id: string): Promise<void>;
  /** The container's output (stdout and stderr interleaved), as a stream; RuntimeError if unknown. */
  logs(id: string, opts?: LogOptions): Promise<Readable>;
  /** Runs argv inside the running container, killed after timeoutMs. */
  exec(id: string, argv: string[], timeoutMs: number): Promise<ExecResult>;
  /**
   * Tells, as it happens, that a container of the pod with this uid has exited, so the kubelet
   * syncs the pod at once rather than at its next resync. Best effort: the resync remains the
   * guarantee. Returns a function that stops the notices.
   */
  watchExits(onExit: (podUid: string) => void): () => void;
}

/** All of a log stream, for callers that want it whole (tests, small logs). */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
  return Buffer.concat(chunks);
}
