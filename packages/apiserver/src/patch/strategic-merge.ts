/**
 * Kubernetes strategic merge patch (SMP), served for
 * `Content-Type: application/strategic-merge-patch+json` on built-in kinds. kubectl sends it for
 * client-side `apply` (its three-way diff, kubectl-wire.md §5.3), `set image` and
 * `rollout restart|pause|resume` (§8.3).
 *
 * SMP is a JSON merge patch (maps merge, `null` deletes a key) that also knows, from a schema,
 * how each list combines with the live one, plus directives carried inside the patch:
 * - `"$patch": "replace"` in a map: the map replaces the live one instead of merging into it;
 *   as an element `{"$patch":"replace"}` of a list: the other elements replace the live list.
 * - `"$patch": "delete"` as the value of a field: the field is removed; as an element of a list
 *   merged by key: the live element with that key is removed.
 * - `"$setElementOrder/<field>": [...]`: the order of the merged list, as merge keys
 *   (`[{"name":"a"},…]`) or, for primitive sets, the values themselves. Live elements the order
 *   does not mention keep their position relative to the ones around them.
 * - `"$deleteFromPrimitiveList/<field>": [...]`: values to remove from a primitive set.
 * - `"$retainKeys": [...]`: every live key not listed is dropped before merging. It is how a
 *   client switches members of a union (Deployment strategy type, a volume's source). It is
 *   honoured wherever it appears, as kube-apiserver does, so an incomplete schema can never leave
 *   two members of a union set.
 *
 * Without a schema entry a map merges and a list is replaced whole, which is also the right
 * behaviour for every field Kubernetes does not mark otherwise.
 */
import { PatchError } from './errors.js';
import { canonicalJson, cloneJson, getOwn, hasOwn, isJsonObject, jsonTypeName, setOwn } from './json.js';
import type { JsonObject, JsonValue } from './json.js';
import { formatPointer } from './pointer.js';

/**
 * How one value of a kind combines with its live counterpart. Plain data, so a kind's schema is a
 * literal composed from the shared pieces in schemas.ts.
 *
 * Meta-properties live beside `fields` rather than among the field names because real fields
 * are called `strategy` (Deployment.spec.strategy) and `items` (ConfigMap volume items).
 */
export interface PatchSchema {
  /**
   * Schemas of named fields: of this value when it is an object, or of each element when it is
   * a list of objects. Unlisted fields use the defaults (maps merge, lists are replaced).
   */
  readonly fields?: { readonly [field: string]: PatchSchema };
  /**
   * Lists of objects: elements are matched on this field and merged, `{"$patch":"delete",<key>:v}`
   * removes one, and new elements are appended in patch order unless `$setElementOrder` says
   * otherwise. A patch element without the key is an error.
   */
  readonly mergeKey?: string;
  /**
   * 'merge' on a list without `mergeKey`: a set of primitives (metadata.finalizers); patch values
   * missing from the live list are appended. 'replace': the patch value replaces the live value
   * whole, for a map as well as a list; it wins over `mergeKey`. Default: lists are replaced, maps
   * merge.
   */
  readonly strategy?: 'merge' | 'replace';
  /**
   * Declares a union whose clients send `$retainKeys` (Deployment strategy, Volume). The server
   * honours the directive whether or not this is set; the flag records the contract for whoever
   * generates patches (and for readers).
   */
  readonly retainKeys?: boolean;
}

type PathToken = string | number;

/** Values of the `$setElementOrder/<f>` and `$deleteFromPrimitiveList/<f>` siblings of a list field. */
interface ListDirectives {
  order?: { values: JsonValue[]; path: PathToken[] };
  deletions?: JsonValue[];
}

const SET_ORDER = '$setElementOrder/';
const DELETE_FROM = '$deleteFromPrimitiveList/';

/**
 * Applies `patch` to `doc`. Neither is modified and the result shares nothing with them.
 * Error paths (PatchError.path) are JSON Pointers into the patch.
 */
export function applyStrategicMergePatch(doc: JsonValue, patch: JsonValue, schema: PatchSchema): JsonValue {
  if (!isJsonObject(patch)) {
    throw invalid([], `a strategic merge patch must be a JSON object, got ${jsonTypeName(patch)}`);
  }
  // A top-level `$patch: delete` empties the object, as kube-apiserver does; validation then rejects it.
  if (isDeleteMarker(patch, [])) return {};
  return mergeMap(cloneJson(doc), patch, schema, []);
}

/**
 * Merges `patch` into `target`, which is owned by the caller (a fresh clone) and may be mutated.
 * Callers have already handled `$patch: delete`.
 */
function mergeMap(target: JsonValue | undefined, patch: JsonObject, schema: PatchSchema | undefined, path: PathToken[]): JsonObject {
  const directive = getOwn(patch, '$patch');
  const out: JsonObject = isJsonObject(target) && directive !== 'replace' && schema?.strategy !== 'replace' ? target : {};
  applyRetainKeys(out, patch, path);

  const directives = new Map<string, ListDirectives>();
  const fields: string[] = [];
  for (const key of Object.keys(patch)) {
    if (key === '$patch' || key === '$retainKeys') continue;
    const value = patch[key];
    if (key.startsWith(SET_ORDER)) {
      const field = directiveField(key, SET_ORDER, value, path);
      listDirectives(directives, field).order = { values: value as JsonValue[], path: [...path, key] };
    } else if (key.startsWith(DELETE_FROM)) {
      listDirectives(directives, directiveField(key, DELETE_FROM, value, path)).deletions = value as JsonValue[];
    } else {
      fields.push(key);
    }
  }

  for (const key of fields) {
    const value = patch[key];
    if (value === null) {
      delete out[key];
      continue;
    }
    const merged = mergeValue(getOwn(out, key), value, child(schema, key), [...path, key], directives.get(key) ?? {});
    if (merged === undefined) delete out[key];
    else setOwn(out, key, merged);
  }

  // A list can be reordered or thinned without appearing in the patch itself (kubectl sends a
  // lone `$setElementOrder/x` when only nested fields of x's elements changed).
  for (const [key, d] of directives) {
    if (hasOwn(patch, key)) continue;
    const live = getOwn(out, key);
    if (Array.isArray(live)) setOwn(out, key, mergeList(live, undefined, child(schema, key), [...path, key], d));
  }
  return out;
}

/** Returns undefined when the field is to be removed. */
function mergeValue(
  target: JsonValue | undefined,
  patch: JsonValue,
  schema: PatchSchema | undefined,
  path: PathToken[],
  directives: ListDirectives,
): JsonValue | undefined {
  if (isJsonObject(patch)) return isDeleteMarker(patch, path) ? undefined : mergeMap(target, patch, schema, path);
  if (Array.isArray(patch)) return mergeList(Array.isArray(target) ? target : [], patch, schema, path, directives);
  return patch;
}

type ListKind = { type: 'atomic' } | { type: 'set' } | { type: 'keyed'; mergeKey: string };

function listKind(schema: PatchSchema | undefined): ListKind {
  if (schema === undefined || schema.strategy === 'replace') return { type: 'atomic' };
  if (schema.mergeKey !== undefined) return { type: 'keyed', mergeKey: schema.mergeKey };
  return schema.strategy === 'merge' ? { type: 'set' } : { type: 'atomic' };
}

/** One element of a list being merged; `origPos` is its index in the live list (Infinity if new). */
interface Entry {
  value: JsonValue;
  /** canonicalJson of the merge key (keyed lists) or of the value (sets); undefined: unmatchable. */
  key: string | undefined;
  origPos: number;
}

/**
 * Merges a patch list into `live` (owned, may be mutated). `patch` is undefined when only
 * directives name the field.
 */
function mergeList(
  live: JsonValue[],
  patch: JsonValue[] | undefined,
  schema: PatchSchema | undefined,
  path: PathToken[],
  directives: ListDirectives,
): JsonValue[] {
  const kind = listKind(schema);
  const itemSchema: PatchSchema | undefined = schema?.fields ? { fields: schema.fields } : undefined;

  let replaceAll = false;
  const deleteKeys = new Set<string>();
  const items: { value: JsonValue; index: number }[] = [];
  (patch ?? []).forEach((value, index) => {
    const directive = isJsonObject(value) ? getOwn(value, '$patch') : undefined;
    if (directive === 'replace') {
      replaceAll = true;
    } else if (directive === 'delete') {
      if (kind.type !== 'keyed') {
        throw invalid([...path, index], `"$patch": "delete" needs a list merged by key, but ${describeList(path, kind)}`);
      }
      deleteKeys.add(canonicalJson(requireMergeKey(value, kind.mergeKey, [...path, index])));
    } else {
      if (directive !== undefined && directive !== 'merge') throw badDirective(directive, [...path, index]);
      items.push({ value, index });
    }
  });

  const removed = new Set((directives.deletions ?? []).map(canonicalJson));
  if (kind.type === 'atomic') {
    if (patch === undefined) return live.filter((v) => !removed.has(canonicalJson(v)));
    return items.map(({ value, index }) => fresh(value, itemSchema, [...path, index]));
  }

  const keyOf = (v: JsonValue): string | undefined => {
    if (kind.type === 'set') return canonicalJson(v);
    const k = isJsonObject(v) ? getOwn(v, kind.mergeKey) : undefined;
    return k === undefined || k === null ? undefined : canonicalJson(k);
  };
  let entries: Entry[] = replaceAll ? [] : live.map((value, origPos) => ({ value, key: keyOf(value), origPos }));
  entries = entries.filter((e) => !removed.has(canonicalJson(e.value)) && !(e.key !== undefined && deleteKeys.has(e.key)));

  const byKey = new Map<string, Entry>();
  for (const e of entries) if (e.key !== undefined && !byKey.has(e.key)) byKey.set(e.key, e);
  for (const { value, index } of items) {
    const itemPath = [...path, index];
    if (kind.type === 'keyed') requireMergeKey(value, kind.mergeKey, itemPath);
    const key = keyOf(value) as string;
    const existing = byKey.get(key);
    if (existing === undefined) {
      const e: Entry = { value: fresh(value, itemSchema, itemPath), key, origPos: Infinity };
      entries.push(e);
      byKey.set(key, e);
    } else if (kind.type === 'keyed') {
      existing.value = mergeMap(existing.value, value as JsonObject, itemSchema, itemPath);
    }
    // A set already holding the value has nothing to merge.
  }

  if (directives.order) entries = reorder(entries, orderKeys(directives.order, kind));
  return entries.map((e) => e.value);
}

/**
 * Puts the elements named by `$setElementOrder` in that order. Each element it does not name
 * (live-only elements another client added) stays just before the first named element that
 * followed it in the live list, so server-side additions are not shuffled. Named elements new to
 * the list sit right after the named element before them.
 */
function reorder(entries: Entry[], order: string[]): Entry[] {
  const rank = new Map<string, number>();
  order.forEach((k, i) => {
    if (!rank.has(k)) rank.set(k, i);
  });
  const isNamed = (e: Entry): boolean => e.key !== undefined && rank.has(e.key);
  // Array.prototype.sort is stable, so duplicates of one key keep their relative order.
  const named = entries.filter(isNamed).sort((a, b) => (rank.get(a.key as string) as number) - (rank.get(b.key as string) as number));
  const others = entries.filter((e) => !isNamed(e));

  const out: Entry[] = [];
  let j = 0;
  let anchor = -1;
  for (const e of named) {
    if (Number.isFinite(e.origPos)) anchor = e.origPos;
    while (j < others.length && others[j].origPos < anchor) out.push(others[j++]);
    out.push(e);
  }
  return out.concat(others.slice(j));
}

function orderKeys(order: NonNullable<ListDirectives['order']>, kind: ListKind): string[] {
  return order.values.map((v, i) => {
    if (kind.type !== 'keyed') return canonicalJson(v);
    return canonicalJson(requireMergeKey(v, kind.mergeKey, [...order.path, i]));
  });
}

/** A patch value that has no live counterpart: directives are resolved against nothing, nulls dropped. */
function fresh(value: JsonValue, schema: PatchSchema | undefined, path: PathToken[]): JsonValue {
  if (isJsonObject(value)) return mergeMap(undefined, value, schema, path);
  return cloneJson(value);
}

function applyRetainKeys(target: JsonObject, patch: JsonObject, path: PathToken[]): void {
  if (!hasOwn(patch, '$retainKeys')) return;
  const keys = patch.$retainKeys;
  if (!Array.isArray(keys) || !keys.every((k): k is string => typeof k === 'string')) {
    throw invalid([...path, '$retainKeys'], `"$retainKeys" must be a list of field names, got ${JSON.stringify(keys)}`);
  }
  const keep = new Set(keys);
  // A field the patch sets but would also drop is a contradiction in the client's diff.
  for (const key of Object.keys(patch)) {
    if (!isDirectiveKey(key) && patch[key] !== null && !keep.has(key)) {
      throw invalid([...path, key], `the patch sets "${key}" but "$retainKeys" ${JSON.stringify(keys)} does not list it`);
    }
  }
  for (const key of Object.keys(target)) if (!keep.has(key)) delete target[key];
}

function isDeleteMarker(patch: JsonObject, path: PathToken[]): boolean {
  const directive = getOwn(patch, '$patch');
  if (directive === undefined || directive === 'merge' || directive === 'replace') return false;
  if (directive === 'delete') return true;
  throw badDirective(directive, path);
}

function isDirectiveKey(key: string): boolean {
  return key === '$patch' || key === '$retainKeys' || key.startsWith(SET_ORDER) || key.startsWith(DELETE_FROM);
}

function directiveField(key: string, prefix: string, value: JsonValue, path: PathToken[]): string {
  const field = key.slice(prefix.length);
  if (field === '') throw invalid([...path, key], `"${key}" names no field`);
  if (!Array.isArray(value)) throw invalid([...path, key], `"${key}" must be a list, got ${jsonTypeName(value)}`);
  return field;
}

function listDirectives(all: Map<string, ListDirectives>, field: string): ListDirectives {
  let d = all.get(field);
  if (d === undefined) all.set(field, (d = {}));
  return d;
}

function requireMergeKey(value: JsonValue, mergeKey: string, path: PathToken[]): JsonValue {
  const list = formatPointer(path.slice(0, -1));
  if (!isJsonObject(value)) {
    throw invalid(path, `elements of the list at "${list}" are merged by "${mergeKey}" and must be objects, got ${jsonTypeName(value)}`);
  }
  const key = getOwn(value, mergeKey);
  if (key === undefined || key === null) {
    throw invalid(path, `element of the list at "${list}" has no merge key "${mergeKey}"`);
  }
  return key;
}

function child(schema: PatchSchema | undefined, field: string): PatchSchema | undefined {
  const fields = schema?.fields;
  return fields !== undefined && Object.prototype.hasOwnProperty.call(fields, field) ? fields[field] : undefined;
}

function describeList(path: PathToken[], kind: ListKind): string {
  const at = formatPointer(path);
  return kind.type === 'set' ? `"${at}" is a set of values (use "$deleteFromPrimitiveList")` : `"${at}" has no merge key and is replaced whole`;
}

function badDirective(directive: JsonValue, path: PathToken[]): PatchError {
  return invalid(path, `unknown "$patch" directive ${JSON.stringify(directive)} (expected "merge", "replace" or "delete")`);
}

function invalid(path: PathToken[], message: string): PatchError {
  const at = formatPointer(path);
  return new PatchError('INVALID_PATCH', at, `strategic merge patch${at === '' ? '' : ` at "${at}"`}: ${message}`);
}
