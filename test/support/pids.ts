/** Whether a process with this PID exists (tests clean up only what they started, by PID). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
