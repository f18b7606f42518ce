/**
 * The docker runtime: each container is a Docker container, always in the host network
 * (DESIGN.md, "Networking": no bridge, pods bind their loopback POD_IP), with its memory and CPU
 * limits enforced by dockerd's cgroups.
 *
 * The runtime keeps no state of its own: everything a restarted kubelet needs to adopt a
 * container (the whole ContainerSpec among it) is in the container's labels. Several kubelets of
 * one machine may share one dockerd, so every container is labelled with its node (`scope`), and
 * this runtime neither lists nor touches a container of another scope: to it, such a container
 * does not exist.
 */
import { constants } from 'node:os';
import { randomBytes } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import Docker from 'dockerode';
import { RuntimeError, type ContainerRecord, type ContainerRuntime, type ContainerSpec, type ContainerState, type ExecResult, type LogOptions } from './runtime.js';

export interface DockerRuntimeOptions {
  /** dockerd's API socket, e.g. /var/run/docker.sock. */
  socketPath: string;
  /** The node name: this runtime sees only the containers labelled with it. */
  scope: string;
}

/** The labels on every container this runtime creates. */
export const DOCKER_LABELS = {
  node: 'io.flotilla.node',
  podUid: 'io.flotilla.pod.uid',
  podNamespace: 'io.flotilla.pod.namespace',
  podName: 'io.flotilla.pod.name',
  container: 'io.flotilla.container.name',
  attempt: 'io.flotilla.container.attempt',
  init: 'io.flotilla.container.init',
  /** The whole ContainerSpec as JSON: what a restarted kubelet adopts. */
  spec: 'io.flotilla.container.spec',
} as const;

/** How long a SIGKILLed container may take to be reported exited before stop() gives up. */
const KILL_WAIT_MS = 10_000;
/** exec() keeps this much output, as Kubernetes' exec probes read at most 10 KiB. */
const EXEC_OUTPUT_BYTES = 10 * 1024;
/** Kubernetes' defaults for a container's log files (containerLogMaxSize, containerLogMaxFiles). */
const LOG_CONFIG = { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '5' } };

export class DockerRuntime implements ContainerRuntime {
  readonly name = 'docker';
  readonly enforcesLimits = true;
  private readonly docker: Docker;
  private readonly scope: string;
  private cpus: Promise<number> | undefined;

  constructor(opts: DockerRuntimeOptions) {
    if (!opts.socketPath) throw new Error('DockerRuntime: socketPath is required');
    if (!opts.scope) throw new Error('DockerRuntime: scope (the node name) is required');
    this.docker = new Docker({ socketPath: opts.socketPath });
    this.scope = opts.scope;
  }

  async start(spec: ContainerSpec): Promise<ContainerRecord> {
    await this.ensureImage(spec);
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer(await this.createOptions(spec));
    } catch (err) {
      throw new RuntimeError('CreateContainerError', dockerMessage(err));
    }
    try {
      await container.start();
    } catch (err) {
      // The caller gets no id to adopt or remove, so a container that never ran must not stay.
      await container.remove({ force: true }).catch(() => undefined);
      throw new RuntimeError('RunContainerError', dockerMessage(err));
    }
    const rec = await this.inspect(container.id);
    if (!rec) throw new RuntimeError('RunContainerError', `container ${container.id} was removed as it started`);
    return rec;
  }

  /** Exits from dockerd's event stream ("die" of this node's containers); it is opened again if it ends. */
  watchExits(onExit: (podUid: string) => void): () => void {
    let stopped = false;
    let stream: NodeJS.ReadableStream | undefined;
    const open = (): void => {
      if (stopped) return;
      const again = (): void => {
        if (!stopped) setTimeout(open, 1_000).unref();
      };
      this.docker.getEvents({ filters: { type: ['container'], event: ['die'], label: [`${DOCKER_LABELS.node}=${this.scope}`] } }).then((s) => {
        if (stopped) {
          (s as unknown as { destroy?: () => void }).destroy?.();
          return;
        }
        stream = s;
        let buf = '';
        s.on('data', (b: Buffer) => {
          buf += b.toString('utf8');
          for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            try {
              const uid = (JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } }).Actor?.Attributes?.[DOCKER_LABELS.podUid];
              if (uid) onExit(uid);
            } catch {
              // not an event
            }
          }
        });
        s.on('error', () => undefined);
        s.on('end', again);
      }, again);
    };
    open();
    return () => {
      stopped = true;
      (stream as unknown as { destroy?: () => void } | undefined)?.destroy?.();
    };
  }

  /** Resolves once the container has exited; a container unknown here (or gone) is left alone. */
  async stop(id: string, graceMs: number): Promise<void> {
    const info = await this.own(id);
    if (!info?.State.Running) return;
    const container = this.docker.getContainer(info.Id);
    // Our own kill-wait-kill rather than `docker stop`, whose grace period counts whole seconds.
    await kill(container, (info.Config as { StopSignal?: string }).StopSignal || 'SIGTERM');
    if (await waitExited(container, graceMs)) return;
    await kill(container, 'SIGKILL');
    if (!(await waitExited(container, KILL_WAIT_MS))) throw new Error(`container ${info.Id} did not exit within ${KILL_WAIT_MS} ms of SIGKILL`);
  }

  async inspect(id: string): Promise<ContainerRecord | undefined> {
    const info = await this.own(id);
    return info && this.record(info);
  }

  async list(filter: { podUid?: string } = {}): Promise<ContainerRecord[]> {
    const labels = [`${DOCKER_LABELS.node}=${this.scope}`, ...(filter.podUid ? [`${DOCKER_LABELS.podUid}=${filter.podUid}`] : [])];
    const found = await this.docker.listContainers({ all: true, filters: { label: labels } });
    const infos = (await Promise.all(found.map((c) => this.own(c.Id)))).filter((i): i is Docker.ContainerInspectInfo => i !== undefined);
    // Start order: docker's creation times carry nanoseconds, and containers are created in order.
    infos.sort((a, b) => compareTimes(a.Created, b.Created));
    return infos.map((i) => this.record(i)).filter((r): r is ContainerRecord => r !== undefined);
  }

  /** Force-removes (a running container is killed); a container already gone is no error. */
  async remove(id: string): Promise<void> {
    const info = await this.own(id);
    if (!info) return;
    try {
      await this.docker.getContainer(info.Id).remove({ force: true });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
  }

  async logs(id: string, opts: LogOptions = {}): Promise<Readable> {
    const info = await this.known(id);
    const container = this.docker.getContainer(info.Id);
    const query = {
      stdout: true,
      stderr: true,
      // Docker's own RFC 3339 prefix (nanoseconds, as `docker logs -t` and kubectl show it).
      timestamps: opts.timestamps ?? false,
      ...(opts.tailLines !== undefined ? { tail: Math.max(0, Math.floor(opts.tailLines)) } : {}),
      // Docker takes "seconds.nanoseconds": the exact instant, where whole seconds would not be.
      ...(opts.sinceTime ? { since: unixTime(opts.sinceTime) } : {}),
    };
    let source: Buffer | NodeJS.ReadableStream;
    try {
      // Unfollowed, dockerode reads the whole answer into a Buffer; followed, it hands us the response.
      source = opts.follow ? await container.logs({ ...query, follow: true }) : await container.logs({ ...query, follow: false });
    } catch (err) {
      if (statusOf(err) === 404) throw new RuntimeError('CreateContainerError', `no container ${id}`);
      throw err;
    }
    return demuxedLog(source, opts.limitBytes, opts.signal);
  }

  /**
   * On a timeout the command may go on running in the container (Docker has no way to kill an
   * exec), as in Kubernetes; exitCode is then -1, for it has none yet.
   */
  async exec(id: string, argv: string[], timeoutMs: number): Promise<ExecResult> {
    const info = await this.known(id);
    let ex: Docker.Exec;
    try {
      ex = await this.docker.getContainer(info.Id).exec({ Cmd: argv, AttachStdin: false, AttachStdout: true, AttachStderr: true, Tty: false });
    } catch (err) {
      throw new RuntimeError('RunContainerError', dockerMessage(err));
    }
    const deadline = Date.now() + timeoutMs;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), timeoutMs);
    const output = new CappedBuffer(EXEC_OUTPUT_BYTES);
    try {
      const stream = (await ex.start({ Detach: false, Tty: false, abortSignal: ac.signal })) as NodeJS.ReadableStream & { destroy(): void };
      await new Promise<void>((resolve, reject) => {
        const frames = new FrameDecoder();
        const done = (): void => {
          ac.signal.removeEventListener('abort', done);
          stream.destroy();
          resolve();
        };
        stream.on('data', (chunk: Buffer) => {
          for (const f of frames.push(chunk)) output.add(f);
        });
        stream.on('end', done);
        stream.on('close', done);
        stream.on('error', (err: Error) => (ac.signal.aborted ? done() : reject(err)));
        if (ac.signal.aborted) done();
        else ac.signal.addEventListener('abort', done, { once: true });
      });
    } catch (err) {
      if (!ac.signal.aborted) throw new RuntimeError('RunContainerError', dockerMessage(err));
    } finally {
      clearTimeout(timer);
    }
    if (ac.signal.aborted) return { exitCode: -1, output: output.value(), timedOut: true };
    // The output ends as the command exits, but dockerd may record its exit code a moment later.
    for (;;) {
      const state = await ex.inspect();
      if (!state.Running && state.ExitCode !== null) return { exitCode: state.ExitCode, output: output.value(), timedOut: false };
      if (Date.now() > deadline) return { exitCode: -1, output: output.value(), timedOut: true };
      await sleep(10);
    }
  }

  /** The container if it exists and is of this scope. */
  private async own(id: string): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      const info = await this.docker.getContainer(id).inspect();
      return info.Config.Labels?.[DOCKER_LABELS.node] === this.scope ? info : undefined;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  private async known(id: string): Promise<Docker.ContainerInspectInfo> {
    const info = await this.own(id);
    // The process runtime's reason for an unknown container; Kubernetes has none better.
    if (!info) throw new RuntimeError('CreateContainerError', `no container ${id}`);
    return info;
  }

  private record(info: Docker.ContainerInspectInfo): ContainerRecord | undefined {
    let spec: ContainerSpec;
    try {
      spec = JSON.parse(info.Config.Labels?.[DOCKER_LABELS.spec] ?? '') as ContainerSpec;
    } catch {
      return undefined; // labelled with our scope by someone else, without a spec: not adoptable
    }
    return { id: info.Id, spec, status: containerState(info) };
  }

  /** Kubernetes' pull policies; an image without a tag means :latest, as in Kubernetes. */
  private async ensureImage(spec: ContainerSpec): Promise<void> {
    const policy = spec.imagePullPolicy ?? 'IfNotPresent';
    const ref = withTag(spec.image);
    if (policy !== 'Always' && (await this.hasImage(ref))) return;
    if (policy === 'Never') throw new RuntimeError('ErrImageNeverPull', `Container image "${spec.image}" is not present with pull policy of Never`);
    try {
      const progress = await this.docker.pull(ref);
      // A pull that fails part-way still answers 200: the error is an event in the progress stream.
      const events = await new Promise<{ error?: string; errorDetail?: { message?: string } }[]>((resolve, reject) => {
        this.docker.modem.followProgress(progress, (err: Error | null, out: { error?: string }[]) => (err ? reject(err) : resolve(out)));
      });
      const failed = events.find((e) => e.error !== undefined || e.errorDetail !== undefined);
      if (failed) throw new Error(failed.errorDetail?.message ?? failed.error);
    } catch (err) {
      throw new RuntimeError('ErrImagePull', dockerMessage(err));
    }
  }

  private async hasImage(ref: string): Promise<boolean> {
    try {
      await this.docker.getImage(ref).inspect();
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw err;
    }
  }

  private async createOptions(spec: ContainerSpec): Promise<Docker.ContainerCreateOptions> {
    const hasCommand = (spec.command?.length ?? 0) > 0;
    const hasArgs = (spec.args?.length ?? 0) > 0;
    const memory = spec.limits?.memoryBytes;
    const cpuMillis = spec.limits?.cpuMillis;
    return {
      name: containerName(this.scope, spec),
      Image: spec.image,
      // Kubernetes: command replaces the image's entrypoint (and drops its cmd), args replace its cmd.
      ...(hasCommand ? { Entrypoint: spec.command, Cmd: spec.args ?? [] } : hasArgs ? { Cmd: spec.args } : {}),
      Env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
      ...(spec.workingDir ? { WorkingDir: spec.workingDir } : {}),
      ...(spec.stopSignal ? { StopSignal: spec.stopSignal } : {}),
      Tty: false,
      OpenStdin: false,
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      Labels: {
        [DOCKER_LABELS.node]: this.scope,
        [DOCKER_LABELS.podUid]: spec.podUid,
        [DOCKER_LABELS.podNamespace]: spec.podNamespace,
        [DOCKER_LABELS.podName]: spec.podName,
        [DOCKER_LABELS.container]: spec.name,
        [DOCKER_LABELS.attempt]: String(spec.attempt),
        [DOCKER_LABELS.init]: String(spec.init ?? false),
        [DOCKER_LABELS.spec]: JSON.stringify(spec),
      },
      HostConfig: {
        // Never a bridge: pods live in the host's network and bind their loopback POD_IP.
        NetworkMode: 'host',
        // The kubelet restarts containers (with back-off), never dockerd.
        RestartPolicy: { Name: 'no' },
        LogConfig: LOG_CONFIG,
        // Swap equal to memory: no swap on top of the limit, as Kubernetes runs containers.
        ...(memory !== undefined ? { Memory: memory, MemorySwap: memory } : {}),
        ...(cpuMillis !== undefined ? { NanoCpus: await this.nanoCpus(cpuMillis) } : {}),
      },
    };
  }

  /**
   * Docker refuses NanoCpus above the machine's CPUs, where Kubernetes' CFS quota would simply
   * not bind; a limit above the machine's CPUs limits nothing, so it is capped to them.
   */
  private async nanoCpus(millis: number): Promise<number> {
    this.cpus ??= this.docker.info().then((i: { NCPU?: number }) => i.NCPU ?? 1);
    const cpus = await this.cpus.catch(() => 1);
    return Math.round(Math.min(Math.max(millis, 10), cpus * 1000) * 1e6);
  }
}

function containerState(info: Docker.ContainerInspectInfo): ContainerState {
  const s = info.State;
  if (s.Running) return { state: 'running', startedAt: isoTime(s.StartedAt) };
  if (s.Status === 'created') {
    // Created but never started (a kubelet died between create and start): it will never run,
    // so the kubelet should see it failed, not completed.
    const at = isoTime(info.Created);
    return { state: 'exited', startedAt: at, finishedAt: at, exitCode: 128, reason: 'Error' };
  }
  const exitCode = s.ExitCode;
  // Docker reports a signal death as 128 + the signal, as shells do; it records no signal name.
  const signal = exitCode > 128 ? signalName(exitCode - 128) : undefined;
  return {
    state: 'exited',
    startedAt: isoTime(s.StartedAt),
    finishedAt: isoTime(s.FinishedAt),
    exitCode,
    ...(signal ? { signal } : {}),
    reason: s.OOMKilled ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error',
  };
}

function signalName(n: number): string | undefined {
  return Object.entries(constants.signals).find(([, v]) => v === n)?.[0];
}

/** A Docker container name: readable in `docker ps`, unique even when an attempt is retried. */
function containerName(scope: string, spec: ContainerSpec): string {
  const clean = (s: string): string => s.replace(/[^a-zA-Z0-9_.-]/g, '-');
  return ['flotilla', scope, spec.podNamespace, spec.podName, spec.name, String(spec.attempt), randomBytes(3).toString('hex')].map(clean).join('_');
}

function withTag(image: string): string {
  if (image.includes('@')) return image;
  const last = image.slice(image.lastIndexOf('/') + 1);
  return last.includes(':') ? image : `${image}:latest`;
}

function isoTime(dockerTime: string): string {
  const t = new Date(dockerTime);
  return Number.isNaN(t.getTime()) ? new Date(0).toISOString() : t.toISOString();
}

/** Orders two RFC 3339 times of nanosecond precision, which Date would cut to milliseconds. */
function compareTimes(a: string, b: string): number {
  const key = (t: string): string => {
    const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)$/.exec(t);
    return m ? `${new Date(`${m[1]}${m[3]}`).getTime().toString().padStart(16, '0')}.${(m[2] ?? '').padEnd(9, '0')}` : t;
  };
  const ka = key(a);
  const kb = key(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function unixTime(d: Date): string {
  const ms = d.getTime();
  const s = Math.floor(ms / 1000);
  return `${s}.${String((ms - s * 1000) * 1e6).padStart(9, '0')}`;
}

async function kill(container: Docker.Container, signal: string): Promise<void> {
  try {
    await container.kill({ signal });
  } catch (err) {
    // 409: it exited by itself in the meantime; 404: it is gone. Either way there is nothing to signal.
    if (statusOf(err) !== 409 && statusOf(err) !== 404) throw err;
  }
}

/** Whether the container exited within ms (Docker's wait, given up on at the deadline). */
async function waitExited(container: Docker.Container, ms: number): Promise<boolean> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    await container.wait({ condition: 'not-running', abortSignal: ac.signal });
    return true;
  } catch (err) {
    if (ac.signal.aborted) return false;
    if (statusOf(err) === 404) return true;
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Docker's multiplexed stream of a container without a TTY: frames of an 8-byte header (stream
 * type, three zero bytes, big-endian payload length) and a payload. Yields the stdout and stderr
 * payloads in the order they were written; a frame may arrive split across chunks.
 */
class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    while (this.pending.length >= 8) {
      const size = this.pending.readUInt32BE(4);
      if (this.pending.length < 8 + size) break;
      const type = this.pending[0];
      if (type === 1 || type === 2) out.push(this.pending.subarray(8, 8 + size));
      this.pending = this.pending.subarray(8 + size);
    }
    return out;
  }
}

class CappedBuffer {
  private readonly parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly cap: number) {}

  add(b: Buffer): void {
    if (this.size >= this.cap) return;
    const part = b.subarray(0, this.cap - this.size);
    this.parts.push(Buffer.from(part));
    this.size += part.length;
  }

  value(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/**
 * The plain text of a log answer: frames decoded, cut at limitBytes. The stream ends when
 * docker's does (a followed container exited), at the limit, or when signal aborts: ending
 * early is a clean end for the reader, never an error.
 */
function demuxedLog(source: Buffer | NodeJS.ReadableStream, limitBytes: number | undefined, signal: AbortSignal | undefined): Readable {
  const out = new PassThrough();
  const frames = new FrameDecoder();
  const limit = limitBytes ?? Infinity;
  let sent = 0;
  let finished = false;
  const upstream = Buffer.isBuffer(source) ? undefined : (source as Readable);

  const finish = (): void => {
    if (finished) return;
    finished = true;
    signal?.removeEventListener('abort', finish);
    if (upstream) {
      upstream.removeAllListeners('data');
      upstream.on('error', () => undefined); // destroying a live response may report the abort
      upstream.destroy();
    }
    if (!out.destroyed) out.end();
  };
  let full = false; // the reader is behind: hold docker's stream until it drains
  const take = (chunk: Buffer): void => {
    for (const f of frames.push(chunk)) {
      const part = f.subarray(0, limit - sent);
      sent += part.length;
      if (part.length > 0 && !out.write(part)) full = true;
      if (sent >= limit) return finish();
    }
  };

  if (signal?.aborted || limit <= 0) {
    finish();
    return out;
  }
  signal?.addEventListener('abort', finish, { once: true });
  // A reader that stops reading (destroys the stream) releases docker's connection too.
  out.on('close', finish);
  if (!upstream) {
    take(source as Buffer);
    finish();
    return out;
  }
  upstream.on('data', (chunk: Buffer) => {
    take(chunk);
    if (full && !finished) {
      full = false;
      upstream.pause();
      out.once('drain', () => upstream.resume());
    }
  });
  upstream.on('end', finish);
  upstream.on('close', finish);
  upstream.on('error', (err: Error) => {
    if (finished) return;
    finished = true;
    signal?.removeEventListener('abort', finish);
    out.destroy(err);
  });
  return out;
}

function statusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null ? (err as { statusCode?: number }).statusCode : undefined;
}

/** Docker's own message, without dockerode's "(HTTP code 500) server error - " preamble. */
function dockerMessage(err: unknown): string {
  const json = typeof err === 'object' && err !== null ? (err as { json?: unknown }).json : undefined;
  if (typeof json === 'object' && json !== null && typeof (json as { message?: unknown }).message === 'string') return (json as { message: string }).message;
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/^\(HTTP code \d+\) [^-]*- /, '').trim();
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
