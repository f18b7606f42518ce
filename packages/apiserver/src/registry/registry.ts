/**
 * The set of resources this server serves, and lookups by what clients send: a URL's group,
 * version and plural, or a kind.
 */
import { appsAndOtherResources } from './apps.js';
import { coreResources } from './core.js';
import { ALL_VERBS, type ResourceDef } from './types.js';

export class Registry {
  private readonly byPath = new Map<string, ResourceDef>();
  private readonly byKind = new Map<string, ResourceDef>();
  readonly all: readonly ResourceDef[];

  constructor(defs: readonly ResourceDef[]) {
    for (const d of defs) {
      const k = `${d.group}/${d.version}/${d.resource}`;
      if (this.byPath.has(k)) throw new Error(`registry: ${k} defined twice`);
      this.byPath.set(k, d);
      this.byKind.set(`${d.group}/${d.version}/${d.kind}`, d);
    }
    this.all = defs;
  }

  lookup(group: string, version: string, resource: string): ResourceDef | undefined {
    return this.byPath.get(`${group}/${version}/${resource}`);
  }

  lookupKind(group: string, version: string, kind: string): ResourceDef | undefined {
    return this.byKind.get(`${group}/${version}/${kind}`);
  }

  /** Groups with their versions, core ("") first, in definition order. */
  groups(): { group: string; versions: string[] }[] {
    const out: { group: string; versions: string[] }[] = [];
    for (const d of this.all) {
      let g = out.find((x) => x.group === d.group);
      if (!g) out.push((g = { group: d.group, versions: [] }));
      if (!g.versions.includes(d.version)) g.versions.push(d.version);
    }
    return out;
  }

  inGroupVersion(group: string, version: string): ResourceDef[] {
    return this.all.filter((d) => d.group === group && d.version === version);
  }
}

export function verbsOf(d: ResourceDef): string[] {
  return d.verbs ?? [...ALL_VERBS];
}

export function builtinRegistry(): Registry {
  return new Registry([...coreResources, ...appsAndOtherResources]);
}
