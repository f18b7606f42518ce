/**
 * Server-side printing for `kubectl get`: a meta.k8s.io/v1 Table with the kind's columns. Each
 * row carries the object's metadata (PartialObjectMetadata) or, with includeObject=Object, the
 * whole object — kubectl needs it for -A, --show-labels and --sort-by.
 */
import type { KubeObject, Table, TableColumnDefinition, TableRow } from '@flotilla/api';
import { ageOf } from '../registry/fields.js';
import type { PrinterColumn, ResourceDef } from '../registry/types.js';

export type IncludeObject = 'None' | 'Metadata' | 'Object';

function columnsOf(def: ResourceDef): PrinterColumn[] {
  const cols = def.columns ?? [];
  const hasAge = cols.some((c) => c.name === 'Age') || def.ageColumn === false;
  const name: PrinterColumn = { name: 'Name', type: 'string', description: 'Name must be unique within a namespace.', cell: (o) => o.metadata.name ?? '' };
  const age: PrinterColumn = { name: 'Age', type: 'string', cell: (o, now) => ageOf(o, now) };
  // Columns of priority 0 before AGE when AGE is implicit, as Kubernetes' own printers place it.
  return hasAge ? [name, ...cols] : [name, ...cols.filter((c) => (c.priority ?? 0) === 0), age, ...cols.filter((c) => (c.priority ?? 0) > 0)];
}

export function columnDefinitions(def: ResourceDef): TableColumnDefinition[] {
  return columnsOf(def).map((c) => ({
    name: c.name,
    type: c.type,
    format: c.name === 'Name' ? 'name' : '',
    description: c.description ?? '',
    priority: c.priority ?? 0,
  }));
}

export function rowOf(def: ResourceDef, obj: KubeObject, now: number, include: IncludeObject): TableRow {
  const cols = columnsOf(def);
  const row: TableRow = { cells: cols.map((c) => c.cell(obj, now)) };
  if (include === 'Object') row.object = obj;
  else if (include === 'Metadata') {
    const { managedFields: _mf, ...metadata } = obj.metadata;
    row.object = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata };
  }
  return row;
}

export function toTable(def: ResourceDef, objs: KubeObject[], now: number, include: IncludeObject, listMeta: Table['metadata'], withColumns = true): Table {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMeta,
    columnDefinitions: withColumns ? columnDefinitions(def) : [],
    rows: objs.map((o) => rowOf(def, o, now, include)),
  };
}

/** Whether an Accept header asks for a Table (kubectl get sends as=Table;v=v1;g=meta.k8s.io first). */
export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  for (const part of accept.split(',')) {
    const params = part.split(';').map((s) => s.trim());
    if (params.includes('as=Table') && params.includes('g=meta.k8s.io') && (params.includes('v=v1') || params.includes('v=v1beta1'))) return true;
  }
  return false;
}
