import { seededRandom } from '@flotilla/raftkv';
import { describe, expect, it } from 'vitest';
import {
  type FieldRequirement,
  type LabelRequirement,
  type LabelSelector,
  type LabelSelectorObject,
  SelectorError,
  everythingLabelSelector,
  labelKeyError,
  labelSelectorFromObject,
  labelSelectorFromSet,
  labelSelectorToString,
  labelValueError,
  nothingLabelSelector,
  parseFieldSelector,
  parseLabelSelector,
} from './selectors.js';

/** Runs `fn` and returns the SelectorError it must throw. */
function selectorError(fn: () => unknown): SelectorError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SelectorError);
    const err = e as SelectorError;
    expect(err.code).toBe('INVALID_SELECTOR');
    expect(err.name).toBe('SelectorError');
    return err;
  }
  throw new Error('expected a SelectorError, but nothing was thrown');
}

/** Deterministic PRNG so a failing random case can be reproduced from its printed seed. */
const prng = seededRandom;

const n = (count: number, ch = 'a'): string => ch.repeat(count);

// ---- label selector parsing ---------------------------------------------------------------

describe('parseLabelSelector: valid input', () => {
  const cases: [input: string, canonical: string, requirements: LabelRequirement[]][] = [
    ['', '', []],
    ['   ', '', []],
    ['\t\n', '', []],
    ['a=b', 'a=b', [{ key: 'a', op: 'eq', value: 'b' }]],
    ['a==b', 'a=b', [{ key: 'a', op: 'eq', value: 'b' }]],
    ['a!=b', 'a!=b', [{ key: 'a', op: 'neq', value: 'b' }]],
    [' a = b ', 'a=b', [{ key: 'a', op: 'eq', value: 'b' }]],
    ['a\t==\tb', 'a=b', [{ key: 'a', op: 'eq', value: 'b' }]],
    ['a != b', 'a!=b', [{ key: 'a', op: 'neq', value: 'b' }]],
    ['a=', 'a=', [{ key: 'a', op: 'eq', value: '' }]],
    ['a==', 'a=', [{ key: 'a', op: 'eq', value: '' }]],
    ['a!=', 'a!=', [{ key: 'a', op: 'neq', value: '' }]],
    ['a=,b', 'a=,b', [{ key: 'a', op: 'eq', value: '' }, { key: 'b', op: 'exists' }]],
    ['a', 'a', [{ key: 'a', op: 'exists' }]],
    ['!a', '!a', [{ key: 'a', op: 'notexists' }]],
    ['! a', '!a', [{ key: 'a', op: 'notexists' }]],
    ['a,!b', 'a,!b', [{ key: 'a', op: 'exists' }, { key: 'b', op: 'notexists' }]],
    ['a in (x,y)', 'a in (x,y)', [{ key: 'a', op: 'in', values: ['x', 'y'] }]],
    ['a in ( y , x , y )', 'a in (x,y)', [{ key: 'a', op: 'in', values: ['x', 'y'] }]],
    ['a in(x)', 'a in (x)', [{ key: 'a', op: 'in', values: ['x'] }]],
    ['a notin (x)', 'a notin (x)', [{ key: 'a', op: 'notin', values: ['x'] }]],
    ['a notin(x,z,y)', 'a notin (x,y,z)', [{ key: 'a', op: 'notin', values: ['x', 'y', 'z'] }]],
    // Empty members of a set mean the empty value.
    ['a in ()', 'a in ()', [{ key: 'a', op: 'in', values: [''] }]],
    ['a in (,x)', 'a in (,x)', [{ key: 'a', op: 'in', values: ['', 'x'] }]],
    ['a in (x,)', 'a in (,x)', [{ key: 'a', op: 'in', values: ['', 'x'] }]],
    ['a in (x,,y)', 'a in (,x,y)', [{ key: 'a', op: 'in', values: ['', 'x', 'y'] }]],
    ['a notin ( )', 'a notin ()', [{ key: 'a', op: 'notin', values: [''] }]],
    // Commas inside the parentheses belong to the set, not to the list of requirements.
    [
      'x in (foo,,baz),y,z notin ()',
      'x in (,baz,foo),y,z notin ()',
      [
        { key: 'x', op: 'in', values: ['', 'baz', 'foo'] },
        { key: 'y', op: 'exists' },
        { key: 'z', op: 'notin', values: [''] },
      ],
    ],
    // Canonical order is by key, whatever order the terms came in.
    ['b=2,a=1', 'a=1,b=2', [{ key: 'a', op: 'eq', value: '1' }, { key: 'b', op: 'eq', value: '2' }]],
    ['a=c,a=b', 'a=b,a=c', [{ key: 'a', op: 'eq', value: 'b' }, { key: 'a', op: 'eq', value: 'c' }]],
    ['tier notin (db), app = web ,env', 'app=web,env,tier notin (db)', [
      { key: 'app', op: 'eq', value: 'web' },
      { key: 'env', op: 'exists' },
      { key: 'tier', op: 'notin', values: ['db'] },
    ]],
    ['example.com/app=web', 'example.com/app=web', [{ key: 'example.com/app', op: 'eq', value: 'web' }]],
    [
      'app.kubernetes.io/name in (nginx, redis)',
      'app.kubernetes.io/name in (nginx,redis)',
      [{ key: 'app.kubernetes.io/name', op: 'in', values: ['nginx', 'redis'] }],
    ],
    ['!node-role.kubernetes.io/control-plane', '!node-role.kubernetes.io/control-plane', [
      { key: 'node-role.kubernetes.io/control-plane', op: 'notexists' },
    ]],
    ['A_b.c-D=X_y.Z-1', 'A_b.c-D=X_y.Z-1', [{ key: 'A_b.c-D', op: 'eq', value: 'X_y.Z-1' }]],
    ['a1=0', 'a1=0', [{ key: 'a1', op: 'eq', value: '0' }]],
    ['1=2', '1=2', [{ key: '1', op: 'eq', value: '2' }]],
    // "in"/"notin" are operators only after a key, so labels with those names stay selectable.
    ['in=x', 'in=x', [{ key: 'in', op: 'eq', value: 'x' }]],
    ['in', 'in', [{ key: 'in', op: 'exists' }]],
    ['!notin', '!notin', [{ key: 'notin', op: 'notexists' }]],
    ['in in (in,notin)', 'in in (in,notin)', [{ key: 'in', op: 'in', values: ['in', 'notin'] }]],
    ['a=in', 'a=in', [{ key: 'a', op: 'eq', value: 'in' }]],
    // Length limits, at the limit.
    [`${n(63)}=${n(63, 'b')}`, `${n(63)}=${n(63, 'b')}`, [{ key: n(63), op: 'eq', value: n(63, 'b') }]],
    [`${n(253, 'p')}/${n(63)}`, `${n(253, 'p')}/${n(63)}`, [{ key: `${n(253, 'p')}/${n(63)}`, op: 'exists' }]],
  ];

  it.each(cases)('%j parses to %j', (input, canonical, requirements) => {
    const sel = parseLabelSelector(input);
    expect(sel.toString()).toBe(canonical);
    expect(sel.requirements).toEqual(requirements);
    expect(sel.isEmpty()).toBe(requirements.length === 0);
  });

  it.each(cases)('%j round-trips through its canonical string', (input) => {
    const first = parseLabelSelector(input);
    const second = parseLabelSelector(first.toString());
    expect(second.requirements).toEqual(first.requirements);
    expect(second.toString()).toBe(first.toString());
  });
});

describe('parseLabelSelector: invalid input', () => {
  const cases: [input: string, messageContains: string][] = [
    ['a=b,', 'end of string'],
    [',a', "found ','"],
    ['a,,b', "found ','"],
    ['a b', "found 'b'"],
    ['a=b c', "found 'c'"],
    ['a=b;c=d', 'b;c'],
    ['a in x', "expected '('"],
    ['a in', "expected '('"],
    ['a notin', "expected '('"],
    ['a in (x', 'end of string'],
    ['a in (x y)', "found 'y'"],
    ['a in (x))', "found ')'"],
    ['a in ((x))', "found '('"],
    ['a in (x),', 'end of string'],
    ['a in (x=y)', "found '='"],
    ['!a=b', "found '='"],
    ['!a in (x)', "found 'in'"],
    ['!', 'end of string'],
    ['!!a', "found '!'"],
    ['!=a', "found '!='"],
    ['=b', "found '='"],
    ['a===b', "found '='"],
    ['a=(b)', "found '('"],
    ['a=!b', "found '!'"],
    ['a!b', "found '!'"],
    ['(a)', "found '('"],
    ['ain(x)', "found '('"],
    ['a IN (x)', "found 'IN'"],
    ['a>1', "'>' operator is not supported"],
    ['a<1', "'<' operator is not supported"],
  ];

  it.each(cases)('%j is rejected (%s)', (input, messageContains) => {
    const err = selectorError(() => parseLabelSelector(input));
    expect(err.message).toMatch(/^unable to parse requirement: /);
    expect(err.message).toContain(messageContains);
  });

  const badKeys: string[] = [
    '-a',
    'a-',
    '_a',
    'a.',
    'a%b',
    'ä',
    'Example.com/a',
    'example_com/a',
    '-example.com/a',
    'example..com/a',
    '/a',
    'a/',
    'a/b/c',
    n(64),
    `${n(254, 'p')}/a`,
    `example.com/${n(64)}`,
  ];
  it.each(badKeys)('invalid key %j is named in the error', (key) => {
    for (const text of [`${key}=x`, key, `!${key}`, `${key} in (x)`]) {
      const err = selectorError(() => parseLabelSelector(text));
      expect(err.message).toContain(`invalid label key ${JSON.stringify(key)}`);
    }
  });

  const badValues: string[] = ['-b', 'b-', '.b', 'b_', 'b&c', 'b/c', 'é', n(64, 'v')];
  it.each(badValues)('invalid value %j is named in the error', (value) => {
    for (const text of [`a=${value}`, `a!=${value}`, `a in (x,${value})`, `a notin (${value})`]) {
      const err = selectorError(() => parseLabelSelector(text));
      expect(err.message).toContain(`invalid value ${JSON.stringify(value)} for label key "a"`);
    }
  });
});

// ---- label selector matching --------------------------------------------------------------

describe('LabelSelector.matches', () => {
  const cases: [selector: string, labels: Record<string, string> | undefined, expected: boolean][] = [
    ['', undefined, true],
    ['', {}, true],
    ['', { a: 'b' }, true],
    ['a=b', { a: 'b' }, true],
    ['a=b', { a: 'b', c: 'd' }, true],
    ['a=b', { a: 'c' }, false],
    ['a=b', {}, false],
    ['a=b', undefined, false],
    ['a==b', { a: 'b' }, true],
    // '!=' and 'notin' select objects that lack the label entirely.
    ['a!=b', { a: 'b' }, false],
    ['a!=b', { a: 'c' }, true],
    ['a!=b', {}, true],
    ['a!=b', undefined, true],
    ['a in (x,y)', { a: 'x' }, true],
    ['a in (x,y)', { a: 'y' }, true],
    ['a in (x,y)', { a: 'z' }, false],
    ['a in (x,y)', {}, false],
    ['a notin (x,y)', { a: 'x' }, false],
    ['a notin (x,y)', { a: 'z' }, true],
    ['a notin (x,y)', {}, true],
    ['a', { a: '' }, true],
    ['a', { a: 'x' }, true],
    ['a', {}, false],
    ['a', undefined, false],
    ['!a', {}, true],
    ['!a', undefined, true],
    ['!a', { a: '' }, false],
    ['!a', { b: 'a' }, true],
    ['a=', { a: '' }, true],
    ['a=', {}, false],
    ['a=', { a: 'x' }, false],
    ['a!=', { a: '' }, false],
    ['a!=', {}, true],
    ['a!=', { a: 'x' }, true],
    ['a in ()', { a: '' }, true],
    ['a in ()', { a: 'x' }, false],
    ['a notin ()', { a: '' }, false],
    ['a notin ()', {}, true],
    // ANDed requirements.
    ['a=b,c!=d', { a: 'b' }, true],
    ['a=b,c!=d', { a: 'b', c: 'd' }, false],
    ['a=b,c!=d', { a: 'b', c: 'e' }, true],
    ['a=b,a=c', { a: 'b' }, false],
    ['a,!a', { a: 'b' }, false],
    ['a,!a', {}, false],
    ['app=web,tier in (fe,be),!canary', { app: 'web', tier: 'fe' }, true],
    ['app=web,tier in (fe,be),!canary', { app: 'web', tier: 'fe', canary: 'true' }, false],
    ['app=web,tier in (fe,be),!canary', { app: 'web', tier: 'db' }, false],
    // Label keys that are also Object.prototype members must not be found on plain objects.
    ['constructor', {}, false],
    ['!toString', {}, true],
    ['hasOwnProperty!=x', {}, true],
    ['isPrototypeOf', {}, false],
    ['valueOf in (x)', {}, false],
    ['valueOf notin (x)', {}, true],
    ['constructor=x', { constructor: 'x' }, true],
    // Matching is case-sensitive in both keys and values.
    ['App=web', { app: 'web' }, false],
    ['app=Web', { app: 'web' }, false],
  ];

  it.each(cases)('%j against %j -> %s', (selector, labels, expected) => {
    expect(parseLabelSelector(selector).matches(labels)).toBe(expected);
  });

  it('reads labels from objects without a prototype', () => {
    const labels = Object.assign(Object.create(null) as Record<string, string>, { a: 'b' });
    expect(parseLabelSelector('a=b').matches(labels)).toBe(true);
    expect(parseLabelSelector('!a').matches(labels)).toBe(false);
  });

  it('agrees with a direct evaluation on random selectors written in random order and spacing', () => {
    const seed = Number(process.env.SEED ?? 20240601);
    const rand = prng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
    const keys = ['a', 'b', 'example.com/c', 'in'];
    const values = ['', 'x', 'y', 'z-1'];
    const space = (): string => pick(['', '', ' ', '  ', '\t']);

    const expected = (rs: LabelRequirement[], ls: Record<string, string>): boolean =>
      rs.every((r) => {
        const v = Object.hasOwn(ls, r.key) ? ls[r.key] : undefined;
        switch (r.op) {
          case 'exists':
            return v !== undefined;
          case 'notexists':
            return v === undefined;
          case 'eq':
            return v === r.value;
          case 'neq':
            return v !== r.value;
          case 'in':
            return v !== undefined && r.values.includes(v);
          case 'notin':
            return v === undefined || !r.values.includes(v);
        }
      });

    for (let iter = 0; iter < 300; iter++) {
      const reqs: LabelRequirement[] = [];
      const parts: string[] = [];
      const count = 1 + Math.floor(rand() * 4);
      for (let i = 0; i < count; i++) {
        const key = pick(keys);
        const s = space;
        switch (pick(['eq', 'eq2', 'neq', 'in', 'notin', 'exists', 'notexists'] as const)) {
          case 'eq':
          case 'eq2': {
            const value = pick(values);
            reqs.push({ key, op: 'eq', value });
            parts.push(`${s()}${key}${s()}${rand() < 0.5 ? '=' : '=='}${s()}${value}${s()}`);
            break;
          }
          case 'neq': {
            const value = pick(values);
            reqs.push({ key, op: 'neq', value });
            parts.push(`${s()}${key}${s()}!=${s()}${value}${s()}`);
            break;
          }
          case 'in':
          case 'notin': {
            const op = rand() < 0.5 ? 'in' : 'notin';
            const vs = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => pick(values));
            reqs.push({ key, op, values: vs });
            parts.push(`${s()}${key} ${s()}${op}${s()}(${vs.map((v) => `${s()}${v}${s()}`).join(',')})${s()}`);
            break;
          }
          case 'exists':
            reqs.push({ key, op: 'exists' });
            parts.push(`${s()}${key}${s()}`);
            break;
          case 'notexists':
            reqs.push({ key, op: 'notexists' });
            parts.push(`${s()}!${s()}${key}${s()}`);
            break;
        }
      }
      const text = parts.join(',');
      const sel = parseLabelSelector(text);
      const again = parseLabelSelector(sel.toString());
      expect(again.toString(), `seed ${seed} iteration ${iter}: ${text}`).toBe(sel.toString());
      expect(again.requirements).toEqual(sel.requirements);

      for (let j = 0; j < 8; j++) {
        const ls: Record<string, string> = {};
        for (const k of keys) if (rand() < 0.6) ls[k] = pick(values);
        const want = expected(reqs, ls);
        expect(sel.matches(ls), `seed ${seed} iteration ${iter}: ${text} against ${JSON.stringify(ls)}`).toBe(want);
        expect(again.matches(ls)).toBe(want);
      }
    }
  });
});

describe('LabelSelector immutability', () => {
  it('freezes requirements so a shared selector cannot be changed under other users', () => {
    const sel = parseLabelSelector('a in (x,y),b=c');
    expect(Object.isFrozen(sel.requirements)).toBe(true);
    for (const r of sel.requirements) expect(Object.isFrozen(r)).toBe(true);
    expect(() => (sel.requirements as LabelRequirement[]).push({ key: 'd', op: 'exists' })).toThrow(TypeError);
    expect(sel.toString()).toBe('a in (x,y),b=c');
  });
});

// ---- metav1.LabelSelector objects ---------------------------------------------------------

describe('labelSelectorFromObject', () => {
  const cases: [name: string, sel: LabelSelectorObject, canonical: string, requirements: LabelRequirement[]][] = [
    ['empty object', {}, '', []],
    ['empty matchLabels and matchExpressions', { matchLabels: {}, matchExpressions: [] }, '', []],
    ['null members', { matchLabels: null, matchExpressions: null }, '', []],
    ['one label', { matchLabels: { app: 'nginx' } }, 'app=nginx', [{ key: 'app', op: 'eq', value: 'nginx' }]],
    ['labels sorted by key', { matchLabels: { b: '2', a: '1' } }, 'a=1,b=2', [
      { key: 'a', op: 'eq', value: '1' },
      { key: 'b', op: 'eq', value: '2' },
    ]],
    ['empty label value', { matchLabels: { a: '' } }, 'a=', [{ key: 'a', op: 'eq', value: '' }]],
    ['In', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['fe', 'be', 'fe'] }] }, 'tier in (be,fe)', [
      { key: 'tier', op: 'in', values: ['be', 'fe'] },
    ]],
    ['In with the empty value', { matchExpressions: [{ key: 'a', operator: 'In', values: [''] }] }, 'a in ()', [
      { key: 'a', op: 'in', values: [''] },
    ]],
    ['NotIn', { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['dev'] }] }, 'env notin (dev)', [
      { key: 'env', op: 'notin', values: ['dev'] },
    ]],
    ['Exists', { matchExpressions: [{ key: 'gpu', operator: 'Exists' }] }, 'gpu', [{ key: 'gpu', op: 'exists' }]],
    ['Exists with an empty values list', { matchExpressions: [{ key: 'gpu', operator: 'Exists', values: [] }] }, 'gpu', [
      { key: 'gpu', op: 'exists' },
    ]],
    ['Exists with null values', { matchExpressions: [{ key: 'gpu', operator: 'Exists', values: null }] }, 'gpu', [
      { key: 'gpu', op: 'exists' },
    ]],
    ['DoesNotExist', { matchExpressions: [{ key: 'canary', operator: 'DoesNotExist' }] }, '!canary', [
      { key: 'canary', op: 'notexists' },
    ]],
    [
      'labels and expressions together',
      {
        matchLabels: { app: 'web', 'example.com/team': 'core' },
        matchExpressions: [
          { key: 'tier', operator: 'In', values: ['fe'] },
          { key: 'app', operator: 'Exists' },
          { key: 'canary', operator: 'DoesNotExist' },
        ],
      },
      'app,app=web,!canary,example.com/team=core,tier in (fe)',
      [
        { key: 'app', op: 'exists' },
        { key: 'app', op: 'eq', value: 'web' },
        { key: 'canary', op: 'notexists' },
        { key: 'example.com/team', op: 'eq', value: 'core' },
        { key: 'tier', op: 'in', values: ['fe'] },
      ],
    ],
    ['label named "in"', { matchLabels: { in: 'x' } }, 'in=x', [{ key: 'in', op: 'eq', value: 'x' }]],
  ];

  it.each(cases)('%s', (_name, obj, canonical, requirements) => {
    const sel = labelSelectorFromObject(obj);
    expect(sel.toString()).toBe(canonical);
    expect(labelSelectorToString(obj)).toBe(canonical);
    expect(sel.requirements).toEqual(requirements);
    expect(sel.isEmpty()).toBe(requirements.length === 0);
  });

  it.each(cases)('%s: the string form parses back to the same selector', (_name, obj) => {
    const sel = labelSelectorFromObject(obj);
    const parsed = parseLabelSelector(labelSelectorToString(obj));
    expect(parsed.requirements).toEqual(sel.requirements);
    expect(parsed.toString()).toBe(sel.toString());
  });

  it('matches like the equivalent string selector', () => {
    const sel = labelSelectorFromObject({
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'tier', operator: 'NotIn', values: ['db'] },
        { key: 'canary', operator: 'DoesNotExist' },
      ],
    });
    expect(sel.matches({ app: 'web' })).toBe(true);
    expect(sel.matches({ app: 'web', tier: 'fe' })).toBe(true);
    expect(sel.matches({ app: 'web', tier: 'db' })).toBe(false);
    expect(sel.matches({ app: 'web', canary: '' })).toBe(false);
    expect(sel.matches({ app: 'api' })).toBe(false);
    expect(sel.matches(undefined)).toBe(false);
  });

  it('treats {} as selecting everything', () => {
    const sel = labelSelectorFromObject({});
    expect(sel.isEmpty()).toBe(true);
    expect(sel.matches(undefined)).toBe(true);
    expect(sel.matches({ any: 'thing' })).toBe(true);
  });

  it.each([undefined, null])('treats %s as selecting nothing, as Kubernetes does', (missing) => {
    const sel = labelSelectorFromObject(missing);
    expect(sel.isEmpty()).toBe(false);
    expect(sel.requirements).toEqual([]);
    expect(sel.matches(undefined)).toBe(false);
    expect(sel.matches({})).toBe(false);
    expect(sel.matches({ app: 'web' })).toBe(false);
    expect(sel.toString()).toBe('');
    expect(sel).toBe(nothingLabelSelector());
  });

  it('everythingLabelSelector matches everything', () => {
    const sel: LabelSelector = everythingLabelSelector();
    expect(sel.isEmpty()).toBe(true);
    expect(sel.matches(undefined)).toBe(true);
    expect(sel.toString()).toBe('');
  });

  it('labelSelectorFromSet requires every label in the set', () => {
    const sel = labelSelectorFromSet({ app: 'web', tier: 'fe' });
    expect(sel.toString()).toBe('app=web,tier=fe');
    expect(sel.matches({ app: 'web', tier: 'fe', x: 'y' })).toBe(true);
    expect(sel.matches({ app: 'web' })).toBe(false);
    expect(labelSelectorFromSet({}).isEmpty()).toBe(true);
  });

  const invalid: [name: string, sel: unknown, messageContains: string][] = [
    ['In without values', { matchExpressions: [{ key: 'a', operator: 'In' }] }, 'matchExpressions[0]: operator In requires at least one value'],
    ['In with empty values', { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }, 'operator In requires at least one value'],
    ['NotIn without values', { matchExpressions: [{ key: 'a', operator: 'NotIn', values: null }] }, 'operator NotIn requires at least one value'],
    ['Exists with values', { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }, 'operator Exists must not have values'],
    [
      'DoesNotExist with values',
      { matchExpressions: [{ key: 'a', operator: 'Exists' }, { key: 'b', operator: 'DoesNotExist', values: ['x'] }] },
      'matchExpressions[1]: operator DoesNotExist must not have values',
    ],
    ['lower-case operator', { matchExpressions: [{ key: 'a', operator: 'in', values: ['x'] }] }, 'unknown operator "in"'],
    ['Gt operator', { matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] }, 'unknown operator "Gt"'],
    ['empty operator', { matchExpressions: [{ key: 'a', operator: '' }] }, 'unknown operator ""'],
    ['invalid matchLabels key', { matchLabels: { 'a b': 'x' } }, 'matchLabels: invalid label key "a b"'],
    ['invalid matchLabels value', { matchLabels: { a: 'x y' } }, 'matchLabels: invalid value "x y" for label key "a"'],
    ['too long matchLabels value', { matchLabels: { a: n(64) } }, `invalid value "${n(64)}"`],
    ['non-string matchLabels value', { matchLabels: { a: 1 } }, 'for label key "a": a label value must be a string'],
    ['invalid expression key', { matchExpressions: [{ key: '-a', operator: 'Exists' }] }, 'matchExpressions[0]: invalid label key "-a"'],
    ['missing expression key', { matchExpressions: [{ operator: 'Exists' }] }, 'matchExpressions[0]: invalid label key'],
    ['invalid expression value', { matchExpressions: [{ key: 'a', operator: 'In', values: ['ok', 'not ok'] }] }, 'invalid value "not ok" for label key "a"'],
    ['matchExpressions not an array', { matchExpressions: { key: 'a', operator: 'Exists' } }, 'matchExpressions: must be an array'],
    ['matchExpressions entry not an object', { matchExpressions: ['a'] }, 'matchExpressions[0]: must be an object'],
    ['values not an array', { matchExpressions: [{ key: 'a', operator: 'In', values: 'x' }] }, 'values must be an array'],
    ['matchLabels an array', { matchLabels: ['a'] }, 'matchLabels: must be an object'],
    ['selector not an object', 'app=web', 'must be an object'],
  ];

  it.each(invalid)('rejects %s', (_name, sel, messageContains) => {
    const err = selectorError(() => labelSelectorFromObject(sel as LabelSelectorObject));
    expect(err.message).toContain(messageContains);
    selectorError(() => labelSelectorToString(sel as LabelSelectorObject));
  });
});

describe('labelKeyError / labelValueError', () => {
  it.each(['a', 'A', '0', 'a.b_c-d', 'example.com/a', 'a-b.example.com/X_y', `${n(253, 'p')}/${n(63)}`])(
    'key %j is valid',
    (key) => expect(labelKeyError(key)).toBeUndefined(),
  );
  it.each(['', 'a b', '-a', 'a_', 'a//b', 'Ex.com/a', `${n(64)}`])('key %j is invalid', (key) => {
    expect(labelKeyError(key)).toEqual(expect.any(String));
  });
  it.each(['', 'a', 'A-b_c.d', '0', n(63)])('value %j is valid', (value) => {
    expect(labelValueError(value)).toBeUndefined();
  });
  it.each([' ', '-', 'a/b', 'a:b', n(64)])('value %j is invalid', (value) => {
    expect(labelValueError(value)).toEqual(expect.any(String));
  });
});

// ---- field selectors ----------------------------------------------------------------------

describe('parseFieldSelector: valid input', () => {
  const cases: [input: string, canonical: string, requirements: FieldRequirement[]][] = [
    ['', '', []],
    ['  ', '', []],
    ['metadata.name=foo', 'metadata.name=foo', [{ field: 'metadata.name', op: 'eq', value: 'foo' }]],
    ['metadata.name==foo', 'metadata.name=foo', [{ field: 'metadata.name', op: 'eq', value: 'foo' }]],
    ['status.phase!=Running', 'status.phase!=Running', [{ field: 'status.phase', op: 'neq', value: 'Running' }]],
    ['spec.nodeName=', 'spec.nodeName=', [{ field: 'spec.nodeName', op: 'eq', value: '' }]],
    ['spec.nodeName!=', 'spec.nodeName!=', [{ field: 'spec.nodeName', op: 'neq', value: '' }]],
    [' metadata.name = foo ', 'metadata.name=foo', [{ field: 'metadata.name', op: 'eq', value: 'foo' }]],
    [
      'metadata.name=x,metadata.namespace=default',
      'metadata.name=x,metadata.namespace=default',
      [
        { field: 'metadata.name', op: 'eq', value: 'x' },
        { field: 'metadata.namespace', op: 'eq', value: 'default' },
      ],
    ],
    [
      'status.phase!=Failed , status.phase!=Succeeded,spec.nodeName=n1',
      'spec.nodeName=n1,status.phase!=Failed,status.phase!=Succeeded',
      [
        { field: 'spec.nodeName', op: 'eq', value: 'n1' },
        { field: 'status.phase', op: 'neq', value: 'Failed' },
        { field: 'status.phase', op: 'neq', value: 'Succeeded' },
      ],
    ],
    // Escapes: \, \= and \\ in values.
    ['a=b\\,c', 'a=b\\,c', [{ field: 'a', op: 'eq', value: 'b,c' }]],
    ['a=b\\=c', 'a=b\\=c', [{ field: 'a', op: 'eq', value: 'b=c' }]],
    ['a=b\\\\c', 'a=b\\\\c', [{ field: 'a', op: 'eq', value: 'b\\c' }]],
    ['a=\\=', 'a=\\=', [{ field: 'a', op: 'eq', value: '=' }]],
    ['a!=\\,\\=\\\\', 'a!=\\,\\=\\\\', [{ field: 'a', op: 'neq', value: ',=\\' }]],
    ['a=b\\,c,d=e', 'a=b\\,c,d=e', [{ field: 'a', op: 'eq', value: 'b,c' }, { field: 'd', op: 'eq', value: 'e' }]],
    // The first operator splits the term, so '!' is an ordinary character in a value.
    ['a=!b', 'a=!b', [{ field: 'a', op: 'eq', value: '!b' }]],
    ['a!=!b', 'a!=!b', [{ field: 'a', op: 'neq', value: '!b' }]],
    // Empty terms are skipped.
    ['a=b,', 'a=b', [{ field: 'a', op: 'eq', value: 'b' }]],
    [',a=b,,c=d,', 'a=b,c=d', [{ field: 'a', op: 'eq', value: 'b' }, { field: 'c', op: 'eq', value: 'd' }]],
    ['reason=Back off', 'reason=Back off', [{ field: 'reason', op: 'eq', value: 'Back off' }]],
    [
      'involvedObject.uid=6b9a4c9e-0f7a-4bde-9b7c-1d2e3f4a5b6c',
      'involvedObject.uid=6b9a4c9e-0f7a-4bde-9b7c-1d2e3f4a5b6c',
      [{ field: 'involvedObject.uid', op: 'eq', value: '6b9a4c9e-0f7a-4bde-9b7c-1d2e3f4a5b6c' }],
    ],
    ['involvedObject.name=web-0', 'involvedObject.name=web-0', [{ field: 'involvedObject.name', op: 'eq', value: 'web-0' }]],
    ['a=b,a!=c', 'a!=c,a=b', [{ field: 'a', op: 'neq', value: 'c' }, { field: 'a', op: 'eq', value: 'b' }]],
  ];

  it.each(cases)('%j parses to %j', (input, canonical, requirements) => {
    const sel = parseFieldSelector(input);
    expect(sel.toString()).toBe(canonical);
    expect(sel.requirements).toEqual(requirements);
    expect(sel.isEmpty()).toBe(requirements.length === 0);
  });

  it.each(cases)('%j round-trips through its canonical string', (input) => {
    const first = parseFieldSelector(input);
    const second = parseFieldSelector(first.toString());
    expect(second.requirements).toEqual(first.requirements);
    expect(second.toString()).toBe(first.toString());
  });

  it('round-trips random values full of escapable characters', () => {
    const seed = Number(process.env.SEED ?? 7);
    const rand = prng(seed);
    const alphabet = ['a', 'B', '0', '-', '.', ',', '=', '\\', '!', ' ', ':', '/'];
    const fields = ['metadata.name', 'spec.nodeName', 'status.phase', 'a'];
    for (let iter = 0; iter < 300; iter++) {
      const reqs: FieldRequirement[] = [];
      for (let i = 0, count = 1 + Math.floor(rand() * 3); i < count; i++) {
        let value = '';
        for (let j = 0, len = Math.floor(rand() * 8); j < len; j++) value += alphabet[Math.floor(rand() * alphabet.length)];
        // Surrounding whitespace is not significant in the syntax, so it cannot be expressed.
        value = value.trim();
        reqs.push({ field: fields[Math.floor(rand() * fields.length)], op: rand() < 0.5 ? 'eq' : 'neq', value });
      }
      // Render by hand rather than with toString, so the escaping is checked independently.
      const text = reqs
        .map((r) => `${r.field}${r.op === 'eq' ? (rand() < 0.5 ? '=' : '==') : '!='}${r.value.replace(/[\\,=]/g, (c) => `\\${c}`)}`)
        .join(',');
      const sel = parseFieldSelector(text);
      expect([...sel.requirements].sort(byJson), `seed ${seed} iteration ${iter}: ${text}`).toEqual([...reqs].sort(byJson));
      const again = parseFieldSelector(sel.toString());
      expect(again.requirements).toEqual(sel.requirements);
      expect(again.toString()).toBe(sel.toString());
    }
  });
});

const byJson = (a: unknown, b: unknown): number => {
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
};

describe('parseFieldSelector: invalid input', () => {
  const cases: [input: string, messageContains: string][] = [
    ['metadata.name', 'expected field=value, field==value or field!=value'],
    ['a=b,c', 'invalid field selector term "c"'],
    ['=foo', 'missing field name'],
    [' ==foo', 'missing field name'],
    ['!=foo', 'missing field name'],
    ['a=b=c', "'=' in a value must be escaped"],
    ['a===b', "'=' in a value must be escaped"],
    ['a!=!=b', "'=' in a value must be escaped"],
    ['a=b\\x', "the escape sequence '\\x' is not allowed"],
    ['a=b\\ c', "the escape sequence '\\ ' is not allowed"],
    ['a=b\\', "a trailing '\\' is not allowed"],
    ['a b=c', 'invalid field name "a b"'],
    ['a\\=b=c', 'invalid field name "a\\\\=b"'],
    ['a! =b', 'invalid field name "a!"'],
  ];

  it.each(cases)('%j is rejected (%s)', (input, messageContains) => {
    const err = selectorError(() => parseFieldSelector(input));
    expect(err.message).toContain(messageContains);
  });
});

describe('FieldSelector.matches and requiredValue', () => {
  const pod = (fields: Record<string, string>) => (field: string): string | undefined =>
    Object.hasOwn(fields, field) ? fields[field] : undefined;

  const cases: [selector: string, fields: Record<string, string>, expected: boolean][] = [
    ['', {}, true],
    ['metadata.name=web', { 'metadata.name': 'web' }, true],
    ['metadata.name=web', { 'metadata.name': 'api' }, false],
    ['metadata.name==web', { 'metadata.name': 'web' }, true],
    ['metadata.name!=web', { 'metadata.name': 'api' }, true],
    ['metadata.name!=web', { 'metadata.name': 'web' }, false],
    // A field the object does not have reads as '': "spec.nodeName=" selects unscheduled pods.
    ['spec.nodeName=', {}, true],
    ['spec.nodeName=', { 'spec.nodeName': 'n1' }, false],
    ['spec.nodeName!=', {}, false],
    ['spec.nodeName!=', { 'spec.nodeName': 'n1' }, true],
    ['spec.nodeName=n1', {}, false],
    ['spec.nodeName!=n1', {}, true],
    ['metadata.namespace=default,status.phase!=Running', { 'metadata.namespace': 'default', 'status.phase': 'Pending' }, true],
    ['metadata.namespace=default,status.phase!=Running', { 'metadata.namespace': 'default', 'status.phase': 'Running' }, false],
    ['metadata.namespace=default,status.phase!=Running', { 'metadata.namespace': 'kube-system' }, false],
    ['a=b\\,c', { a: 'b,c' }, true],
    ['a=b\\,c', { a: 'b' }, false],
    ['status.phase=running', { 'status.phase': 'Running' }, false],
    ['a=b,a=c', { a: 'b' }, false],
  ];

  it.each(cases)('%j against %j -> %s', (selector, fields, expected) => {
    expect(parseFieldSelector(selector).matches(pod(fields))).toBe(expected);
  });

  it('asks only for the fields it names', () => {
    const asked: string[] = [];
    const matched = parseFieldSelector('metadata.name=a,spec.nodeName!=b').matches((f) => {
      asked.push(f);
      return f === 'metadata.name' ? 'a' : undefined;
    });
    expect(matched).toBe(true);
    expect(asked.sort()).toEqual(['metadata.name', 'spec.nodeName']);
  });

  const required: [selector: string, field: string, expected: string | undefined][] = [
    ['metadata.name=foo', 'metadata.name', 'foo'],
    ['metadata.name==foo', 'metadata.name', 'foo'],
    ['metadata.name=foo', 'metadata.namespace', undefined],
    ['metadata.name!=foo', 'metadata.name', undefined],
    ['metadata.name!=bar,metadata.name=foo', 'metadata.name', 'foo'],
    ['spec.nodeName=', 'spec.nodeName', ''],
    ['metadata.namespace=ns,metadata.name=a\\,b', 'metadata.name', 'a,b'],
    ['', 'metadata.name', undefined],
  ];

  it.each(required)('%j requiredValue(%j) is %j', (selector, field, expected) => {
    expect(parseFieldSelector(selector).requiredValue(field)).toBe(expected);
  });

  it('freezes its requirements', () => {
    const sel = parseFieldSelector('a=b');
    expect(Object.isFrozen(sel.requirements)).toBe(true);
    expect(Object.isFrozen(sel.requirements[0])).toBe(true);
  });
});

describe('SelectorError', () => {
  it('is an Error with a stable code', () => {
    const err = new SelectorError('boom');
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('INVALID_SELECTOR');
    expect(err.message).toBe('boom');
    expect(err.name).toBe('SelectorError');
  });
});
