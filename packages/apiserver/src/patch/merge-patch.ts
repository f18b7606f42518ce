/**
 * JSON Merge Patch (RFC 7386), served for `Content-Type: application/merge-patch+json`. kubectl
 * sends it for `scale` (on /scale, kubectl-wire.md §7), `label` and `annotate`; it is also the
 * only patch flavour Kubernetes accepts for custom resources, since they carry no merge keys.
 *
 * Every JSON value is a valid merge patch, so this never throws: a non-object patch replaces the
 * document, objects merge key by key, `null` deletes a key, and arrays are replaced whole (merge
 * patch has no way to address array elements; that is what strategic merge patch adds).
 */
import { cloneJson, hasOwn, isJsonObject, setOwn } from './json.js';
import type { JsonObject, JsonValue } from './json.js';

/** `doc` and `patch` are not modified and the result shares nothing with them. */
export function applyMergePatch(doc: JsonValue, patch: JsonValue): JsonValue {
  return merge(doc, patch);
}

function merge(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (!isJsonObject(patch)) return cloneJson(patch);
  // A patch object turns a non-object target into an object (RFC 7386 §2).
  const base: JsonObject = isJsonObject(target) ? target : {};
  const out: JsonObject = {};
  // Existing keys keep their order; new ones follow in patch order.
  for (const key of Object.keys(base)) {
    if (!hasOwn(patch, key)) setOwn(out, key, cloneJson(base[key]));
    else if (patch[key] !== null) setOwn(out, key, merge(base[key], patch[key]));
  }
  for (const key of Object.keys(patch)) {
    // Recursing for new keys too is what strips nulls from newly added objects.
    if (!hasOwn(base, key) && patch[key] !== null) setOwn(out, key, merge(undefined, patch[key]));
  }
  return out;
}
