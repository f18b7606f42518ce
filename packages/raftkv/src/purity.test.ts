/**
 * The deterministic cores stay deterministic: no clock, timers, randomness, I/O or async in the
 * Raft core or the key-value state machine (STYLE.md, "functional core, imperative shell").
 * Anything they need from the outside world is injected by the host (server/member.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));
const FORBIDDEN: [RegExp, string][] = [
  [/\bDate\b/, 'the wall clock'],
  [/\bperformance\.now\b/, 'the monotonic clock'],
  [/\bset(Timeout|Interval|Immediate)\b/, 'timers'],
  [/\bMath\.random\b/, 'unseeded randomness'],
  [/from 'node:(fs|net|http|https|dgram|child_process|worker_threads)/, 'I/O'],
  [/\basync\b|\bawait\b/, 'asynchrony'],
];

function sources(dir: string): string[] {
  return readdirSync(path.join(here, dir))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => path.join(dir, f));
}

describe('deterministic cores', () => {
  for (const dir of ['raft', 'kv']) {
    it(`${dir}/ uses no clock, timers, randomness, I/O or async`, () => {
      const found: string[] = [];
      for (const file of sources(dir)) {
        const lines = readFileSync(path.join(here, file), 'utf8').split('\n');
        lines.forEach((line, i) => {
          const code = line.replace(/\/\/.*$/, '').replace(/^\s*\*.*$/, '');
          for (const [re, what] of FORBIDDEN) if (re.test(code)) found.push(`${file}:${i + 1} uses ${what}: ${line.trim()}`);
        });
      }
      expect(found).toEqual([]);
    });
  }
});
