import { readFileSync, readlinkSync } from 'node:fs';

/** Whether a process with this PID exists (tests clean up only what they started, by PID). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a PID a test recorded is still the process it started there, not a later one that got
 * the number: alive, and its arguments or working directory name `dir`.
 */
export function ownedBy(pid: number, dir: string): boolean {
  if (!alive(pid)) return false;
  try {
    if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) return true;
    return readlinkSync(`/proc/${pid}/cwd`).startsWith(dir);
  } catch {
    return false;
  }
}
