/**
 * Memory and CPU limits for the process runtime, through the kernel's cgroups (v1 or v2,
 * whichever the machine mounts). One cgroup per container under a `flotilla` parent; the
 * container's program joins it before it runs (a shell writes its own PID into cgroup.procs,
 * then execs the program), so not one allocation escapes the limit, and what waits for it stays
 * outside it.
 *
 * Where cgroups cannot be written (no root, a read-only mount), limits are not enforced and the
 * node says so; nothing here throws for that.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ResourceLimits } from './runtime.js';

const ROOT = '/sys/fs/cgroup';
const PARENT = 'flotilla';
/** The CFS period a CPU quota is a share of: Kubernetes uses 100 ms. */
const CPU_PERIOD_US = 100_000;

export interface CgroupPaths {
  /** Directories created for the container (removed with it). */
  dirs: string[];
  /** cgroup.procs files its program joins. */
  procs: string[];
  /** Files whose `oom_kill N` line counts the OOM kills in it. */
  oomEvents: string[];
}

export type CgroupLayout = { version: 1; memory: string; cpu: string } | { version: 2; root: string };

function tryWrite(file: string, value: string): boolean {
  try {
    writeFileSync(file, value);
    return true;
  } catch {
    return false;
  }
}

/** The layout if this process may create cgroups with memory and CPU controllers, else undefined. */
export function detectCgroups(root = ROOT): CgroupLayout | undefined {
  try {
    if (existsSync(path.join(root, 'cgroup.controllers'))) {
      // v2: the parent must hand the memory and cpu controllers down to its children.
      const parent = path.join(root, PARENT);
      mkdirSync(parent, { recursive: true });
      if (!tryWrite(path.join(root, 'cgroup.subtree_control'), '+memory +cpu')) return undefined;
      if (!tryWrite(path.join(parent, 'cgroup.subtree_control'), '+memory +cpu')) return undefined;
      return { version: 2, root: parent };
    }
    const memory = path.join(root, 'memory', PARENT);
    const cpu = path.join(root, 'cpu', PARENT);
    mkdirSync(memory, { recursive: true });
    mkdirSync(cpu, { recursive: true });
    // A probe child proves we may create (not just see) cgroups here.
    const probe = path.join(memory, `probe-${process.pid}`);
    mkdirSync(probe);
    rmdirSync(probe);
    return { version: 1, memory, cpu };
  } catch {
    return undefined;
  }
}

/** Creates the container's cgroups with its limits. Throws if the kernel refuses a value. */
export function createCgroups(layout: CgroupLayout, id: string, limits: ResourceLimits): CgroupPaths {
  const out: CgroupPaths = { dirs: [], procs: [], oomEvents: [] };
  const make = (dir: string): string => {
    mkdirSync(dir, { recursive: true });
    out.dirs.push(dir);
    out.procs.push(path.join(dir, 'cgroup.procs'));
    return dir;
  };
  if (layout.version === 2) {
    const dir = make(path.join(layout.root, id));
    if (limits.memoryBytes !== undefined) {
      writeFileSync(path.join(dir, 'memory.max'), String(limits.memoryBytes));
      tryWrite(path.join(dir, 'memory.swap.max'), '0'); // absent without swap accounting
    }
    if (limits.cpuMillis !== undefined) writeFileSync(path.join(dir, 'cpu.max'), `${Math.max(1000, limits.cpuMillis * 100)} ${CPU_PERIOD_US}`);
    out.oomEvents.push(path.join(dir, 'memory.events'));
    return out;
  }
  if (limits.memoryBytes !== undefined) {
    const dir = make(path.join(layout.memory, id));
    writeFileSync(path.join(dir, 'memory.limit_in_bytes'), String(limits.memoryBytes));
    // With swap accounting, memory+swap gets the same limit: a container may not swap its way past it.
    tryWrite(path.join(dir, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
    out.oomEvents.push(path.join(dir, 'memory.oom_control'));
  }
  if (limits.cpuMillis !== undefined) {
    const dir = make(path.join(layout.cpu, id));
    writeFileSync(path.join(dir, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
    writeFileSync(path.join(dir, 'cpu.cfs_quota_us'), String(Math.max(1000, limits.cpuMillis * 100)));
  }
  return out;
}

/** argv that joins the cgroups, then becomes the program (same PID, so signals and exit code are its own). */
export function cgroupJoinArgv(procs: string[], argv: string[]): string[] {
  if (procs.length === 0) return argv;
  const joins = procs.map((_, i) => `echo $$ > "$${i + 1}"`).join(' && ');
  return ['/bin/sh', '-c', `${joins} && shift ${procs.length} && exec "$@"`, 'flotilla-cgroup-join', ...procs, ...argv];
}

/** Whether the kernel's OOM killer struck in these cgroups. */
export function oomKilled(eventFiles: string[]): boolean {
  for (const f of eventFiles) {
    try {
      const m = /^oom_kill (\d+)$/m.exec(readFileSync(f, 'utf8'));
      if (m && Number(m[1]) > 0) return true;
    } catch {
      // gone, or not there on this kernel
    }
  }
  return false;
}

export function removeCgroups(dirs: string[]): void {
  for (const d of dirs) {
    try {
      rmdirSync(d);
    } catch {
      // still has a process (it will be gone soon) or already removed
    }
  }
}
