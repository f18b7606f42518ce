import { describe, expect, it } from 'vitest';
import { seededRandom } from '../raft/simulation.js';
import { KeyIndex } from './keyindex.js';


describe('KeyIndex', () => {
  it('matches a sorted-array oracle under random inserts, removes and scans', () => {
    const seed = Number(process.env.SEED ?? 0x1d3e);
    const rnd = seededRandom(seed);
    const idx = new KeyIndex<{ id: string }>();
    const oracle = new Set<string>();
    const randomId = (): string => {
      const n = 1 + Math.floor(rnd() * 4);
      let s = '';
      for (let i = 0; i < n; i++) s += String.fromCharCode(Math.floor(rnd() * 12) * 23);
      return s;
    };
    try {
      for (let step = 0; step < 40_000; step++) {
        const id = randomId();
        // Phases of mostly-insert then mostly-remove, to exercise splits and merges.
        const insertBias = Math.floor(step / 8000) % 2 === 0 ? 0.8 : 0.2;
        if (rnd() < insertBias) {
          if (!oracle.has(id)) {
            idx.insert({ id });
            oracle.add(id);
          } else {
            expect(() => idx.insert({ id })).toThrow(/duplicate/);
          }
        } else {
          expect(idx.remove(id)).toBe(oracle.delete(id));
        }
        if (step % 500 === 0) {
          idx.check();
          const sorted = [...oracle].sort();
          expect(idx.size).toBe(sorted.length);
          const a = randomId();
          const e = rnd() < 0.3 ? undefined : randomId();
          const got: string[] = [];
          idx.forEach(a, e, (x) => {
            got.push(x.id);
          });
          expect(got).toEqual(sorted.filter((x) => x >= a && (e === undefined || x < e)));
          const firstThree: string[] = [];
          idx.forEach(a, undefined, (x) => firstThree.push(x.id) === 3);
          expect(firstThree).toEqual(sorted.filter((x) => x >= a).slice(0, 3));
          expect(idx.get(a)?.id).toBe(oracle.has(a) ? a : undefined);
        }
      }
      idx.load([...oracle].sort().map((id) => ({ id })));
      idx.check();
    } catch (e) {
      console.error(`SEED=${seed}`);
      throw e;
    }
  });
});
