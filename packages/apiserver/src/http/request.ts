/**
 * What a Kubernetes REST URL names: /api/v1/... and /apis/<group>/<version>/... resolved against
 * the registry to a resource, an optional namespace, object name and subresource.
 */
import { badRequest, notFound, parseFieldSelector, parseLabelSelector, SelectorError, type FieldSelector, type KubeObject, type LabelSelector } from '@flotilla/api';
import type { Registry } from '../registry/registry.js';
import type { ResourceDef } from '../registry/types.js';

export interface Target {
  def: ResourceDef;
  /** Set for namespaced resources addressed within a namespace. */
  namespace?: string;
  name?: string;
  subresource?: string;
}

/**
 * `rest` is the path after the group-version, e.g. "namespaces/default/pods/web/status".
 * "namespaces/x/status" is the namespace x's status, not a resource named status, so a namespaced
 * reading is taken only when the third segment is a namespaced resource.
 */
export function resolveTarget(reg: Registry, group: string, version: string, rest: string): Target {
  // The router has already percent-decoded the path: decoding again would turn a name holding
  // "%" into an error (or "%2F" into another path).
  const segs = rest.split('/').filter((s) => s !== '');
  if (segs[0] === 'namespaces' && segs.length >= 3) {
    const def = reg.lookup(group, version, segs[2]);
    if (def?.namespaced) {
      if (segs.length > 5) throw notFound({ resource: segs[2], group });
      return withParts(def, segs[1], segs[3], segs[4]);
    }
  }
  const def = reg.lookup(group, version, segs[0] ?? '');
  if (!def || segs.length > 3) throw notFoundPath(rest);
  return withParts(def, undefined, segs[1], segs[2]);
}

function withParts(def: ResourceDef, namespace: string | undefined, name: string | undefined, subresource: string | undefined): Target {
  const t: Target = { def };
  if (namespace !== undefined) t.namespace = namespace;
  if (name !== undefined) t.name = name;
  if (subresource !== undefined) {
    if (!(def.subresources ?? []).includes(subresource as never)) throw notFound({ resource: `${def.resource}/${subresource}`, group: def.group });
    t.subresource = subresource;
  }
  return t;
}

function notFoundPath(path: string): Error {
  const e = notFound({ resource: '', group: '' });
  e.status.message = `the server could not find the requested resource (${path})`;
  delete e.status.details;
  return e;
}

export type Query = Record<string, string | string[] | undefined>;

export function q(query: Query, name: string): string | undefined {
  const v = query[name];
  return Array.isArray(v) ? v[v.length - 1] : v;
}

export function boolParam(query: Query, name: string): boolean {
  const v = q(query, name);
  return v === 'true' || v === '1';
}

export function intParam(query: Query, name: string): number | undefined {
  const v = q(query, name);
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw badRequest(`${name}: invalid value ${JSON.stringify(v)}: must be a non-negative integer`);
  return n;
}

/** The selectors of a list or watch, as one predicate over objects. */
export function selectorFilter(def: ResourceDef, query: Query): ((o: KubeObject) => boolean) | undefined {
  let labels: LabelSelector | undefined;
  let fields: FieldSelector | undefined;
  try {
    const ls = q(query, 'labelSelector');
    if (ls) labels = parseLabelSelector(ls);
    const fs = q(query, 'fieldSelector');
    if (fs) fields = parseFieldSelector(fs);
  } catch (err) {
    if (err instanceof SelectorError) throw badRequest(err.message);
    throw err;
  }
  if (fields) {
    for (const r of fields.requirements) {
      if (r.field !== 'metadata.name' && r.field !== 'metadata.namespace' && !def.selectableFields?.[r.field]) {
        throw badRequest(`field label not supported: ${r.field}`);
      }
    }
  }
  if (!labels && !fields) return undefined;
  const f = fields;
  const l = labels;
  return (o) => {
    if (l && !l.matches(o.metadata.labels)) return false;
    if (f) {
      const get = (field: string): string | undefined => {
        if (field === 'metadata.name') return o.metadata.name;
        if (field === 'metadata.namespace') return o.metadata.namespace;
        return def.selectableFields?.[field]?.(o);
      };
      if (!f.matches(get)) return false;
    }
    return true;
  };
}
