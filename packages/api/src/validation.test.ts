import { describe, expect, it } from 'vitest';
import {
  annotationsSize,
  compareQuantities,
  dns1035Label,
  dns1123Label,
  dns1123Subdomain,
  envVarName,
  formatAge,
  labelKey,
  labelValue,
  nonNegativeQuantity,
  parseQuantity,
  portName,
  portNumber,
  quantity,
  QuantityError,
} from './validation.js';

const a = (n: number): string => 'a'.repeat(n);
/** A valid subdomain of exactly n characters made of 63-character labels. */
function subdomainOfLength(n: number): string {
  const labels: string[] = [];
  let left = n;
  while (left > 0) {
    const take = Math.min(63, left === 64 ? 62 : left); // 63 of the last 64 would leave a dangling dot
    labels.push(a(take));
    left -= take + 1;
  }
  return labels.join('.');
}

describe('dns1123Subdomain', () => {
  it.each([
    'a',
    '0',
    'a.b',
    'my-name',
    '123-abc',
    'example.com',
    'a-b.c-d.e',
    '1.2.3.4',
    a(253),
    subdomainOfLength(253),
  ])('accepts %j', (v) => {
    expect(dns1123Subdomain(v)).toEqual([]);
  });

  it.each(['', '-a', 'a-', '.a', 'a.', 'a..b', 'a.-b', 'a-.b', 'A', 'Example.com', 'a_b', 'a b', 'a/b', 'é', 'a\n'])(
    'rejects %j with the charset rule',
    (v) => {
      const errs = dns1123Subdomain(v);
      expect(errs).toHaveLength(1);
      expect(errs[0]).toMatch(/^a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '\.', and must start and end with an alphanumeric character/);
    },
  );

  it('checks the length at 253/254 characters', () => {
    expect(dns1123Subdomain(subdomainOfLength(253))).toEqual([]);
    expect(subdomainOfLength(254)).toHaveLength(254);
    expect(dns1123Subdomain(subdomainOfLength(254))).toEqual(['must be no more than 253 characters']);
    expect(dns1123Subdomain(a(254))).toEqual(['must be no more than 253 characters']);
  });

  it('reports both the length and the charset when both are wrong', () => {
    expect(dns1123Subdomain(`-${a(253)}`)).toHaveLength(2);
  });

  it('answers for a hostile megabyte-long value (a backtracking pattern would hang here past the test timeout)', () => {
    expect(dns1123Subdomain(`${'a-'.repeat(500_000)}!`)).toHaveLength(2);
    expect(labelKey(`${'a.'.repeat(500_000)}_`)).toHaveLength(2);
  });
});

describe('dns1123Label', () => {
  it.each(['a', '0', 'my-name', '123-abc', 'a-1-b', a(63)])('accepts %j', (v) => {
    expect(dns1123Label(v)).toEqual([]);
  });

  it.each(['', 'a.b', 'A', 'aB', '-a', 'a-', 'a_b', 'a b', 'ä'])('rejects %j with the charset rule', (v) => {
    const errs = dns1123Label(v);
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatch(/^a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character/);
  });

  it('checks the length at 63/64 characters', () => {
    expect(dns1123Label(a(63))).toEqual([]);
    expect(dns1123Label(a(64))).toEqual(['must be no more than 63 characters']);
    expect(dns1123Label(`${a(63)}-`)).toHaveLength(2);
  });
});

describe('dns1035Label', () => {
  it.each(['a', 'my-name', 'abc-123', 'a1', a(63)])('accepts %j', (v) => {
    expect(dns1035Label(v)).toEqual([]);
  });

  it.each(['', '1abc', '0', '123-abc', '-a', 'a-', 'A', 'a.b', 'a_b'])('rejects %j with the charset rule', (v) => {
    const errs = dns1035Label(v);
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatch(/^a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character/);
  });

  it('checks the length at 63/64 characters', () => {
    expect(dns1035Label(a(63))).toEqual([]);
    expect(dns1035Label(a(64))).toEqual(['must be no more than 63 characters']);
  });
});

describe('labelKey', () => {
  it.each([
    'app',
    'a',
    'Z',
    'MyName',
    'my.name',
    'my_name',
    '123-abc',
    'app.kubernetes.io/name',
    'example.com/MyName',
    'kubernetes.io/os',
    a(63),
    `${subdomainOfLength(253)}/${a(63)}`,
  ])('accepts %j', (v) => {
    expect(labelKey(v)).toEqual([]);
  });

  it.each<[string, string[]]>([
    ['/a', ['prefix part must be non-empty']],
    ['a/', ['name part must be non-empty']],
    ['', ['name part must be non-empty']],
    ['/', ['prefix part must be non-empty', 'name part must be non-empty']],
    [a(64), ['name part must be no more than 63 characters']],
    [`example.com/${a(64)}`, ['name part must be no more than 63 characters']],
    [`${a(254)}/a`, ['prefix part must be no more than 253 characters']],
  ])('rejects %j with %j', (v, expected) => {
    expect(labelKey(v)).toEqual(expected);
  });

  it.each(['-a', 'a-', '_a', 'a_', '.a', 'a.', 'a b', 'a:b', 'é'])('rejects the name part %j with the charset rule', (v) => {
    const errs = labelKey(v);
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatch(/^name part a qualified name must consist of alphanumeric characters, '-', '_' or '\.', and must start and end with an alphanumeric character/);
  });

  it.each(['Example.com/a', 'exa_mple.com/a', '-example.com/a', 'example..com/a'])('rejects the prefix of %j as a DNS subdomain', (v) => {
    const errs = labelKey(v);
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatch(/^prefix part a lowercase RFC 1123 subdomain must consist of/);
  });

  it('rejects more than one slash with the whole-name rule', () => {
    const errs = labelKey('a/b/c');
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatch(/^a qualified name must consist of .* with an optional DNS subdomain prefix and '\/'/);
  });
});

describe('labelValue', () => {
  it.each(['', 'a', 'MyValue', 'my_value', '12345', 'a.b-c_d', 'v1.2.3', a(63)])('accepts %j', (v) => {
    expect(labelValue(v)).toEqual([]);
  });

  it.each(['-a', 'a-', '_a', 'a_', '.', 'a/b', 'a b', 'a=b', 'é'])('rejects %j with the charset rule', (v) => {
    const errs = labelValue(v);
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatch(/^a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '\.', and must start and end with an alphanumeric character/);
  });

  it('checks the length at 63/64 characters', () => {
    expect(labelValue(a(63))).toEqual([]);
    expect(labelValue(a(64))).toEqual(['must be no more than 63 characters']);
    expect(labelValue('-'.repeat(64))).toHaveLength(2);
  });
});

describe('annotationsSize', () => {
  const limit = 256 * 1024;

  it.each<[string, Record<string, string>]>([
    ['no annotations', {}],
    ['plain keys, free-form values', { description: 'any text / at all: ✓', 'example.com/note': '' }],
    ['upper-case prefixes, since keys are checked lowercased', { 'Example.COM/Foo': 'x' }],
    ['exactly 256 KiB of keys and values', { k: 'x'.repeat(limit - 1) }],
  ])('accepts %s', (_, annotations) => {
    expect(annotationsSize(annotations)).toEqual([]);
  });

  it('rejects one byte over 256 KiB, summed over all entries', () => {
    const errs = annotationsSize({ k: 'x'.repeat(limit / 2), l: 'x'.repeat(limit / 2 - 2 + 1) });
    expect(errs).toEqual([`annotations are ${limit + 1} bytes in total (keys and values): must have at most ${limit} bytes`]);
  });

  it('counts UTF-8 bytes, not UTF-16 code units', () => {
    const value = 'é'.repeat(limit / 2); // 2 bytes each
    expect(value.length).toBeLessThan(limit);
    expect(annotationsSize({ k: value })).toHaveLength(1);
  });

  it('names each bad key', () => {
    const errs = annotationsSize({ 'a/b/c': '', '': 'x', good: 'y', '-bad': 'z' });
    expect(errs).toHaveLength(3);
    expect(errs[0]).toMatch(/^annotation key "a\/b\/c": a qualified name must consist/);
    expect(errs[1]).toBe('annotation key "": name part must be non-empty');
    expect(errs[2]).toMatch(/^annotation key "-bad": name part a qualified name must consist/);
  });
});

describe('portNumber', () => {
  it.each([1, 80, 8080, 65535])('accepts %j', (n) => {
    expect(portNumber(n)).toEqual([]);
  });

  it.each<unknown>([0, -1, 65536, 80.5, Number.NaN, Number.POSITIVE_INFINITY, '80', null, undefined, 80n, true, {}])('rejects %s', (n) => {
    expect(portNumber(n)).toEqual(['must be an integer between 1 and 65535, inclusive']);
  });
});

describe('portName', () => {
  it.each(['http', 'h', 'http-alt', 'a1', '1a', 'x-1-2', 'metrics', a(15)])('accepts %j', (v) => {
    expect(portName(v)).toEqual([]);
  });

  const charset = 'must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)';
  const letter = 'must contain at least one letter (a-z)';
  it.each<[string, string[]]>([
    [a(16), ['must be no more than 15 characters']],
    ['', [charset, letter]],
    ['80', [letter]],
    ['8-0', [letter]],
    ['HTTP', [charset, letter]],
    ['Http', [charset]],
    ['a_b', [charset]],
    ['a.b', [charset]],
    ['a--b', ['must not contain consecutive hyphens']],
    ['-http', ['must not begin or end with a hyphen']],
    ['http-', ['must not begin or end with a hyphen']],
    ['-', [letter, 'must not begin or end with a hyphen']],
    [`-${a(15)}`, ['must be no more than 15 characters', 'must not begin or end with a hyphen']],
  ])('rejects %j with %j', (v, expected) => {
    expect(portName(v)).toEqual(expected);
  });
});

describe('envVarName', () => {
  it.each(['HOME', 'PATH', 'my.env-name', 'MY_ENV.NAME', 'MyEnvName1', '_', '-', '.a', 'a..b', 'a.', 'a.b.c', '_1'])('accepts %j', (v) => {
    expect(envVarName(v)).toEqual([]);
  });

  it.each(['', '1A', '9', 'A=B', 'A B', 'A:B', 'é', 'A$'])('rejects %j with the charset rule', (v) => {
    const errs = envVarName(v);
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatch(/^a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '\.', and must not start with a digit/);
  });

  it.each<[string, string[]]>([
    ['.', ["must not be '.'"]],
    ['..', ["must not be '..'"]],
    ['..a', ["must not start with '..'"]],
    ['...', ["must not start with '..'"]],
  ])('rejects the path-like name %j', (v, expected) => {
    expect(envVarName(v)).toEqual(expected);
  });
});

describe('parseQuantity', () => {
  const Gi = 2 ** 30;
  it.each<[string | number, string, number, number]>([
    // input, canonical text, milli, value
    ['100m', '100m', 100, 1],
    ['0.5', '500m', 500, 1],
    ['1', '1', 1000, 1],
    ['1.5', '1500m', 1500, 2],
    ['2', '2', 2000, 2],
    ['1000m', '1', 1000, 1],
    ['1000', '1k', 1_000_000, 1000],
    ['1500', '1500', 1_500_000, 1500],
    ['1500000', '1500k', 1_500_000_000, 1_500_000],
    ['.5', '500m', 500, 1],
    ['5.', '5', 5000, 5],
    ['+1', '1', 1000, 1],
    ['007', '7', 7000, 7],
    // binary suffixes
    ['1Ki', '1Ki', 1_024_000, 1024],
    ['1Gi', '1Gi', 1_073_741_824_000, Gi],
    ['2Gi', '2Gi', 2 * Gi * 1000, 2 * Gi],
    ['512Mi', '512Mi', 512 * 2 ** 20 * 1000, 512 * 2 ** 20],
    ['1024Mi', '1Gi', Gi * 1000, Gi],
    ['1.5Gi', '1536Mi', 1.5 * Gi * 1000, 1.5 * Gi],
    ['0.5Gi', '512Mi', 0.5 * Gi * 1000, 0.5 * Gi],
    ['1.5Ki', '1536', 1_536_000, 1536],
    ['1025Ki', '1025Ki', 1025 * 1024 * 1000, 1025 * 1024],
    ['0.5Ki', '512', 512_000, 512],
    ['0.1Ki', '102400m', 102_400, 103],
    ['1Ti', '1Ti', 2 ** 40 * 1000, 2 ** 40],
    ['1Pi', '1Pi', 2 ** 50 * 1000, 2 ** 50],
    ['1Ei', '1Ei', 2 ** 60 * 1000, 2 ** 60],
    ['7Ei', '7Ei', 7 * 2 ** 60 * 1000, 7 * 2 ** 60],
    // decimal suffixes
    ['1n', '1n', 1, 1],
    ['1u', '1u', 1, 1],
    ['100u', '100u', 1, 1],
    ['0.1m', '100u', 1, 1],
    ['1.0001m', '1000100n', 2, 1],
    ['1k', '1k', 1e6, 1e3],
    ['1M', '1M', 1e9, 1e6],
    ['1G', '1G', 1e12, 1e9],
    ['1T', '1T', 1e15, 1e12],
    ['1P', '1P', 1e18, 1e15],
    ['1E', '1E', 1e21, 1e18],
    ['1.5G', '1500M', 1.5e12, 1.5e9],
    // exponents
    ['1e3', '1e3', 1e6, 1e3],
    ['1E3', '1e3', 1e6, 1e3],
    ['1e+3', '1e3', 1e6, 1e3],
    ['1E-3', '1e-3', 1, 1],
    ['1.5e3', '1500', 1.5e6, 1500],
    ['12e0', '12', 12_000, 12],
    ['1e6', '1e6', 1e9, 1e6],
    // finer than nano: rounded up to the smallest step
    ['0.0000000001', '1n', 1, 1],
    // an exponent input keeps the exponent form
    ['1e-30', '1e-9', 1, 1],
    ['1e-999999999', '1e-9', 1, 1],
    ['0.00000000001Ei', '11529215046068470n', 11_529_215_047, 11_529_216],
    // negative values are syntactically valid; rounding goes away from zero
    ['-1Gi', '-1Gi', -1_073_741_824_000, -Gi],
    ['-100m', '-100m', -100, -1],
    ['-1e-30', '-1e-9', -1, -1],
    // zero in every form
    ['0', '0', 0, 0],
    ['-0', '0', 0, 0],
    ['0.0', '0', 0, 0],
    ['0Gi', '0', 0, 0],
    ['0e3', '0', 0, 0],
    ['0m', '0', 0, 0],
    // the largest int64 is accepted
    ['9223372036854775807', '9223372036854775807', 9223372036854775807000, 9223372036854775807],
    // unquoted numbers from JSON or YAML
    [2, '2', 2000, 2],
    [0.5, '500m', 500, 1],
    [1000, '1k', 1e6, 1000],
    [1e-7, '100e-9', 1, 1], // String(1e-7) is "1e-7", so the exponent form is kept
    [-3, '-3', -3000, -3],
  ])('parses %j as %j (milli %j, value %j)', (input, text, milli, value) => {
    const q = parseQuantity(input);
    expect(q).toEqual({ text, milli, value });
    // The canonical text must read back as the same quantity.
    expect(parseQuantity(q.text)).toEqual(q);
  });

  it.each<string | number>([
    '',
    ' ',
    '1.2.3',
    'Gi',
    'm',
    '1 Gi',
    ' 1',
    '1 ',
    '1gi',
    '1GI',
    '1K',
    '1KI',
    '1Kii',
    '1mi',
    '.',
    '+',
    '-',
    '+-1',
    '--1',
    '1e',
    '1e+',
    '1e3.5',
    '1e3Ki',
    'e3',
    '1,5',
    '0x10',
    '１',
    '1m1',
    '1_000',
    'Infinity',
    'NaN',
    '8Ei',
    '9223372036854775808',
    '1e100',
    '1e999999999',
    `1e${'9'.repeat(400)}`,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    1e21,
  ])('rejects %j', (input) => {
    expect(() => parseQuantity(input)).toThrow(QuantityError);
  });

  it('throws an error carrying the code, the input and the reason', () => {
    let caught: unknown;
    try {
      parseQuantity('1gi');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(QuantityError);
    expect(caught).toBeInstanceOf(Error);
    const err = caught as QuantityError;
    expect(err.code).toBe('INVALID_QUANTITY');
    expect(err.name).toBe('QuantityError');
    expect(err.input).toBe('1gi');
    expect(err.message).toBe('invalid quantity "1gi": unknown suffix "gi"; expected Ki, Mi, Gi, Ti, Pi, Ei, n, u, m, k, M, G, T, P, E, or an exponent such as e3');
  });

  it('returns an immutable value', () => {
    const q = parseQuantity('1');
    expect(Object.isFrozen(q)).toBe(true);
  });
});

describe('quantity and nonNegativeQuantity', () => {
  it.each(['1', '-1', '100m', 2])('quantity accepts %j', (v) => {
    expect(quantity(v)).toEqual([]);
  });

  it.each(['', '1 Gi', 'x'])('quantity rejects %j with one message', (v) => {
    const errs = quantity(v);
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatch(/^invalid quantity /);
  });

  it.each<[string, string[]]>([
    ['0', []],
    ['-0', []],
    ['1n', []],
    ['-1n', ['must be greater than or equal to 0']],
    ['-1Gi', ['must be greater than or equal to 0']],
  ])('nonNegativeQuantity(%j) is %j', (v, expected) => {
    expect(nonNegativeQuantity(parseQuantity(v))).toEqual(expected);
  });
});

describe('compareQuantities', () => {
  it.each<[string, string, number]>([
    ['1Gi', '1024Mi', 0],
    ['500m', '0.5', 0],
    ['1e3', '1k', 0],
    ['1536', '1.5Ki', 0],
    ['1G', '1Gi', -1],
    ['1Gi', '1G', 1],
    ['-1', '0', -1],
    ['1n', '0', 1],
    ['-1n', '-1u', 1],
    // beyond 2^53 milli-units the numbers coincide, but the comparison stays exact
    ['9223372036854775807', '9223372036854775806', 1],
  ])('compares %j with %j as %j', (x, y, expected) => {
    expect(compareQuantities(parseQuantity(x), parseQuantity(y))).toBe(expected);
  });

  it('sorts quantities written in different forms', () => {
    const sorted = ['1Gi', '100m', '1G', '-1', '0', '2', '1e3'].map((s) => parseQuantity(s)).sort(compareQuantities);
    expect(sorted.map((q) => q.text)).toEqual(['-1', '0', '100m', '2', '1e3', '1G', '1Gi']);
  });
});

describe('formatAge', () => {
  const s = 1000;
  const m = 60 * s;
  const h = 60 * m;
  const d = 24 * h;
  const y = 365 * d;
  it.each<[number, string]>([
    // clock skew of less than 2 s is "now"; more is an error
    [Number.NaN, '<invalid>'],
    [Number.NEGATIVE_INFINITY, '<invalid>'],
    [-2 * s, '<invalid>'],
    [-1999, '0s'],
    [-1, '0s'],
    // seconds below 2 minutes
    [0, '0s'],
    [999, '0s'],
    [1999.9, '1s'],
    [59 * s, '59s'],
    [75 * s, '75s'],
    [2 * m - 1, '119s'],
    // minutes and seconds below 10 minutes
    [2 * m, '2m'],
    [2 * m + 5 * s, '2m5s'],
    [5 * m + 20 * s, '5m20s'],
    [10 * m - 1, '9m59s'],
    // minutes below 3 hours
    [10 * m, '10m'],
    [10 * m + 59 * s, '10m'],
    [25 * m, '25m'],
    [3 * h - 1, '179m'],
    // hours and minutes below 8 hours
    [3 * h, '3h'],
    [3 * h + 15 * m, '3h15m'],
    [3 * h + 15 * m + 59 * s, '3h15m'],
    [8 * h - 1, '7h59m'],
    // hours below 2 days
    [8 * h, '8h'],
    [30 * h, '30h'],
    [48 * h - 1, '47h'],
    // days and hours below 8 days
    [2 * d, '2d'],
    [5 * d + 3 * h, '5d3h'],
    [8 * d - 1, '7d23h'],
    // days below 2 years
    [8 * d, '8d'],
    [8 * d + 23 * h, '8d'],
    [2 * y - 1, '729d'],
    // years and days below 8 years
    [2 * y, '2y'],
    [2 * y + 45 * d, '2y45d'],
    [8 * y - 1, '7y364d'],
    // years
    [8 * y, '8y'],
    [8 * y + 200 * d, '8y'],
    [100 * y, '100y'],
  ])('formats %j ms as %j', (ms, expected) => {
    expect(formatAge(ms)).toBe(expected);
  });
});
