import { describe, expect, it } from 'vitest';
import { PatchError } from './errors.js';
import { applyJsonPatch, parseJsonPatch } from './json-patch.js';
import type { JsonValue } from './json.js';
import { catchPatchError, deepFreeze } from './testing.js';

interface Case {
  name: string;
  doc: JsonValue;
  patch: unknown;
  want: JsonValue;
}

const cases: Case[] = [
  { name: 'add an object member', doc: { a: 1 }, patch: [{ op: 'add', path: '/b', value: 2 }], want: { a: 1, b: 2 } },
  { name: 'add replaces an existing member', doc: { a: 1 }, patch: [{ op: 'add', path: '/a', value: [1] }], want: { a: [1] } },
  { name: 'add null is a value, not a removal', doc: {}, patch: [{ op: 'add', path: '/a', value: null }], want: { a: null } },
  { name: 'add inserts into an array', doc: { l: ['a', 'c'] }, patch: [{ op: 'add', path: '/l/1', value: 'b' }], want: { l: ['a', 'b', 'c'] } },
  { name: 'add at index == length appends', doc: { l: ['a'] }, patch: [{ op: 'add', path: '/l/1', value: 'b' }], want: { l: ['a', 'b'] } },
  { name: '"-" appends', doc: { l: [1, 2] }, patch: [{ op: 'add', path: '/l/-', value: 3 }], want: { l: [1, 2, 3] } },
  { name: '"-" is an ordinary key in an object', doc: { o: {} }, patch: [{ op: 'add', path: '/o/-', value: 1 }], want: { o: { '-': 1 } } },
  { name: 'add at the root replaces the document', doc: { a: 1 }, patch: [{ op: 'add', path: '', value: [1] }], want: [1] },
  { name: 'empty key', doc: {}, patch: [{ op: 'add', path: '/', value: 1 }], want: { '': 1 } },
  {
    name: '~1 and ~0 escapes (annotation keys contain "/")',
    doc: { metadata: { annotations: {} } },
    patch: [
      { op: 'add', path: '/metadata/annotations/example.com~1a', value: 'x' },
      { op: 'add', path: '/metadata/annotations/t~0~01', value: 'y' },
    ],
    want: { metadata: { annotations: { 'example.com/a': 'x', 't~~1': 'y' } } },
  },
  { name: 'remove a member', doc: { a: 1, b: 2 }, patch: [{ op: 'remove', path: '/a' }], want: { b: 2 } },
  { name: 'remove an element shifts the rest', doc: [1, 2, 3], patch: [{ op: 'remove', path: '/0' }], want: [2, 3] },
  { name: 'replace a member', doc: { a: 1 }, patch: [{ op: 'replace', path: '/a', value: { b: 2 } }], want: { a: { b: 2 } } },
  { name: 'replace an element', doc: [1, 2, 3], patch: [{ op: 'replace', path: '/1', value: 9 }], want: [1, 9, 3] },
  { name: 'replace the root', doc: { a: 1 }, patch: [{ op: 'replace', path: '', value: 'x' }], want: 'x' },
  {
    name: 'move a member',
    doc: { a: { x: 1 }, b: {} },
    patch: [{ op: 'move', from: '/a/x', path: '/b/y' }],
    want: { a: {}, b: { y: 1 } },
  },
  { name: 'move within an array', doc: [1, 2, 3, 4], patch: [{ op: 'move', from: '/1', path: '/3' }], want: [1, 3, 4, 2] },
  { name: 'move to itself is a no-op', doc: { a: 1 }, patch: [{ op: 'move', from: '/a', path: '/a' }], want: { a: 1 } },
  {
    name: 'copy is deep: the copies are independent',
    doc: { a: { l: [1] } },
    patch: [
      { op: 'copy', from: '/a', path: '/b' },
      { op: 'add', path: '/b/l/-', value: 2 },
    ],
    want: { a: { l: [1] }, b: { l: [1, 2] } },
  },
  { name: 'copy into its own child', doc: { a: { x: 1 } }, patch: [{ op: 'copy', from: '/a', path: '/a/c' }], want: { a: { x: 1, c: { x: 1 } } } },
  {
    name: 'test compares structurally: key order does not matter, numbers by value',
    doc: { a: { x: 1, y: [1.0, 'z'] } },
    patch: [{ op: 'test', path: '/a', value: { y: [1, 'z'], x: 1 } }],
    want: { a: { x: 1, y: [1, 'z'] } },
  },
  { name: 'test null', doc: { a: null }, patch: [{ op: 'test', path: '/a', value: null }], want: { a: null } },
  { name: 'members RFC 6902 does not define are ignored', doc: {}, patch: [{ op: 'add', path: '/a', value: 1, note: 'x' }], want: { a: 1 } },
  { name: 'an empty patch changes nothing', doc: { a: 1 }, patch: [], want: { a: 1 } },
  {
    name: '"__proto__" is an ordinary member',
    doc: JSON.parse('{"__proto__":{"a":1}}') as JsonValue,
    patch: [{ op: 'replace', path: '/__proto__/a', value: 2 }],
    want: JSON.parse('{"__proto__":{"a":2}}') as JsonValue,
  },
  {
    name: 'operations apply in order, each seeing the previous result',
    doc: { l: [] },
    patch: [
      { op: 'add', path: '/l/-', value: 'a' },
      { op: 'add', path: '/l/0', value: 'b' },
      { op: 'test', path: '/l', value: ['b', 'a'] },
      { op: 'remove', path: '/l/1' },
    ],
    want: { l: ['b'] },
  },
];

/** The live Deployment `kubectl rollout undo` patched in kubectl-wire.md §8.3 (abridged). */
const liveDeployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name: 'nginx',
    namespace: 'default',
    generation: 3,
    annotations: {
      'deployment.kubernetes.io/revision': '3',
      'kubectl.kubernetes.io/last-applied-configuration': '{"apiVersion":"apps/v1"}\n',
      'kubernetes.io/change-cause': 'v1.27 rollout',
    },
  },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'nginx' } },
    template: {
      metadata: { labels: { app: 'nginx' } },
      spec: { containers: [{ name: 'nginx', image: 'nginx:1.27', ports: [{ containerPort: 80 }], env: [{ name: 'A', value: '1' }] }] },
    },
  },
  status: { observedGeneration: 3, replicas: 2 },
};

/** The body kubectl 1.32 sent, verbatim apart from the shortened last-applied annotation. */
const rolloutUndo = [
  {
    op: 'replace',
    path: '/spec/template',
    value: {
      metadata: { creationTimestamp: null, labels: { app: 'nginx' } },
      spec: {
        containers: [
          {
            name: 'nginx',
            image: 'nginx:1.26',
            ports: [{ containerPort: 80 }],
            env: [
              { name: 'A', value: '1' },
              { name: 'B', value: '2' },
            ],
            resources: {},
          },
        ],
      },
    },
  },
  {
    op: 'replace',
    path: '/metadata/annotations',
    value: {
      'deployment.kubernetes.io/revision': '3',
      'kubectl.kubernetes.io/last-applied-configuration': '{"apiVersion":"apps/v1"}\n',
      'kubernetes.io/change-cause': 'v1.26 rollout',
    },
  },
];

describe('applyJsonPatch', () => {
  for (const c of cases) {
    it(c.name, () => {
      const doc = deepFreeze(structuredClone(c.doc));
      const patch = deepFreeze(structuredClone(c.patch));
      expect(applyJsonPatch(doc, patch)).toStrictEqual(c.want);
    });
  }

  it('rollout undo (kubectl-wire.md §8.3): replaces the template and the annotations', () => {
    const doc = deepFreeze(structuredClone(liveDeployment));
    const got = applyJsonPatch(doc, deepFreeze(structuredClone(rolloutUndo)));
    expect(got).toStrictEqual({
      ...liveDeployment,
      metadata: {
        ...liveDeployment.metadata,
        annotations: {
          'deployment.kubernetes.io/revision': '3',
          'kubectl.kubernetes.io/last-applied-configuration': '{"apiVersion":"apps/v1"}\n',
          'kubernetes.io/change-cause': 'v1.26 rollout',
        },
      },
      spec: {
        ...liveDeployment.spec,
        // Stored as sent, nulls included: normalising templates is the controller's job (§8.3).
        template: rolloutUndo[0].value,
      },
    });
  });

  it('rollout undo on a Deployment without annotations fails on that path, changing nothing', () => {
    const { annotations: _, ...metadata } = liveDeployment.metadata;
    const doc = deepFreeze({ ...structuredClone(liveDeployment), metadata });
    const err = catchPatchError(() => applyJsonPatch(doc, rolloutUndo));
    expect(err.code).toBe('CONFLICT');
    expect(err.path).toBe('/metadata/annotations');
    expect(err.message).toContain('/metadata/annotations');
  });

  it('shares nothing with its inputs', () => {
    const value = { x: [1] };
    const doc = { a: { b: 1 } };
    const got = applyJsonPatch(doc, [{ op: 'add', path: '/v', value }]) as { a: { b: number }; v: { x: number[] } };
    got.a.b = 2;
    got.v.x.push(2);
    expect(doc).toStrictEqual({ a: { b: 1 } });
    expect(value).toStrictEqual({ x: [1] });
  });
});

interface ErrorCase {
  name: string;
  doc: JsonValue;
  patch: unknown;
  code: PatchError['code'];
  path: string;
  message: RegExp;
}

const errorCases: ErrorCase[] = [
  { name: 'not an array', doc: {}, patch: { op: 'add' }, code: 'INVALID_PATCH', path: '', message: /must be an array/ },
  { name: 'an operation that is not an object', doc: {}, patch: ['add'], code: 'INVALID_PATCH', path: '', message: /operation 0 must be an object/ },
  { name: 'unknown op', doc: {}, patch: [{ op: 'merge', path: '/a' }], code: 'INVALID_PATCH', path: '', message: /"op" must be one of .*"merge"/ },
  { name: 'missing path', doc: {}, patch: [{ op: 'remove' }], code: 'INVALID_PATCH', path: '', message: /"path" must be a JSON Pointer/ },
  { name: 'pointer without a leading "/"', doc: { a: 1 }, patch: [{ op: 'remove', path: 'a' }], code: 'INVALID_PATCH', path: 'a', message: /not a JSON Pointer/ },
  { name: 'bad "~" escape', doc: {}, patch: [{ op: 'add', path: '/a~2', value: 1 }], code: 'INVALID_PATCH', path: '/a~2', message: /not a JSON Pointer/ },
  { name: 'add without value', doc: {}, patch: [{ op: 'add', path: '/a' }], code: 'INVALID_PATCH', path: '/a', message: /has no "value"/ },
  { name: 'move without from', doc: {}, patch: [{ op: 'move', path: '/a' }], code: 'INVALID_PATCH', path: '', message: /"from" must be a JSON Pointer/ },
  { name: 'move into its own child', doc: { a: {} }, patch: [{ op: 'move', from: '/a', path: '/a/b' }], code: 'INVALID_PATCH', path: '/a/b', message: /own child/ },
  { name: 'remove the root', doc: { a: 1 }, patch: [{ op: 'remove', path: '' }], code: 'INVALID_PATCH', path: '', message: /whole document/ },
  { name: 'remove a missing member', doc: { a: 1 }, patch: [{ op: 'remove', path: '/b' }], code: 'CONFLICT', path: '/b', message: /"\/b" does not exist/ },
  { name: 'replace a missing member', doc: { metadata: {} }, patch: [{ op: 'replace', path: '/metadata/annotations', value: {} }], code: 'CONFLICT', path: '/metadata/annotations', message: /does not exist/ },
  { name: 'inherited members do not exist', doc: {}, patch: [{ op: 'replace', path: '/constructor', value: 1 }], code: 'CONFLICT', path: '/constructor', message: /does not exist/ },
  { name: 'add under a missing parent', doc: {}, patch: [{ op: 'add', path: '/a/b', value: 1 }], code: 'CONFLICT', path: '/a', message: /"\/a" does not exist/ },
  { name: 'add under a scalar', doc: { a: 1 }, patch: [{ op: 'add', path: '/a/b', value: 1 }], code: 'CONFLICT', path: '/a/b', message: /"\/a" is a number/ },
  { name: 'add past the end of an array', doc: [1], patch: [{ op: 'add', path: '/2', value: 1 }], code: 'CONFLICT', path: '/2', message: /index 2 is out of range .*length 1/ },
  { name: 'replace at index == length', doc: [1], patch: [{ op: 'replace', path: '/1', value: 1 }], code: 'CONFLICT', path: '/1', message: /out of range/ },
  { name: 'leading zero index', doc: [1, 2], patch: [{ op: 'remove', path: '/01' }], code: 'CONFLICT', path: '/01', message: /"01" is not an index/ },
  { name: '"-" outside add', doc: [1], patch: [{ op: 'remove', path: '/-' }], code: 'CONFLICT', path: '/-', message: /"-" is not an index/ },
  { name: 'copy from a missing path', doc: {}, patch: [{ op: 'copy', from: '/x', path: '/y' }], code: 'CONFLICT', path: '/x', message: /from "\/x".*does not exist/ },
  { name: 'move from a missing path to itself', doc: {}, patch: [{ op: 'move', from: '/x', path: '/x' }], code: 'CONFLICT', path: '/x', message: /does not exist/ },
  { name: 'test a different value', doc: { a: [1, 2] }, patch: [{ op: 'test', path: '/a', value: [2, 1] }], code: 'TEST_FAILED', path: '/a', message: /expected \[2,1\], found \[1,2\]/ },
  { name: 'test string vs number', doc: { a: '1' }, patch: [{ op: 'test', path: '/a', value: 1 }], code: 'TEST_FAILED', path: '/a', message: /expected 1, found "1"/ },
  { name: 'test a missing path', doc: {}, patch: [{ op: 'test', path: '/a', value: null }], code: 'CONFLICT', path: '/a', message: /does not exist/ },
  {
    name: 'a later failure names its operation',
    doc: { a: 1 },
    patch: [
      { op: 'add', path: '/b', value: 1 },
      { op: 'test', path: '/a', value: 2 },
    ],
    code: 'TEST_FAILED',
    path: '/a',
    message: /operation 1 \(test "\/a"\)/,
  },
];

describe('applyJsonPatch errors', () => {
  for (const c of errorCases) {
    it(c.name, () => {
      const doc = deepFreeze(structuredClone(c.doc));
      const err = catchPatchError(() => applyJsonPatch(doc, c.patch));
      expect({ code: err.code, path: err.path }).toStrictEqual({ code: c.code, path: c.path });
      expect(err.message).toMatch(c.message);
    });
  }

  it('parseJsonPatch rejects a malformed patch without any document', () => {
    expect(() => parseJsonPatch([{ op: 'add', path: '/a', value: 1 }, { op: 'nope' }])).toThrow(PatchError);
    expect(parseJsonPatch([{ op: 'move', from: '/a', path: '/b', extra: 1 }])).toStrictEqual([{ op: 'move', from: '/a', path: '/b' }]);
  });
});
