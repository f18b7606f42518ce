/**
 * A private Docker engine for one test file: its own dockerd (and the containerd it starts) on
 * its own socket, data and exec roots in a fresh temp dir, with the bridge and iptables off
 * (DESIGN.md, "Networking"). No registry is reachable, so the test image is imported from a
 * rootfs built around Debian's static busybox and tagged `busybox:flotilla-test` and
 * `busybox:latest` (in this dockerd only), which is what the runtime compliance suite names.
 *
 * startDockerd() returns undefined, with the reason printed, when Docker cannot run here (not
 * installed, not root, no static busybox, dockerd fails to start): the test skips. With
 * CI=true it throws instead, because CI may not skip. stop() kills only what it started, by PID.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, openSync, closeSync, readFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { alive } from './pids.js';

/** The imported test image; also tagged busybox:latest in the private dockerd. */
export const TEST_IMAGE = 'busybox:flotilla-test';

const BUSYBOX = '/bin/busybox';
const START_TIMEOUT_MS = 30_000;
const IMPORT_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;

export interface PrivateDockerd {
  socketPath: string;
  /** dockerd's PID (a child of this process). */
  pid: number;
  /** A client of this dockerd. */
  docker: Docker;
  /** Removes every container, stops dockerd (and its containerd), unmounts and deletes its dirs. */
  stop(): Promise<void>;
}

export async function startDockerd(): Promise<PrivateDockerd | undefined> {
  const dockerd = findExecutable('dockerd');
  if (!dockerd) return unavailable('dockerd is not installed (apt-get install docker.io)');
  if (process.getuid?.() !== 0) return unavailable('dockerd needs root');
  if (!isStaticElf(BUSYBOX)) return unavailable(`${BUSYBOX} is missing or not statically linked (apt-get install busybox-static)`);

  // Unix socket paths are limited to ~100 bytes: keep the root short, whatever TMPDIR is.
  const base = await mkdtemp(path.join(tmpdir().length > 60 ? '/tmp' : tmpdir(), 'fdk-'));
  const socketPath = path.join(base, 'd.sock');
  const logFile = path.join(base, 'dockerd.log');
  await Promise.all(['data', 'exec'].map((d) => mkdir(path.join(base, d))));
  // Our own (empty) config file: a machine's /etc/docker/daemon.json must not change this dockerd.
  await writeFile(path.join(base, 'daemon.json'), '{}\n');
  // Its own cgroup parent, so that stop() can remove what this dockerd created and nothing else.
  const cgroupParent = path.basename(base);
  const args = [
    '--bridge=none',
    '--iptables=false',
    '--ip-masq=false',
    '--ip-forward=false', // leave the host's sysctls alone
    '--host', `unix://${socketPath}`,
    '--data-root', path.join(base, 'data'),
    '--exec-root', path.join(base, 'exec'),
    '--pidfile', path.join(base, 'd.pid'),
    '--config-file', path.join(base, 'daemon.json'),
    // cgroupfs whatever the machine's default (systemd's would want a .slice for a parent).
    '--exec-opt', 'native.cgroupdriver=cgroupfs',
    '--cgroup-parent', `/${cgroupParent}`,
    // Apart from other dockerds, should this one find (and use) a machine-wide containerd.
    '--containerd-namespace', cgroupParent,
    '--containerd-plugins-namespace', `${cgroupParent}-plugins`,
  ];
  const logFd = openSync(logFile, 'a');
  let proc: ChildProcess;
  try {
    // No proxy settings: this dockerd has nowhere to go but loopback (DESIGN.md, "Networking").
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/_proxy$/i.test(k)));
    proc = spawn(dockerd, args, { stdio: ['ignore', logFd, logFd], env });
  } finally {
    closeSync(logFd);
  }
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.once('error', () => undefined); // reported through 'exit' and the ping failing
  const pid = proc.pid;
  // A backstop for a test process that exits without stop(): dockerd at least gets its SIGTERM.
  const onExit = (): void => {
    if (proc.exitCode === null && proc.signalCode === null && pid) process.kill(pid, 'SIGTERM');
  };
  process.once('exit', onExit);
  const docker = new Docker({ socketPath });

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopped ??= (async () => {
    process.removeListener('exit', onExit);
    if (proc.exitCode === null && proc.signalCode === null) {
      await removeAllContainers(docker).catch(() => undefined);
      proc.kill('SIGTERM');
      if (!(await settlesWithin(exited, STOP_TIMEOUT_MS))) {
        proc.kill('SIGKILL');
        await settlesWithin(exited, 5_000);
      }
    }
    // dockerd stops the containerd it started, unless dockerd itself had to be SIGKILLed.
    await killByPidFile(path.join(base, 'exec', 'containerd', 'containerd.pid'));
    await unmountUnder(base);
    await removeCgroups(cgroupParent);
    await rm(base, { recursive: true, force: true, maxRetries: 3 });
  })());

  const fail = async (why: string): Promise<undefined> => {
    const log = await readFile(logFile, 'utf8').catch(() => '');
    await stop();
    return unavailable(`${why}\n--- dockerd log (last lines) ---\n${log.split('\n').slice(-15).join('\n')}`);
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) return fail(`dockerd exited (${proc.exitCode ?? proc.signalCode}) before it answered`);
    if (await bounded(docker.ping(), 2_000, 'ping').then(() => true, () => false)) break;
    if (Date.now() > deadline) return fail(`dockerd did not answer on ${socketPath} within ${START_TIMEOUT_MS} ms`);
    await sleep(100);
  }
  try {
    await bounded(importTestImage(docker, base), IMPORT_TIMEOUT_MS, 'importing the test image');
  } catch (err) {
    return fail(`importing the test image failed: ${(err as Error).message}`);
  }
  return { socketPath, pid: pid ?? -1, docker, stop };
}

function unavailable(reason: string): undefined {
  if (process.env.CI === 'true') throw new Error(`Docker tests cannot run, and CI may not skip: ${reason}`);
  console.warn(`skipping Docker tests: ${reason}`);
  return undefined;
}

function findExecutable(name: string): string | undefined {
  // sbin may be missing from a non-login PATH; dockerd lives there on Debian.
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    const file = path.join(dir, name);
    try {
      accessSync(file, fsConstants.X_OK);
      return file;
    } catch {
      // next
    }
  }
  return undefined;
}

/** An ELF file without a PT_INTERP program header needs no dynamic loader: it runs in an empty rootfs. */
function isStaticElf(file: string): boolean {
  let b: Buffer;
  try {
    b = readFileSync(file);
  } catch {
    return false;
  }
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46) return false;
  const is64 = b[4] === 2;
  const le = b[5] === 1;
  const u16 = (o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const phoff = is64 ? Number(le ? b.readBigUInt64LE(32) : b.readBigUInt64BE(32)) : u32(28);
  const phentsize = u16(is64 ? 54 : 42);
  const phnum = u16(is64 ? 56 : 44);
  for (let i = 0; i < phnum; i++) if (u32(phoff + i * phentsize) === 3 /* PT_INTERP */) return false;
  return true;
}

/** A busybox rootfs (every applet linked at its usual path), imported with `docker import`'s API. */
async function importTestImage(docker: Docker, base: string): Promise<void> {
  const rootfs = path.join(base, 'rootfs');
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'root', 'tmp', 'proc', 'sys', 'dev']) await mkdir(path.join(rootfs, d), { recursive: true });
  await chmod(path.join(rootfs, 'tmp'), 0o1777);
  await copyFile(BUSYBOX, path.join(rootfs, 'bin/busybox'));
  await chmod(path.join(rootfs, 'bin/busybox'), 0o755);
  const applets = (await run(BUSYBOX, ['--list-full'])).split('\n').filter((l) => l && l !== 'bin/busybox');
  for (const a of applets) await symlink('/bin/busybox', path.join(rootfs, a)).catch(() => undefined);
  await writeFile(path.join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  await writeFile(path.join(rootfs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  const tarball = path.join(base, 'rootfs.tar');
  await run('tar', ['-C', rootfs, '-cf', tarball, '.']);
  const [repo, tag] = TEST_IMAGE.split(':');
  // Like the real busybox image: `sh` when a container names no command.
  const progress = await docker.importImage(tarball, { repo, tag, changes: ['CMD ["sh"]'] } as object);
  const events = await new Promise<{ error?: string }[]>((resolve, reject) => {
    docker.modem.followProgress(progress, (err: Error | null, out: { error?: string }[]) => (err ? reject(err) : resolve(out)));
  });
  const failed = events.find((e) => e.error);
  if (failed) throw new Error(failed.error);
  await docker.getImage(TEST_IMAGE).tag({ repo, tag: 'latest' });
  await rm(rootfs, { recursive: true, force: true });
}

async function removeAllContainers(docker: Docker): Promise<void> {
  const all = await bounded(docker.listContainers({ all: true }), 10_000, 'listing containers');
  await settlesWithin(Promise.all(all.map((c) => docker.getContainer(c.Id).remove({ force: true }))), 20_000);
}

async function killByPidFile(file: string): Promise<void> {
  const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 1 || !alive(pid)) return;
  // Only a containerd whose command line names our exec root is ours to kill (PIDs get reused).
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.includes('containerd') || !cmdline.includes(path.dirname(file))) return;
  process.kill(pid, 'SIGTERM');
  for (const end = Date.now() + 5_000; alive(pid) && Date.now() < end; ) await sleep(50);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

/** Unmounts (deepest first) whatever is still mounted under dir: overlay layers, shm, netns files. */
async function unmountUnder(dir: string): Promise<void> {
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const points = info
    .split('\n')
    .map((l) => l.split(' ')[4]?.replace(/\\040/g, ' '))
    .filter((p): p is string => p !== undefined && (p === dir || p.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const p of points) await run('umount', ['-l', p]).catch(() => undefined);
}

/** Removes the (by now empty) cgroup parent in every hierarchy, cgroup v1 or v2. */
async function removeCgroups(name: string): Promise<void> {
  const roots = ['/sys/fs/cgroup', ...(await readdir('/sys/fs/cgroup').catch(() => [])).map((d) => path.join('/sys/fs/cgroup', d))];
  for (const root of roots) await rmdir(path.join(root, name)).catch(() => undefined);
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout)));
  });
}

/** Whether p settles within ms (how it settles is for its own caller). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** p, or an error once ms have passed. */
async function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
