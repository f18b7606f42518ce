/**
 * The process runtime's log collector: one small process per node (per runtime root) that reads
 * every container's stdout and stderr from two FIFOs in the container's directory and writes the
 * container's log (CRI records with the time each line arrived, rotated by size; see
 * container-log.ts). It replaces a per-container shim: a container costs a `sh` waiting for it
 * (which records its exit code) instead of a Node.js process of its own.
 *
 * It outlives the kubelet, as containerd does, so a kubelet restart loses no output. Should the
 * collector itself die, containers do not notice: the waiting `sh` holds each FIFO open for
 * reading too, so a write never fails with SIGPIPE; it blocks once the FIFO's buffer is full,
 * until the runtime has started a new collector, which takes the FIFOs up again.
 *
 * Exits are told by a file the waiting sh drops in <root>/exits (see EXITS), with a slow sweep
 * of every container behind it.
 *
 * The runtime talks to it over an abstract unix socket named after the root: one JSON line
 * `{"attach":DIR}` per new container, answered `{"ok":true}` once the FIFOs exist and are open,
 * before the container starts (a FIFO nobody holds open drops what was written to it); and
 * `{"subscribe":true}`, after which it sends `{"exited":ID}` whenever a container's log is
 * complete after its exit (the kubelet syncs that pod at once).
 *
 * Run as: node log-collector.js <root>. It exits when <root> is gone, or on SIGTERM.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, watch, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { KUBERNETES_LOG_ROTATION, LogWriter, logClock } from './container-log.js';
import type { ContainerFiles } from './container-files.js';

/** The collector's socket for a runtime root (abstract: no file to go stale, no length limit on root). */
export function collectorAddress(root: string): string {
  return `\0flotilla-log-collector-${createHash('sha256').update(path.resolve(root)).digest('hex').slice(0, 24)}`;
}

/** Files in a container's directory that the collector and the runtime share. */
export const FIFO = { stdout: 'stdout', stderr: 'stderr' } as const;
/** Written by the collector once a container has exited and all its output is in the log. */
export const LOG_DONE = 'log.done';
/**
 * The directory under the root where the waiting sh drops a file named after its container when
 * the container has exited: one inotify watch tells the collector of every exit, and no
 * container is polled for it (the container directories see every log write).
 */
export const EXITS = 'exits';

interface Attached {
  writer: LogWriter;
  sockets: net.Socket[];
  lastDataAt: number;
  exitSeenAt?: number;
}

/** How long the output of an exited container must be quiet before its log is closed. */
const DRAIN_MS = 100;
const TICK_MS = 50;
/** Every container is also checked this often, in case a change notice was missed. */
const SWEEP_MS = 2_000;

async function main(root: string): Promise<void> {
  if (!existsSync(root)) process.exit(0); // started for a node whose state is gone already
  const attached = new Map<string, Attached>();
  const clock = logClock();
  const mkfifo = promisify(execFile);

  const attach = async (dir: string): Promise<void> => {
    if (attached.has(dir) || existsSync(path.join(dir, LOG_DONE))) return;
    const fifos = [path.join(dir, FIFO.stdout), path.join(dir, FIFO.stderr)];
    if (!fifos.every((f) => existsSync(f))) await mkfifo('mkfifo', ['-m', '600', ...fifos.filter((f) => !existsSync(f))]);
    let rotation = KUBERNETES_LOG_ROTATION;
    try {
      rotation = (JSON.parse(readFileSync(path.join(dir, 'spec.json'), 'utf8')) as ContainerFiles).rotation ?? rotation;
    } catch {
      // the runtime's default
    }
    const a: Attached = { writer: new LogWriter(dir, rotation, clock), sockets: [], lastDataAt: Date.now() };
    for (const stream of ['stdout', 'stderr'] as const) {
      // Read-write: opening never blocks waiting for a writer, and never sees an end of file.
      const fd = openSync(path.join(dir, FIFO[stream]), constants.O_RDWR | constants.O_NONBLOCK);
      const socket = new net.Socket({ fd, readable: true, writable: false });
      socket.on('data', (chunk: Buffer) => {
        a.lastDataAt = Date.now();
        a.writer.write(stream, chunk);
      });
      socket.on('error', () => undefined);
      a.sockets.push(socket);
    }
    attached.set(dir, a);
  };

  /** Connections that asked to be told of exits (`{"subscribe":true}`): kubelets. */
  const subscribers = new Set<net.Socket>();

  /** Containers whose exit is seen and whose output is being drained. */
  const exiting = new Set<string>();
  const detach = (dir: string, a: Attached): void => {
    for (const s of a.sockets) s.destroy();
    attached.delete(dir);
    exiting.delete(dir);
  };

  const finish = (dir: string, a: Attached): void => {
    detach(dir, a);
    a.writer.end();
    writeFileSync(path.join(dir, LOG_DONE), '');
    rmSync(path.join(root, EXITS, path.basename(dir)), { force: true });
    // The exit counts from now (the runtime reports it once the log is complete): say so.
    for (const sub of subscribers) sub.write(`${JSON.stringify({ exited: path.basename(dir) })}\n`);
  };

  // Only the containers that have exited are looked at each tick; all of them once a sweep.
  let lastSweep = 0;
  const tick = (): void => {
    const now = Date.now();
    if (now - lastSweep >= SWEEP_MS) {
      lastSweep = now;
      if (!existsSync(root)) process.exit(0); // the node's state is gone: nothing left to collect
      for (const [dir, a] of attached) {
        if (!existsSync(dir)) detach(dir, a);
        else if (a.exitSeenAt === undefined && existsSync(path.join(dir, 'exit.json'))) {
          a.exitSeenAt = now;
          exiting.add(dir);
        }
      }
    }
    for (const dir of exiting) {
      const a = attached.get(dir);
      if (!a) exiting.delete(dir);
      else if (now - (a.exitSeenAt ?? now) >= DRAIN_MS && now - a.lastDataAt >= DRAIN_MS) finish(dir, a);
    }
  };

  const server = net.createServer((conn) => {
    let buf = '';
    conn.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let dir = '';
        try {
          const req = JSON.parse(line) as { attach?: unknown; subscribe?: unknown };
          if (req.subscribe === true) {
            subscribers.add(conn);
            conn.on('close', () => subscribers.delete(conn));
            continue;
          }
          dir = String(req.attach ?? '');
        } catch {
          // answered below
        }
        if (!dir.startsWith(path.join(root, 'containers'))) {
          conn.write(`${JSON.stringify({ error: `not a container of ${root}: ${dir}` })}\n`);
          continue;
        }
        attach(dir).then(
          () => conn.write(`${JSON.stringify({ ok: true })}\n`),
          (err: Error) => conn.write(`${JSON.stringify({ error: err.message })}\n`),
        );
      }
    });
    conn.on('error', () => undefined);
  });
  server.on('error', (err: NodeJS.ErrnoException) => {
    // Another collector serves this root already: it is the one.
    process.exit(err.code === 'EADDRINUSE' ? 0 : 1);
  });
  mkdirSync(path.join(root, EXITS), { recursive: true });
  const exitWatch = watch(path.join(root, EXITS), (_event, file) => {
    const a = file ? attached.get(path.join(root, 'containers', String(file))) : undefined;
    if (a && a.exitSeenAt === undefined) {
      a.exitSeenAt = Date.now();
      exiting.add(path.join(root, 'containers', String(file)));
    }
  });
  exitWatch.on('error', () => undefined); // the sweep still finds every exit
  server.listen(collectorAddress(root), () => {
    writeFileSync(path.join(root, 'collector.pid'), String(process.pid));
    // After a restart: take up again the FIFOs of every container whose log is not finished.
    const containers = path.join(root, 'containers');
    for (const id of existsSync(containers) ? readdirSync(containers) : []) {
      const dir = path.join(containers, id);
      if (existsSync(path.join(dir, FIFO.stdout)) && !existsSync(path.join(dir, LOG_DONE))) void attach(dir).catch(() => undefined);
    }
    setInterval(tick, TICK_MS);
  });
  const stop = (): void => {
    for (const [dir, a] of attached) {
      detach(dir, a);
      a.writer.end();
    }
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

// Run as a program (not when imported for collectorAddress).
if (process.argv[1] && path.basename(process.argv[1]).startsWith('log-collector')) {
  const root = process.argv[2];
  if (!root) {
    process.stderr.write('usage: log-collector <root>\n');
    process.exit(2);
  }
  void main(path.resolve(root));
}
