/**
 * What the process runtime hands its shim (shim.ts) in `spec.json`: the resolved program, its
 * environment, the cgroups it joins and how its log rotates. Its own module because the shim
 * runs as a program, so the runtime cannot import it.
 */
import type { RotationPolicy } from './container-log.js';

export interface ShimSpec {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  /** cgroup.procs files the container joins before its program runs (limits), and their OOM counters. */
  cgroups?: { procs: string[]; oomEvents: string[] };
  rotation?: RotationPolicy;
}
