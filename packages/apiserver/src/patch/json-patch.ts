/**
 * JSON Patch (RFC 6902), served for `Content-Type: application/json-patch+json`. kubectl sends it
 * for `rollout undo` (two `replace` operations, kubectl-wire.md §8.3); other clients use the full
 * set of operations.
 *
 * The patch is atomic: operations run in order on a private copy of the document, and the first
 * one that fails throws, so a failed patch changes nothing.
 */
import { PatchError } from './errors.js';
import { cloneJson, getOwn, hasOwn, isJsonObject, jsonEqual, jsonTypeName, setOwn } from './json.js';
import type { JsonObject, JsonValue } from './json.js';
import { formatPointer, parsePointer } from './pointer.js';

export type JsonPatchOperation =
  | { op: 'add'; path: string; value: JsonValue }
  | { op: 'remove'; path: string }
  | { op: 'replace'; path: string; value: JsonValue }
  | { op: 'move'; from: string; path: string }
  | { op: 'copy'; from: string; path: string }
  | { op: 'test'; path: string; value: JsonValue };

const OPS = new Set<string>(['add', 'remove', 'replace', 'move', 'copy', 'test']);

/**
 * Checks the shape of a decoded request body without looking at any object, so a malformed
 * patch is rejected before the live object is read. Members RFC 6902 does not define are ignored.
 */
export function parseJsonPatch(ops: unknown): JsonPatchOperation[] {
  if (!Array.isArray(ops)) {
    throw new PatchError('INVALID_PATCH', '', `a JSON patch must be an array of operations, got ${describe(ops)}`);
  }
  return ops.map((raw: unknown, i): JsonPatchOperation => {
    const where = `JSON patch operation ${i}`;
    if (!isJsonObject(raw)) {
      throw new PatchError('INVALID_PATCH', '', `${where} must be an object, got ${describe(raw)}`);
    }
    const op = getOwn(raw, 'op');
    if (typeof op !== 'string' || !OPS.has(op)) {
      throw new PatchError('INVALID_PATCH', '', `${where}: "op" must be one of add, remove, replace, move, copy, test; got ${JSON.stringify(op ?? null)}`);
    }
    const path = pointerMember(raw, 'path', `${where} (${op})`);
    switch (op) {
      case 'remove':
        return { op, path };
      case 'move':
      case 'copy': {
        const from = pointerMember(raw, 'from', `${where} (${op} to "${path}")`);
        const fromTokens = parsePointer(from) ?? [];
        const pathTokens = parsePointer(path) ?? [];
        // Moving a value into itself would leave nothing to move; copying into itself is fine.
        if (op === 'move' && pathTokens.length > fromTokens.length && fromTokens.every((t, k) => pathTokens[k] === t)) {
          throw new PatchError('INVALID_PATCH', path, `${where} (move): cannot move "${from}" into its own child "${path}"`);
        }
        return { op, from, path };
      }
      default: {
        // `value` may be null, so presence is what counts.
        if (!hasOwn(raw, 'value') || raw.value === undefined) {
          throw new PatchError('INVALID_PATCH', path, `${where} (${op} "${path}") has no "value"`);
        }
        return { op: op as 'add' | 'replace' | 'test', path, value: raw.value };
      }
    }
  });
}

/** Applies an RFC 6902 patch; `doc` is not modified and the result shares nothing with it or `ops`. */
export function applyJsonPatch(doc: JsonValue, ops: unknown): JsonValue {
  const parsed = parseJsonPatch(ops);
  let root = cloneJson(doc);
  parsed.forEach((op, i) => {
    root = applyOne(root, op, `JSON patch operation ${i} (${op.op} "${op.path}")`);
  });
  return root;
}

function applyOne(root: JsonValue, op: JsonPatchOperation, where: string): JsonValue {
  const path = tokens(op.path);
  switch (op.op) {
    case 'add':
      return add(root, path, cloneJson(op.value), where);
    case 'remove':
      return remove(root, path, where).root;
    case 'replace':
      return replace(root, path, cloneJson(op.value), where);
    case 'move': {
      const from = tokens(op.from);
      if (op.from === op.path) {
        get(root, from, `${where} from "${op.from}"`); // RFC 6902 §4.4: "from" must exist even for a no-op.
        return root;
      }
      const { root: rest, removed } = remove(root, from, `${where} from "${op.from}"`);
      return add(rest, path, removed, where);
    }
    case 'copy':
      return add(root, path, cloneJson(get(root, tokens(op.from), `${where} from "${op.from}"`)), where);
    case 'test': {
      const actual = get(root, path, where);
      if (!jsonEqual(actual, op.value)) {
        throw new PatchError('TEST_FAILED', op.path, `${where}: expected ${JSON.stringify(op.value)}, found ${JSON.stringify(actual)}`);
      }
      return root;
    }
  }
}

function get(root: JsonValue, path: string[], where: string): JsonValue {
  let cur = root;
  path.forEach((token, depth) => {
    cur = child(cur, token, path, depth, where);
  });
  return cur;
}

/** Inserts (arrays) or sets (objects) `value`; the root is replaced outright. */
function add(root: JsonValue, path: string[], value: JsonValue, where: string): JsonValue {
  if (path.length === 0) return value;
  const parent = get(root, path.slice(0, -1), where);
  const last = path[path.length - 1];
  if (Array.isArray(parent)) {
    // "-" names the slot after the last element, i.e. append.
    const at = last === '-' ? parent.length : arrayIndex(parent, last, path, where, true);
    parent.splice(at, 0, value);
  } else if (isJsonObject(parent)) {
    setOwn(parent, last, value);
  } else {
    throw notContainer(parent, path, where);
  }
  return root;
}

/** RFC 6902 §4.3: unlike add, the target must already exist. */
function replace(root: JsonValue, path: string[], value: JsonValue, where: string): JsonValue {
  if (path.length === 0) return value;
  const parent = get(root, path.slice(0, -1), where);
  const last = path[path.length - 1];
  if (Array.isArray(parent)) {
    parent[arrayIndex(parent, last, path, where, false)] = value;
  } else if (isJsonObject(parent)) {
    if (!hasOwn(parent, last)) throw missing(path, path.length - 1, where);
    setOwn(parent, last, value);
  } else {
    throw notContainer(parent, path, where);
  }
  return root;
}

function remove(root: JsonValue, path: string[], where: string): { root: JsonValue; removed: JsonValue } {
  if (path.length === 0) {
    // Removing the root would leave no document; replace or move into "" are the ways to swap it.
    throw new PatchError('INVALID_PATCH', '', `${where}: cannot remove the whole document`);
  }
  const parent = get(root, path.slice(0, -1), where);
  const last = path[path.length - 1];
  if (Array.isArray(parent)) {
    const at = arrayIndex(parent, last, path, where, false);
    return { root, removed: parent.splice(at, 1)[0] };
  }
  if (isJsonObject(parent)) {
    if (!hasOwn(parent, last)) throw missing(path, path.length - 1, where);
    const removed = parent[last];
    delete parent[last];
    return { root, removed };
  }
  throw notContainer(parent, path, where);
}

function child(cur: JsonValue, token: string, path: string[], depth: number, where: string): JsonValue {
  if (Array.isArray(cur)) return cur[arrayIndex(cur, token, path.slice(0, depth + 1), where, false)];
  if (isJsonObject(cur)) {
    if (!hasOwn(cur, token)) throw missing(path, depth, where);
    return cur[token];
  }
  throw notContainer(cur, path.slice(0, depth + 1), where);
}

/** RFC 6901 §4: decimal without leading zeros; `insert` allows the index one past the end. */
function arrayIndex(arr: JsonValue[], token: string, path: string[], where: string, insert: boolean): number {
  const at = formatPointer(path);
  if (!/^(0|[1-9][0-9]*)$/.test(token)) {
    throw new PatchError('CONFLICT', at, `${where}: "${token}" is not an index into the array at "${formatPointer(path.slice(0, -1))}"`);
  }
  const n = Number(token);
  if (n > arr.length || (n === arr.length && !insert)) {
    throw new PatchError('CONFLICT', at, `${where}: index ${token} is out of range for the array at "${formatPointer(path.slice(0, -1))}" (length ${arr.length})`);
  }
  return n;
}

function missing(path: string[], depth: number, where: string): PatchError {
  const at = formatPointer(path.slice(0, depth + 1));
  return new PatchError('CONFLICT', at, `${where}: path "${at}" does not exist`);
}

function notContainer(v: JsonValue, path: string[], where: string): PatchError {
  const parent = formatPointer(path.slice(0, -1));
  return new PatchError('CONFLICT', formatPointer(path), `${where}: "${parent}" is ${jsonTypeName(v)}, not an object or array`);
}

function tokens(pointer: string): string[] {
  // parseJsonPatch has already rejected malformed pointers.
  return parsePointer(pointer) ?? [];
}

function pointerMember(raw: JsonObject, member: 'path' | 'from', where: string): string {
  const v = getOwn(raw, member);
  if (typeof v !== 'string') {
    throw new PatchError('INVALID_PATCH', '', `${where}: "${member}" must be a JSON Pointer string, got ${jsonTypeName(v)}`);
  }
  if (parsePointer(v) === undefined) {
    throw new PatchError('INVALID_PATCH', v, `${where}: "${member}" ${JSON.stringify(v)} is not a JSON Pointer (it must be empty or start with "/", and "~" must be followed by 0 or 1)`);
  }
  return v;
}

function describe(v: unknown): string {
  return v === undefined ? 'nothing' : jsonTypeName(v as JsonValue);
}
