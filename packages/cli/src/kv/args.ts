/**
 * Argument parsers of `flotilla kv`. They throw commander's InvalidArgumentError, which
 * commander reports as a usage error (exit code 2).
 */
import { InvalidArgumentError } from 'commander';

/** A lease or member id as etcdctl takes it: hexadecimal, optionally 0x-prefixed. */
export function parseHexId(value: string): number {
  const m = /^(?:0x)?([0-9a-f]{1,16})$/i.exec(value.trim());
  if (m === null) throw new InvalidArgumentError(`"${value}" is not a hexadecimal id (etcdctl prints ids in hex, e.g. 694d77aa9e38260f)`);
  const n = parseInt(m[1], 16);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`"${value}" is out of range (ids here are below 2^53)`);
  return n;
}

export function parseNonNegInt(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`"${value}" is not a non-negative integer`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`"${value}" is too large`);
  return n;
}

export function parsePositiveInt(value: string): number {
  const n = parseNonNegInt(value);
  if (n === 0) throw new InvalidArgumentError('must be greater than 0');
  return n;
}

/** A duration such as 5s, 500ms, 1m or a bare number of seconds; returns milliseconds. */
export function parseDuration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (m === null) throw new InvalidArgumentError(`"${value}" is not a duration (e.g. 5s, 500ms)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const ms = unit === 'ms' ? n : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n * 3_600_000;
  if (ms <= 0) throw new InvalidArgumentError('must be greater than 0');
  return ms;
}

export function parseEndpoints(value: string): string[] {
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(s) ? s : `http://${s}`));
  if (list.length === 0) throw new InvalidArgumentError('at least one endpoint is required');
  for (const u of list) {
    try {
      const url = new URL(u);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
    } catch {
      throw new InvalidArgumentError(`"${u}" is not an http(s) URL`);
    }
  }
  return list;
}

export function parseUrlList(value: string): string[] {
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (list.length === 0) throw new InvalidArgumentError('at least one URL is required');
  for (const u of list) {
    if (!URL.canParse(u)) throw new InvalidArgumentError(`"${u}" is not a URL`);
  }
  return list;
}

export type WriteOut = 'simple' | 'json' | 'table';

export function parseWriteOut(value: string): WriteOut {
  if (value === 'simple' || value === 'json' || value === 'table') return value;
  throw new InvalidArgumentError('must be simple, json or table');
}

export function choice<T extends string>(allowed: readonly T[], map?: Record<string, T>): (value: string) => T {
  return (value: string): T => {
    const v = value.toUpperCase();
    if (map?.[v] !== undefined) return map[v];
    const found = allowed.find((a) => a.toUpperCase() === v);
    if (found === undefined) throw new InvalidArgumentError(`must be one of ${allowed.join(', ')}`);
    return found;
  };
}
