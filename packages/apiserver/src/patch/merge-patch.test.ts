import { describe, expect, it } from 'vitest';
import type { JsonValue } from './json.js';
import { applyMergePatch } from './merge-patch.js';
import { deepFreeze } from './testing.js';

interface Case {
  name: string;
  doc: JsonValue;
  patch: JsonValue;
  want: JsonValue;
}

const cases: Case[] = [
  // The behaviours RFC 7386 §2 defines, one per row.
  { name: 'a member is replaced', doc: { a: 'b' }, patch: { a: 'c' }, want: { a: 'c' } },
  { name: 'a member is added', doc: { a: 'b' }, patch: { b: 'c' }, want: { a: 'b', b: 'c' } },
  { name: 'null removes a member', doc: { a: 'b' }, patch: { a: null }, want: {} },
  { name: 'null for a missing member is a no-op', doc: { a: 'b' }, patch: { c: null }, want: { a: 'b' } },
  { name: 'objects merge recursively', doc: { a: { b: 'c', d: 'e' } }, patch: { a: { d: null, f: 'g' } }, want: { a: { b: 'c', f: 'g' } } },
  { name: 'arrays are replaced, not merged', doc: { a: [{ b: 'c' }, 'x'] }, patch: { a: [1] }, want: { a: [1] } },
  { name: 'nulls inside arrays are kept', doc: {}, patch: { a: [null, 1] }, want: { a: [null, 1] } },
  { name: 'an object replaces a scalar', doc: { a: 'x' }, patch: { a: { b: 1 } }, want: { a: { b: 1 } } },
  { name: 'a scalar replaces an object', doc: { a: { b: 1 } }, patch: { a: 'x' }, want: { a: 'x' } },
  { name: 'nulls inside a new object are dropped', doc: {}, patch: { a: { b: null, c: 1 } }, want: { a: { c: 1 } } },
  { name: 'a non-object patch replaces the document', doc: { a: 1 }, patch: ['x'], want: ['x'] },
  { name: 'an object patch on a non-object document starts from {}', doc: ['x'], patch: { a: 1 }, want: { a: 1 } },
  { name: 'a null patch replaces the document', doc: { a: 1 }, patch: null, want: null },
  { name: 'an empty patch changes nothing', doc: { a: { b: [1] } }, patch: {}, want: { a: { b: [1] } } },
  { name: '"__proto__" is an ordinary member', doc: {}, patch: JSON.parse('{"__proto__":{"x":1}}') as JsonValue, want: JSON.parse('{"__proto__":{"x":1}}') as JsonValue },

  // What kubectl sends (kubectl-wire.md §0.3, §7).
  {
    name: 'kubectl scale: PATCH /scale {"spec":{"replicas":5}}',
    doc: {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: { name: 'nginx', namespace: 'default', resourceVersion: '126' },
      spec: { replicas: 2 },
      status: { replicas: 2, selector: 'app=nginx' },
    },
    patch: { spec: { replicas: 5 } },
    want: {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: { name: 'nginx', namespace: 'default', resourceVersion: '126' },
      spec: { replicas: 5 },
      status: { replicas: 2, selector: 'app=nginx' },
    },
  },
  {
    name: 'kubectl label tier=web env-',
    doc: { metadata: { name: 'web', labels: { app: 'web', env: 'dev' } } },
    patch: { metadata: { labels: { env: null, tier: 'web' } } },
    want: { metadata: { name: 'web', labels: { app: 'web', tier: 'web' } } },
  },
  {
    name: 'kubectl annotate on an object without annotations',
    doc: { metadata: { name: 'web' } },
    patch: { metadata: { annotations: { 'example.com/owner': 'me' } } },
    want: { metadata: { name: 'web', annotations: { 'example.com/owner': 'me' } } },
  },
];

describe('applyMergePatch', () => {
  for (const c of cases) {
    it(c.name, () => {
      const doc = deepFreeze(structuredClone(c.doc));
      const patch = deepFreeze(structuredClone(c.patch));
      expect(applyMergePatch(doc, patch)).toStrictEqual(c.want);
    });
  }

  it('keeps the order of existing keys', () => {
    expect(Object.keys(applyMergePatch({ a: 1, b: 2, c: 3 }, { d: 4, a: 0 }) as object)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('shares nothing with its inputs', () => {
    const doc = { a: { l: [1] }, keep: { x: 1 } };
    const patch = { b: { l: [2] } };
    const got = applyMergePatch(doc, patch) as { a: { l: number[] }; b: { l: number[] }; keep: { x: number } };
    got.a.l.push(9);
    got.b.l.push(9);
    got.keep.x = 9;
    expect(doc).toStrictEqual({ a: { l: [1] }, keep: { x: 1 } });
    expect(patch).toStrictEqual({ b: { l: [2] } });
  });
});
