/**
 * Label selectors and field selectors, as accepted in the `labelSelector` / `fieldSelector` query
 * parameters and as `metav1.LabelSelector` objects (matchLabels + matchExpressions).
 *
 * Parsed selectors are immutable and keep their requirements in a canonical order (by key or
 * field, then by rendered text), so `toString()` is deterministic: two selectors that differ only
 * in the order of their ANDed terms print the same, and the printed form parses back to an equal
 * selector. Callers can therefore compare or cache selectors by their string form.
 */

export class SelectorError extends Error {
  readonly code = 'INVALID_SELECTOR';
  constructor(message: string) {
    super(message);
    this.name = 'SelectorError';
  }
}

// ---- label keys and values ----------------------------------------------------------------

const LABEL_NAME_MAX = 63;
const LABEL_PREFIX_MAX = 253;
const LABEL_VALUE_MAX = 63;
const LABEL_NAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN_RE = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Why `key` is not a valid label key, or undefined when it is. Exposed so object validation can
 * report label problems in the same words the selector parser uses.
 */
export function labelKeyError(key: string): string | undefined {
  if (typeof key !== 'string') return 'a label key must be a string';
  if (key === '') return 'a label key must not be empty';
  const slash = key.indexOf('/');
  let name = key;
  if (slash >= 0) {
    if (key.indexOf('/', slash + 1) >= 0) return "a label key may contain at most one '/'";
    const prefix = key.slice(0, slash);
    name = key.slice(slash + 1);
    if (prefix === '') return "the prefix before '/' must not be empty";
    if (prefix.length > LABEL_PREFIX_MAX) return `the prefix must be at most ${LABEL_PREFIX_MAX} characters`;
    if (!DNS_SUBDOMAIN_RE.test(prefix)) {
      return "the prefix must be a DNS subdomain: lowercase alphanumerics, '-' and '.', starting and ending with an alphanumeric";
    }
  }
  if (name === '') return 'the name part must not be empty';
  if (name.length > LABEL_NAME_MAX) return `the name part must be at most ${LABEL_NAME_MAX} characters`;
  if (!LABEL_NAME_RE.test(name)) {
    return "the name part must consist of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric";
  }
  return undefined;
}

/** Why `value` is not a valid label value, or undefined when it is (the empty string is valid). */
export function labelValueError(value: string): string | undefined {
  if (typeof value !== 'string') return 'a label value must be a string';
  if (value === '') return undefined;
  if (value.length > LABEL_VALUE_MAX) return `a label value must be at most ${LABEL_VALUE_MAX} characters`;
  if (!LABEL_NAME_RE.test(value)) {
    return "a label value must be empty or consist of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric";
  }
  return undefined;
}

function checkKey(key: string, context: string): void {
  const problem = labelKeyError(key);
  if (problem !== undefined) throw new SelectorError(`${context}invalid label key ${JSON.stringify(key)}: ${problem}`);
}

function checkValue(key: string, value: string, context: string): void {
  const problem = labelValueError(value);
  if (problem !== undefined) {
    throw new SelectorError(`${context}invalid value ${JSON.stringify(value)} for label key ${JSON.stringify(key)}: ${problem}`);
  }
}

// ---- label selectors ----------------------------------------------------------------------

export type LabelRequirement =
  | { key: string; op: 'eq' | 'neq'; value: string }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | 'notexists' };

export interface LabelSelector {
  readonly requirements: readonly LabelRequirement[];
  matches(labels: Readonly<Record<string, string>> | undefined): boolean;
  toString(): string;
  /** True when the selector places no restriction (matches everything). */
  isEmpty(): boolean;
}

/** A single entry of `matchExpressions`, as it arrives in JSON. */
export interface LabelSelectorRequirementObject {
  key: string;
  operator: string;
  values?: readonly string[] | null;
}

/** `metav1.LabelSelector` as it arrives in JSON. */
export interface LabelSelectorObject {
  matchLabels?: Readonly<Record<string, string>> | null;
  matchExpressions?: readonly LabelSelectorRequirementObject[] | null;
}

function renderLabelRequirement(r: LabelRequirement): string {
  switch (r.op) {
    case 'eq':
      return `${r.key}=${r.value}`;
    case 'neq':
      return `${r.key}!=${r.value}`;
    case 'in':
      return `${r.key} in (${r.values.join(',')})`;
    case 'notin':
      return `${r.key} notin (${r.values.join(',')})`;
    case 'exists':
      return r.key;
    case 'notexists':
      return `!${r.key}`;
  }
}

function compareStrings(a: string, b: string): number {
  // Code-unit order, not locale order: the canonical form must not depend on the host's locale.
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Values of a set requirement are a set: order and duplicates carry no meaning. */
function canonicalValues(values: readonly string[]): string[] {
  return [...new Set(values)].sort(compareStrings);
}

function labelMatches(r: LabelRequirement, labels: Readonly<Record<string, string>>): boolean {
  // Object.hasOwn, not `in` or indexing: a key like "constructor" must not see Object.prototype.
  const has = Object.hasOwn(labels, r.key);
  const value = has ? labels[r.key] : undefined;
  switch (r.op) {
    case 'exists':
      return has;
    case 'notexists':
      return !has;
    case 'eq':
      return has && value === r.value;
    case 'neq':
      // Kubernetes semantics: an object without the label is "not equal" to any value.
      return !has || value !== r.value;
    case 'in':
      return has && r.values.includes(value as string);
    case 'notin':
      return !has || !r.values.includes(value as string);
  }
}

class RequirementsLabelSelector implements LabelSelector {
  readonly requirements: readonly LabelRequirement[];
  private readonly text: string;

  constructor(requirements: LabelRequirement[]) {
    const rendered = requirements.map((r) => ({ r: Object.freeze(r), text: renderLabelRequirement(r) }));
    rendered.sort((a, b) => compareStrings(a.r.key, b.r.key) || compareStrings(a.text, b.text));
    this.requirements = Object.freeze(rendered.map((x) => x.r));
    this.text = rendered.map((x) => x.text).join(',');
  }

  matches(labels: Readonly<Record<string, string>> | undefined): boolean {
    const ls = labels ?? {};
    for (const r of this.requirements) if (!labelMatches(r, ls)) return false;
    return true;
  }

  isEmpty(): boolean {
    return this.requirements.length === 0;
  }

  toString(): string {
    return this.text;
  }
}

/**
 * The selector an absent (null) `metav1.LabelSelector` converts to. Kubernetes distinguishes the
 * two on purpose: an empty selector `{}` selects everything, an absent one selects nothing, so a
 * controller whose selector was dropped does not suddenly adopt every pod in the namespace.
 */
class NothingLabelSelector implements LabelSelector {
  readonly requirements: readonly LabelRequirement[] = Object.freeze([]);
  matches(): boolean {
    return false;
  }
  isEmpty(): boolean {
    return false;
  }
  /** No selector string selects nothing without naming a key; '' is what Kubernetes prints too. */
  toString(): string {
    return '';
  }
}

const EVERYTHING: LabelSelector = new RequirementsLabelSelector([]);
const NOTHING: LabelSelector = new NothingLabelSelector();

/** A selector that matches every label set. */
export function everythingLabelSelector(): LabelSelector {
  return EVERYTHING;
}

/** A selector that matches no label set (what an absent `metav1.LabelSelector` means). */
export function nothingLabelSelector(): LabelSelector {
  return NOTHING;
}

type TokenKind = 'word' | '!' | '=' | '==' | '!=' | '(' | ')' | ',' | 'end';
interface Token {
  kind: TokenKind;
  text: string;
  pos: number;
}

const SPECIAL = new Set(['!', '=', '(', ')', ',', '<', '>']);
const isSpace = (c: string): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';

function describe(t: Token): string {
  return t.kind === 'end' ? 'end of string' : `'${t.text}'`;
}

function lexLabelSelector(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (isSpace(c)) {
      i++;
      continue;
    }
    const pos = i;
    if (c === '<' || c === '>') {
      // Kubernetes also has numeric '<' / '>' requirements; Flotilla's requirement model does
      // not, and accepting them silently as something else would select the wrong objects.
      throw new SelectorError(`unable to parse requirement: the '${c}' operator is not supported (at position ${pos})`);
    }
    if (c === '!' || c === '=') {
      if (text[i + 1] === '=') {
        tokens.push({ kind: c === '!' ? '!=' : '==', text: `${c}=`, pos });
        i += 2;
      } else {
        tokens.push({ kind: c, text: c, pos });
        i++;
      }
      continue;
    }
    if (c === '(' || c === ')' || c === ',') {
      tokens.push({ kind: c, text: c, pos });
      i++;
      continue;
    }
    while (i < text.length && !isSpace(text[i]) && !SPECIAL.has(text[i])) i++;
    tokens.push({ kind: 'word', text: text.slice(pos, i), pos });
  }
  tokens.push({ kind: 'end', text: '', pos: text.length });
  return tokens;
}

class LabelSelectorParser {
  private readonly tokens: Token[];
  private at = 0;

  constructor(private readonly text: string) {
    this.tokens = lexLabelSelector(text);
  }

  private peek(): Token {
    return this.tokens[this.at];
  }

  private next(): Token {
    const t = this.tokens[this.at];
    if (t.kind !== 'end') this.at++;
    return t;
  }

  private fail(message: string): never {
    throw new SelectorError(`unable to parse requirement: ${message} in ${JSON.stringify(this.text)}`);
  }

  private unexpected(t: Token, expected: string): never {
    this.fail(`found ${describe(t)} at position ${t.pos}, expected ${expected}`);
  }

  parse(): LabelRequirement[] {
    const out: LabelRequirement[] = [];
    if (this.peek().kind === 'end') return out;
    for (;;) {
      out.push(this.requirement());
      const t = this.next();
      if (t.kind === 'end') return out;
      // A trailing comma is rejected (as Kubernetes does): "a=b," is more likely a truncated
      // selector than an intentional one.
      if (t.kind !== ',') this.unexpected(t, "',' or end of string");
    }
  }

  private requirement(): LabelRequirement {
    let t = this.next();
    if (t.kind === '!') {
      t = this.next();
      if (t.kind !== 'word') this.unexpected(t, 'a label key after \'!\'');
      const key = this.key(t);
      const after = this.peek();
      // Kubernetes quietly drops the '!' in "!a=b"; refusing it avoids selecting the opposite set.
      if (after.kind !== ',' && after.kind !== 'end') this.unexpected(after, `',' or end of string after '!${key}'`);
      return { key, op: 'notexists' };
    }
    // "in" and "notin" are only operators after a key, so a label actually named "in" can still
    // be selected (and matchLabels {in: x} prints as something that parses back).
    if (t.kind !== 'word') this.unexpected(t, "a label key or '!'");
    const key = this.key(t);
    const op = this.peek();
    if (op.kind === ',' || op.kind === 'end') return { key, op: 'exists' };
    this.next();
    if (op.kind === '=' || op.kind === '==' || op.kind === '!=') {
      const v = this.peek();
      let value = '';
      // "a=" selects an empty value, as in Kubernetes.
      if (v.kind === 'word') value = this.next().text;
      else if (v.kind !== ',' && v.kind !== 'end') this.unexpected(v, `a value after '${op.text}'`);
      checkValue(key, value, 'unable to parse requirement: ');
      return { key, op: op.kind === '!=' ? 'neq' : 'eq', value };
    }
    if (op.kind === 'word' && (op.text === 'in' || op.text === 'notin')) {
      return { key, op: op.text, values: this.valueSet(key) };
    }
    this.unexpected(op, "'=', '==', '!=', 'in', 'notin', ',' or end of string");
  }

  private key(t: Token): string {
    checkKey(t.text, 'unable to parse requirement: ');
    return t.text;
  }

  /**
   * "(x,y)". Empty members are allowed and mean the empty value, so "()", "(,x)" and "(x,)" all
   * include "" — the same reading Kubernetes gives them.
   */
  private valueSet(key: string): string[] {
    const open = this.next();
    if (open.kind !== '(') this.unexpected(open, "'('");
    const values: string[] = [];
    for (;;) {
      const t = this.next();
      if (t.kind === 'word') {
        values.push(t.text);
        const sep = this.next();
        if (sep.kind === ')') break;
        if (sep.kind !== ',') this.unexpected(sep, "',' or ')'");
      } else if (t.kind === ',') {
        values.push('');
      } else if (t.kind === ')') {
        values.push('');
        break;
      } else {
        this.unexpected(t, "a value, ',' or ')'");
      }
    }
    for (const v of values) checkValue(key, v, 'unable to parse requirement: ');
    return canonicalValues(values);
  }
}

/**
 * Parses the `labelSelector` query-parameter syntax: comma-separated (ANDed) requirements of the
 * forms `k=v`, `k==v`, `k!=v`, `k in (v1,v2)`, `k notin (v1)`, `k`, `!k`. The empty string
 * selects everything.
 */
export function parseLabelSelector(text: string): LabelSelector {
  if (typeof text !== 'string') throw new SelectorError('a label selector must be a string');
  const requirements = new LabelSelectorParser(text).parse();
  return requirements.length === 0 ? EVERYTHING : new RequirementsLabelSelector(requirements);
}

function objectRequirements(sel: LabelSelectorObject): LabelRequirement[] {
  const out: LabelRequirement[] = [];
  const { matchLabels, matchExpressions } = sel;
  if (matchLabels !== undefined && matchLabels !== null) {
    if (typeof matchLabels !== 'object' || Array.isArray(matchLabels)) throw new SelectorError('matchLabels: must be an object');
    for (const [key, value] of Object.entries(matchLabels)) {
      checkKey(key, 'matchLabels: ');
      checkValue(key, value, 'matchLabels: ');
      out.push({ key, op: 'eq', value });
    }
  }
  if (matchExpressions !== undefined && matchExpressions !== null) {
    if (!Array.isArray(matchExpressions)) throw new SelectorError('matchExpressions: must be an array');
    matchExpressions.forEach((expr: LabelSelectorRequirementObject, i: number) => {
      const where = `matchExpressions[${i}]: `;
      if (expr === null || typeof expr !== 'object') throw new SelectorError(`${where}must be an object`);
      const { key, operator } = expr;
      checkKey(key, where);
      const values = expr.values ?? [];
      if (!Array.isArray(values)) throw new SelectorError(`${where}values must be an array`);
      for (const v of values) checkValue(key, v, where);
      switch (operator) {
        case 'In':
        case 'NotIn':
          if (values.length === 0) throw new SelectorError(`${where}operator ${operator} requires at least one value`);
          out.push({ key, op: operator === 'In' ? 'in' : 'notin', values: canonicalValues(values) });
          break;
        case 'Exists':
        case 'DoesNotExist':
          if (values.length !== 0) throw new SelectorError(`${where}operator ${operator} must not have values`);
          out.push({ key, op: operator === 'Exists' ? 'exists' : 'notexists' });
          break;
        default:
          throw new SelectorError(
            `${where}unknown operator ${JSON.stringify(operator)}; expected In, NotIn, Exists or DoesNotExist`,
          );
      }
    });
  }
  return out;
}

/**
 * Converts a `metav1.LabelSelector`. `{}` selects everything; null/undefined selects nothing
 * (Kubernetes semantics, see NothingLabelSelector). Operators are case-sensitive, as in the API.
 */
export function labelSelectorFromObject(sel: LabelSelectorObject | undefined | null): LabelSelector {
  if (sel === undefined || sel === null) return NOTHING;
  if (typeof sel !== 'object' || Array.isArray(sel)) throw new SelectorError('a label selector must be an object');
  const requirements = objectRequirements(sel);
  return requirements.length === 0 ? EVERYTHING : new RequirementsLabelSelector(requirements);
}

/** A selector requiring exactly these labels, e.g. a Service's `spec.selector` map. */
export function labelSelectorFromSet(labels: Readonly<Record<string, string>>): LabelSelector {
  return labelSelectorFromObject({ matchLabels: labels });
}

/** Canonical string form of a `metav1.LabelSelector` (e.g. for Scale `status.selector`). */
export function labelSelectorToString(sel: LabelSelectorObject): string {
  return labelSelectorFromObject(sel).toString();
}

// ---- field selectors ----------------------------------------------------------------------

export type FieldRequirement = { field: string; op: 'eq' | 'neq'; value: string };

export interface FieldSelector {
  readonly requirements: readonly FieldRequirement[];
  /** `get` returns the object's value for a field; undefined compares as ''. */
  matches(get: (field: string) => string | undefined): boolean;
  isEmpty(): boolean;
  toString(): string;
  /** the value required by an `=`/`==` term on this field, if any */
  requiredValue(field: string): string | undefined;
}

// Field names never need these, and allowing them would make the printed form ambiguous
// (a field "a!" with "=" would print as "a!=").
const BAD_FIELD_CHAR = /[\s\\!=,]/;

function escapeFieldValue(value: string): string {
  return value.replace(/[\\,=]/g, (c) => `\\${c}`);
}

function unescapeFieldValue(raw: string, term: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === '\\') {
      const n = raw[i + 1];
      if (n === '\\' || n === ',' || n === '=') {
        out += n;
        i++;
        continue;
      }
      const seq = n === undefined ? "a trailing '\\'" : `the escape sequence '\\${n}'`;
      throw new SelectorError(`invalid field selector term ${JSON.stringify(term)}: ${seq} is not allowed; only \\\\, \\, and \\= are`);
    }
    if (c === '=' || c === ',') {
      throw new SelectorError(`invalid field selector term ${JSON.stringify(term)}: '${c}' in a value must be escaped as '\\${c}'`);
    }
    out += c;
  }
  return out;
}

/** Splits on commas that are not escaped by a backslash. */
function splitFieldTerms(text: string): string[] {
  const terms: string[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === ',') {
      terms.push(text.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(text.slice(start));
  return terms;
}

function parseFieldTerm(term: string): FieldRequirement {
  // The first unescaped operator splits the term, so values may contain a literal '!'.
  for (let i = 0; i < term.length; i++) {
    const c = term[i];
    if (c === '\\') {
      i++;
      continue;
    }
    let op: FieldRequirement['op'];
    let width: number;
    if (c === '!' && term[i + 1] === '=') [op, width] = ['neq', 2];
    else if (c === '=' && term[i + 1] === '=') [op, width] = ['eq', 2];
    else if (c === '=') [op, width] = ['eq', 1];
    else continue;
    const field = term.slice(0, i).trim();
    if (field === '') throw new SelectorError(`invalid field selector term ${JSON.stringify(term)}: missing field name`);
    if (BAD_FIELD_CHAR.test(field)) throw new SelectorError(`invalid field selector term ${JSON.stringify(term)}: invalid field name ${JSON.stringify(field)}`);
    const value = unescapeFieldValue(term.slice(i + width).trim(), term);
    return { field, op, value };
  }
  throw new SelectorError(`invalid field selector term ${JSON.stringify(term)}: expected field=value, field==value or field!=value`);
}

function renderFieldRequirement(r: FieldRequirement): string {
  return `${r.field}${r.op === 'eq' ? '=' : '!='}${escapeFieldValue(r.value)}`;
}

class RequirementsFieldSelector implements FieldSelector {
  readonly requirements: readonly FieldRequirement[];
  private readonly text: string;

  constructor(requirements: FieldRequirement[]) {
    const rendered = requirements.map((r) => ({ r: Object.freeze(r), text: renderFieldRequirement(r) }));
    rendered.sort((a, b) => compareStrings(a.r.field, b.r.field) || compareStrings(a.text, b.text));
    this.requirements = Object.freeze(rendered.map((x) => x.r));
    this.text = rendered.map((x) => x.text).join(',');
  }

  matches(get: (field: string) => string | undefined): boolean {
    for (const r of this.requirements) {
      // A missing field reads as '' so that e.g. "spec.nodeName=" selects unscheduled pods.
      const actual = get(r.field) ?? '';
      if ((actual === r.value) !== (r.op === 'eq')) return false;
    }
    return true;
  }

  isEmpty(): boolean {
    return this.requirements.length === 0;
  }

  toString(): string {
    return this.text;
  }

  /**
   * With conflicting `=` terms on one field (which match nothing) this returns the first in
   * canonical order; either is a correct narrowing for an index lookup since both must hold.
   */
  requiredValue(field: string): string | undefined {
    for (const r of this.requirements) if (r.field === field && r.op === 'eq') return r.value;
    return undefined;
  }
}

/**
 * Parses the `fieldSelector` query-parameter syntax: comma-separated (ANDed) `f=v`, `f==v`,
 * `f!=v`. In values, `\\`, `\,` and `\=` stand for a backslash, comma and equals sign. Whitespace
 * around field names and values is ignored, and empty terms are skipped (as Kubernetes does).
 */
export function parseFieldSelector(text: string): FieldSelector {
  if (typeof text !== 'string') throw new SelectorError('a field selector must be a string');
  const requirements: FieldRequirement[] = [];
  for (const term of splitFieldTerms(text)) {
    if (term.trim() === '') continue;
    requirements.push(parseFieldTerm(term));
  }
  return new RequirementsFieldSelector(requirements);
}
