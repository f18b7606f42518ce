/**
 * What the process runtime writes to a container's `spec.json`, for what runs beside it: the
 * resolved program, its environment and working directory (exec runs commands with them), the
 * cgroups it joins, and how its log rotates (the log collector reads that).
 */
import type { RotationPolicy } from './container-log.js';

export interface ContainerFiles {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  /** cgroup.procs files the container joins before its program runs (limits), and their OOM counters. */
  cgroups?: { procs: string[]; oomEvents: string[] };
  rotation?: RotationPolicy;
}
