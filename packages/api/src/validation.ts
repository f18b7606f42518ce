/**
 * The small syntax checks the API server runs on object fields (names, label keys and values,
 * annotations, ports, environment variable names, resource quantities) and the AGE formatting
 * that `kubectl get` prints.
 *
 * Every check returns a list of messages, empty when the value is fine, so the caller can turn
 * each into a field error (`fieldError.invalid(path, value, message)`) and report all problems
 * at once, as Kubernetes does. The messages say what the rule is rather than only "invalid",
 * because users read them in `kubectl apply` output and have to fix the value from them alone.
 */
import { Buffer } from 'node:buffer';

export const DNS1123_LABEL_MAX_LENGTH = 63;
export const DNS1123_SUBDOMAIN_MAX_LENGTH = 253;
export const DNS1035_LABEL_MAX_LENGTH = 63;
export const QUALIFIED_NAME_MAX_LENGTH = 63;
export const LABEL_VALUE_MAX_LENGTH = 63;
export const PORT_NAME_MAX_LENGTH = 15;
/** Kubernetes caps the sum of all annotation keys and values of one object at 256 KiB. */
export const ANNOTATIONS_TOTAL_MAX_BYTES = 256 * 1024;

function maxLength(max: number): string {
  return `must be no more than ${max} characters`;
}

/** Appends examples and the pattern, so that a user can see what a passing value looks like. */
function withPattern(rule: string, pattern: string, ...examples: string[]): string {
  const eg = examples.map((e) => `'${e}'`).join(' or ');
  return `${rule} (e.g. ${eg}; the regex used for validation is '${pattern}')`;
}

// The patterns are kept as text too, because the messages quote them. All are anchored and have
// no nested ambiguous repetition, so a hostile megabyte-long value is still checked in linear time.
const DNS1123_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN = `${DNS1123_LABEL}(\\.${DNS1123_LABEL})*`;
const DNS1035_LABEL = '[a-z]([-a-z0-9]*[a-z0-9])?';
const QUALIFIED_NAME_PART = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const LABEL_VALUE = `(${QUALIFIED_NAME_PART})?`;
const ENV_VAR_NAME = '[-._a-zA-Z][-._a-zA-Z0-9]*';

const anchored = (pattern: string): RegExp => new RegExp(`^(?:${pattern})$`);
const DNS1123_LABEL_RE = anchored(DNS1123_LABEL);
const DNS1123_SUBDOMAIN_RE = anchored(DNS1123_SUBDOMAIN);
const DNS1035_LABEL_RE = anchored(DNS1035_LABEL);
const QUALIFIED_NAME_PART_RE = anchored(QUALIFIED_NAME_PART);
const LABEL_VALUE_RE = anchored(LABEL_VALUE);
const ENV_VAR_NAME_RE = anchored(ENV_VAR_NAME);

const DNS1123_SUBDOMAIN_RULE =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_RULE =
  "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/** Object names of most kinds (pods, configmaps, deployments…). */
export function dns1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (value.length > DNS1123_SUBDOMAIN_MAX_LENGTH) errs.push(maxLength(DNS1123_SUBDOMAIN_MAX_LENGTH));
  if (!DNS1123_SUBDOMAIN_RE.test(value)) errs.push(withPattern(DNS1123_SUBDOMAIN_RULE, DNS1123_SUBDOMAIN, 'example.com'));
  return errs;
}

/** Namespace names, container names, and other names that must fit in one DNS label. */
export function dns1123Label(value: string): string[] {
  const errs: string[] = [];
  if (value.length > DNS1123_LABEL_MAX_LENGTH) errs.push(maxLength(DNS1123_LABEL_MAX_LENGTH));
  if (!DNS1123_LABEL_RE.test(value)) {
    errs.push(
      withPattern(
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
        DNS1123_LABEL,
        'my-name',
        '123-abc',
      ),
    );
  }
  return errs;
}

/** Service names: they become DNS labels that some resolvers refuse when they start with a digit. */
export function dns1035Label(value: string): string[] {
  const errs: string[] = [];
  if (value.length > DNS1035_LABEL_MAX_LENGTH) errs.push(maxLength(DNS1035_LABEL_MAX_LENGTH));
  if (!DNS1035_LABEL_RE.test(value)) {
    errs.push(
      withPattern(
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
        DNS1035_LABEL,
        'my-name',
        'abc-123',
      ),
    );
  }
  return errs;
}

/**
 * A qualified name: `[prefix/]name`, where the optional prefix is a DNS subdomain (conventionally
 * the owner's domain, e.g. "app.kubernetes.io") and the name is at most 63 characters. Label keys
 * and annotation keys have this form.
 */
export function qualifiedName(value: string): string[] {
  const parts = value.split('/');
  if (parts.length > 2) {
    return [
      withPattern(
        `a qualified name must ${QUALIFIED_NAME_RULE}, with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
        QUALIFIED_NAME_PART,
        'MyName',
        'my.name',
        '123-abc',
      ),
    ];
  }
  const errs: string[] = [];
  const name = parts.length === 2 ? parts[1] : parts[0];
  if (parts.length === 2) {
    const prefix = parts[0];
    if (prefix === '') errs.push('prefix part must be non-empty');
    else errs.push(...dns1123Subdomain(prefix).map((m) => `prefix part ${m}`));
  }
  if (name === '') {
    // The charset message would only repeat that an empty name has no alphanumeric ends.
    errs.push('name part must be non-empty');
    return errs;
  }
  if (name.length > QUALIFIED_NAME_MAX_LENGTH) errs.push(`name part ${maxLength(QUALIFIED_NAME_MAX_LENGTH)}`);
  if (!QUALIFIED_NAME_PART_RE.test(name)) {
    errs.push(`name part ${withPattern(`a qualified name must ${QUALIFIED_NAME_RULE}`, QUALIFIED_NAME_PART, 'MyName', 'my.name', '123-abc')}`);
  }
  return errs;
}

/** Label keys are qualified names, case-sensitive (unlike annotation keys, see annotationsSize). */
export function labelKey(key: string): string[] {
  return qualifiedName(key);
}

/** Label values may be empty, so that a label can be used as a plain tag. */
export function labelValue(value: string): string[] {
  const errs: string[] = [];
  if (value.length > LABEL_VALUE_MAX_LENGTH) errs.push(maxLength(LABEL_VALUE_MAX_LENGTH));
  if (!LABEL_VALUE_RE.test(value)) {
    errs.push(withPattern(`a valid label must be an empty string or ${QUALIFIED_NAME_RULE}`, LABEL_VALUE, 'MyValue', 'my_value', '12345'));
  }
  return errs;
}

/**
 * Checks every annotation key and the total size. Keys are checked after lowercasing, as
 * Kubernetes does, so that existing objects with upper-case key prefixes keep validating; values
 * are free-form. The size counts UTF-8 bytes because the limit exists to bound what the store
 * holds, and the store holds bytes.
 */
export function annotationsSize(annotations: Record<string, string>): string[] {
  const errs: string[] = [];
  let total = 0;
  for (const [key, value] of Object.entries(annotations)) {
    for (const m of qualifiedName(key.toLowerCase())) errs.push(`annotation key ${JSON.stringify(key)}: ${m}`);
    total += Buffer.byteLength(key, 'utf8') + Buffer.byteLength(value, 'utf8');
  }
  if (total > ANNOTATIONS_TOTAL_MAX_BYTES) {
    errs.push(`annotations are ${total} bytes in total (keys and values): must have at most ${ANNOTATIONS_TOTAL_MAX_BYTES} bytes`);
  }
  return errs;
}

/** Takes `unknown` because the value comes straight from decoded JSON, where "80" or 80.5 may appear. */
export function portNumber(n: unknown): string[] {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) return ['must be an integer between 1 and 65535, inclusive'];
  return [];
}

/** IANA service names (RFC 6335), which container port names must be so that SRV lookups work. */
export function portName(name: string): string[] {
  const errs: string[] = [];
  if (name.length > PORT_NAME_MAX_LENGTH) errs.push(maxLength(PORT_NAME_MAX_LENGTH));
  if (!/^[-a-z0-9]+$/.test(name)) errs.push('must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)');
  // A name of digits only would be ambiguous with a port number wherever either may be given.
  if (!/[a-z]/.test(name)) errs.push('must contain at least one letter (a-z)');
  if (name.includes('--')) errs.push('must not contain consecutive hyphens');
  if (name.startsWith('-') || name.endsWith('-')) errs.push('must not begin or end with a hyphen');
  return errs;
}

/**
 * Environment variable names as Kubernetes has long accepted them: wider than POSIX (dots and
 * dashes are allowed, for Java-style properties) but still something a shell or runtime can set.
 * "." and names starting with ".." are refused, as Kubernetes does, because the same names are
 * used as file names when variables are projected into volumes.
 */
export function envVarName(name: string): string[] {
  const errs: string[] = [];
  if (!ENV_VAR_NAME_RE.test(name)) {
    errs.push(
      withPattern(
        "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit",
        ENV_VAR_NAME,
        'my.env-name',
        'MY_ENV.NAME',
        'MyEnvName1',
      ),
    );
  }
  if (name === '.') errs.push("must not be '.'");
  else if (name === '..') errs.push("must not be '..'");
  else if (name.startsWith('..')) errs.push("must not start with '..'");
  return errs;
}

// ---------------------------------------------------------------------------------------------
// Quantities
// ---------------------------------------------------------------------------------------------

export interface Quantity {
  /** canonical string, e.g. "500m", "1Gi", "2" */
  readonly text: string;
  /** value in milli-units, exact for the inputs Kubernetes accepts up to 2^53 */
  readonly milli: number;
  /** value rounded up to whole units (bytes for memory, cores for CPU) */
  readonly value: number;
}

export class QuantityError extends Error {
  readonly code = 'INVALID_QUANTITY';
  readonly input: string;
  constructor(input: string, why: string) {
    super(`invalid quantity ${JSON.stringify(input)}: ${why}`);
    this.name = 'QuantityError';
    this.input = input;
  }
}

/** How the input was written; the canonical text keeps the same family of suffix. */
type QuantityFormat = 'binary' | 'decimal' | 'exponent';

const BINARY_SUFFIXES: Readonly<Record<string, number>> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 };
const DECIMAL_SUFFIXES: Readonly<Record<string, number>> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const DECIMAL_SUFFIX_BY_EXPONENT = new Map(Object.entries(DECIMAL_SUFFIXES).map(([s, e]) => [e, s]));
const BINARY_SUFFIX_BY_POWER = new Map(Object.entries(BINARY_SUFFIXES).map(([s, p]) => [p, s]));
const SUFFIX_LIST = 'Ki, Mi, Gi, Ti, Pi, Ei, n, u, m, k, M, G, T, P, E, or an exponent such as e3';

// Values are held as an exact count of nano-units in a BigInt: nano is the finest scale Kubernetes
// keeps, and a BigInt avoids the binary-fraction errors a float would bring into "0.1" or "1.1Gi".
const NANO_PER_UNIT = 10n ** 9n;
const NANO_PER_MILLI = 10n ** 6n;
/** Kubernetes stores whole-unit values as int64; anything beyond is refused rather than capped. */
const MAX_NANOS = (2n ** 63n - 1n) * NANO_PER_UNIT;

const NUMBER_PREFIX = /^([+-]?)([0-9]*)(?:\.([0-9]*))?/;
const EXPONENT_SUFFIX = /^[eE]([+-]?[0-9]+)$/;

/** Division that rounds away from zero, Kubernetes' rule for dropping precision ("round up"). */
function divAway(n: bigint, d: bigint): bigint {
  const q = n / d;
  if (q * d === n) return q;
  return n < 0n ? q - 1n : q + 1n;
}

interface ParsedQuantity {
  nanos: bigint;
  format: QuantityFormat;
}

function parseExact(input: string): ParsedQuantity {
  if (input === '') throw new QuantityError(input, 'must not be empty');
  const m = NUMBER_PREFIX.exec(input);
  const intDigits = m?.[2] ?? '';
  const fracDigits = m?.[3] ?? '';
  if (m === null || intDigits + fracDigits === '') throw new QuantityError(input, 'must start with a number, optionally signed (e.g. "100m", "1.5", "2Gi")');
  const negative = m[1] === '-';
  const suffix = input.slice(m[0].length);

  let scale10 = -fracDigits.length;
  let power1024 = 0;
  let format: QuantityFormat;
  const exp = EXPONENT_SUFFIX.exec(suffix);
  if (Object.hasOwn(BINARY_SUFFIXES, suffix)) {
    power1024 = BINARY_SUFFIXES[suffix];
    format = 'binary';
  } else if (Object.hasOwn(DECIMAL_SUFFIXES, suffix)) {
    scale10 += DECIMAL_SUFFIXES[suffix];
    format = 'decimal';
  } else if (exp !== null) {
    // A Number is enough: an exponent past 2^53 only needs to be recognised as huge or tiny.
    scale10 += Number(exp[1]);
    format = 'exponent';
  } else {
    throw new QuantityError(input, `unknown suffix ${JSON.stringify(suffix)}; expected ${SUFFIX_LIST}`);
  }

  const digits = BigInt(intDigits + fracDigits);
  if (digits === 0n) return { nanos: 0n, format };
  // Bound the exponent before any BigInt power is taken, so "1e999999999" cannot hang the server.
  const magnitude = digits.toString().length - 1 + scale10;
  if (magnitude > 40) throw new QuantityError(input, 'is too large (at most 2^63-1 whole units)');
  let nanos: bigint;
  if (magnitude < -40) {
    nanos = 1n; // below one nano-unit even with the largest binary suffix: round up to the smallest step
  } else {
    const numerator = digits * 1024n ** BigInt(power1024);
    const shift = scale10 + 9;
    nanos = shift >= 0 ? numerator * 10n ** BigInt(shift) : divAway(numerator, 10n ** BigInt(-shift));
  }
  if (nanos > MAX_NANOS) throw new QuantityError(input, 'is too large (at most 2^63-1 whole units)');
  return { nanos: negative ? -nanos : nanos, format };
}

/**
 * Canonical text, following Kubernetes' choices: the family of suffix the user wrote is kept,
 * with the largest suffix that leaves an integer mantissa; binary values that are below 1Ki or
 * fractional are shown in decimal form because no binary suffix can show them exactly.
 */
function canonical({ nanos, format }: ParsedQuantity): string {
  if (nanos === 0n) return '0';
  const abs = nanos < 0n ? -nanos : nanos;
  if (format === 'binary' && abs >= 1024n * NANO_PER_UNIT && nanos % NANO_PER_UNIT === 0n) {
    const units = nanos / NANO_PER_UNIT;
    for (let p = 6; p >= 1; p--) {
      const step = 1024n ** BigInt(p);
      if (units % step === 0n) return `${units / step}${BINARY_SUFFIX_BY_POWER.get(p)}`;
    }
    return `${units}`;
  }
  for (let e = 18; e >= -9; e -= 3) {
    const step = 10n ** BigInt(e + 9);
    if (nanos % step !== 0n) continue;
    const mantissa = nanos / step;
    if (format === 'exponent') return e === 0 ? `${mantissa}` : `${mantissa}e${e}`;
    return `${mantissa}${DECIMAL_SUFFIX_BY_EXPONENT.get(e)}`;
  }
  // Unreachable: every value is a whole number of nano-units, and the e = -9 step is 1.
  return `${nanos}n`;
}

function toQuantity(p: ParsedQuantity): Quantity {
  return Object.freeze({
    text: canonical(p),
    milli: Number(divAway(p.nanos, NANO_PER_MILLI)),
    value: Number(divAway(p.nanos, NANO_PER_UNIT)),
  });
}

/** Accepts a number too, because JSON manifests may write `cpu: 2` or `cpu: 0.5` unquoted. */
function inputText(text: string | number): string {
  if (typeof text === 'number') {
    if (!Number.isFinite(text)) throw new QuantityError(String(text), 'must be a finite number');
    return String(text); // "1e+21" and "1e-7" forms parse as exponent quantities
  }
  if (typeof text !== 'string') throw new QuantityError(String(text), 'must be a string or a number');
  return text;
}

/**
 * Parses a Kubernetes resource quantity: a signed decimal number followed by a binary suffix
 * (Ki…Ei), a decimal suffix (n, u, m, none, k…E) or an exponent (e3, E-3). Negative values are
 * syntactically valid, as in Kubernetes; use nonNegativeQuantity where a field forbids them.
 * Precision finer than one nano-unit is rounded up; milli and value are rounded away from zero.
 */
export function parseQuantity(text: string | number): Quantity {
  return toQuantity(parseExact(inputText(text)));
}

/** Exact comparison, also for values beyond 2^53 milli-units where `milli` is approximate. */
export function compareQuantities(a: Quantity, b: Quantity): number {
  const x = parseExact(a.text).nanos;
  const y = parseExact(b.text).nanos;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The validation form of parseQuantity, for fields that hold a quantity. */
export function quantity(text: string | number): string[] {
  try {
    parseQuantity(text);
    return [];
  } catch (err) {
    if (err instanceof QuantityError) return [err.message];
    throw err;
  }
}

export function nonNegativeQuantity(q: Quantity): string[] {
  return parseExact(q.text).nanos < 0n ? ['must be greater than or equal to 0'] : [];
}

// ---------------------------------------------------------------------------------------------
// AGE
// ---------------------------------------------------------------------------------------------

/**
 * Formats an elapsed time the way `kubectl get` prints AGE: two units while the larger one is
 * small, then only the larger one, so the column stays narrow but recent changes stay precise.
 * A slightly negative value (under 2 s) prints "0s" because clocks of different machines
 * disagree a little; anything more negative is shown as "<invalid>".
 */
export function formatAge(ms: number): string {
  if (!Number.isFinite(ms)) return '<invalid>';
  // Truncation toward zero keeps -1.5 s inside the tolerated skew, like a conversion to int would.
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 2 * 60) return `${seconds}s`;

  const two = (big: number, bigUnit: string, small: number, smallUnit: string): string =>
    small === 0 ? `${big}${bigUnit}` : `${big}${bigUnit}${small}${smallUnit}`;

  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return two(minutes, 'm', seconds % 60, 's');
  if (minutes < 3 * 60) return `${minutes}m`;

  const hours = Math.floor(minutes / 60);
  if (hours < 8) return two(hours, 'h', minutes % 60, 'm');
  if (hours < 48) return `${hours}h`;

  const days = Math.floor(hours / 24);
  if (days < 8) return two(days, 'd', hours % 24, 'h');
  if (days < 2 * 365) return `${days}d`;

  const years = Math.floor(days / 365);
  if (years < 8) return two(years, 'y', days % 365, 'd');
  return `${years}y`;
}
