/** Facts about the machine that help read benchmark numbers. */
import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { percentile, sortNumbers } from './stats.js';

/** p50/p99 of `count` sequential 4 KiB append + fdatasync calls on a file in `dir` (the disk under test). */
export function fsyncLatency(dir: string, count = 200): { p50Ms: number; p99Ms: number } {
  const file = join(dir, `fsync-probe-${process.pid}`);
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(4096, 0x61);
  const samples: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      writeSync(fd, block);
      fdatasyncSync(fd);
      samples.push(performance.now() - t0);
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  const sorted = sortNumbers(samples);
  return { p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) };
}
