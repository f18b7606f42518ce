/**
 * The deterministic cores stay deterministic: no clock, timers, randomness, I/O or async in the
 * Raft core, the key-value state machine, the scheduler's decision and cache, the kubelet's pod sync, or
 * the authorizers (STYLE.md, "functional core, imperative shell"). What they need from the
 * outside world (the time, a random source, the cluster's state) is passed in by their hosts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FORBIDDEN: [RegExp, string][] = [
  // Formatting a given time (new Date(ms), Date.parse) is fine; reading the clock is not.
  [/\bDate\.now\b|new Date\(\s*\)/, 'the wall clock'],
  [/\bperformance\.now\b/, 'the monotonic clock'],
  [/\bset(Timeout|Interval|Immediate)\b/, 'timers'],
  [/\bMath\.random\b/, 'unseeded randomness'],
  [/from 'node:(fs|net|http|https|dgram|child_process|worker_threads)/, 'I/O'],
  [/\basync\b|\bawait\b/, 'asynchrony'],
];

/** A folder's sources (tests excluded), or a single file. */
function sources(entry: string): string[] {
  if (entry.endsWith('.ts')) return [entry];
  return readdirSync(path.join(root, entry))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.compliance.ts'))
    .map((f) => path.join(entry, f));
}

const CORES = [
  'packages/raftkv/src/raft',
  'packages/raftkv/src/kv',
  'packages/scheduler/src/schedule-one.ts',
  'packages/scheduler/src/node-info.ts',
  'packages/scheduler/src/cache.ts',
  'packages/scheduler/src/plugins',
  'packages/kubelet/src/pod-sync.ts',
  'packages/kubelet/src/probes.ts',
  'packages/apiserver/src/auth/rbac.ts',
  'packages/apiserver/src/auth/node-authorizer.ts',
];

describe('deterministic cores', () => {
  for (const entry of CORES) {
    it(`${entry} uses no clock, timers, randomness, I/O or async`, () => {
      const found: string[] = [];
      for (const file of sources(entry)) {
        const lines = readFileSync(path.join(root, file), 'utf8').split('\n');
        lines.forEach((line, i) => {
          const code = line.replace(/\/\/.*$/, '').replace(/^\s*\*.*$/, '');
          for (const [re, what] of FORBIDDEN) if (re.test(code)) found.push(`${file}:${i + 1} uses ${what}: ${line.trim()}`);
        });
      }
      expect(found).toEqual([]);
    });
  }
});
