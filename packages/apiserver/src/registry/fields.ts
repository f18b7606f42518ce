/**
 * Small readers for the JSON of stored objects: the registry's defaults, validation and printer
 * columns take objects as untyped JSON (what clients sent), so every access is checked here.
 */
import { formatAge, isObject, type KubeObject } from '@flotilla/api';

export type Json = Record<string, unknown>;

/** The nested object at `path`, or undefined. */
export function at(obj: unknown, ...path: string[]): unknown {
  let cur: unknown = obj;
  for (const p of path) {
    if (!isObject(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function objects(v: unknown): Json[] {
  return arr(v).filter(isObject);
}

/** The object at `key` of `parent`, created if absent (for defaulting). */
export function ensure(parent: Json, key: string): Json {
  const v = parent[key];
  if (isObject(v)) return v;
  const fresh: Json = {};
  parent[key] = fresh;
  return fresh;
}

export function spec(obj: KubeObject): Json {
  return ensure(obj as unknown as Json, 'spec');
}

export function setDefault(o: Json, key: string, value: unknown): void {
  if (o[key] === undefined || o[key] === null) o[key] = value;
}

/** Kubernetes' AGE column ("45s", "5m3s", "3h", "2d5h") from a creation timestamp. */
export function ageOf(obj: KubeObject, now: number): string {
  const created = obj.metadata.creationTimestamp;
  if (!created) return '<unknown>';
  const t = Date.parse(created);
  return Number.isNaN(t) ? '<unknown>' : formatAge(now - t);
}
