/**
 * Serving one watch: newline-delimited JSON events on a chunked response, headers flushed at
 * once (kubectl waits for them, kubectl-wire.md §4). Starting points follow Kubernetes:
 * resourceVersion unset or "0" sends the current objects as ADDED first, then changes; a
 * resourceVersion N sends changes after N; a compacted N ends with an ERROR event carrying a
 * 410 Status. Selectors turn changes that cross them into ADDED/DELETED, as Kubernetes does.
 */
import type { ServerResponse } from 'node:http';
import type { KubeObject, Status } from '@flotilla/api';
import { ApiError } from '@flotilla/api';
import type { ResourceStore } from '../rest/resource-store.js';
import type { StoredEvent } from '../storage/store.js';
import { toTable, type IncludeObject } from './table.js';

export interface WatchParams {
  namespace: string | undefined;
  /** undefined: from now, sending the current state first (as ADDED). */
  resourceVersion: number | undefined;
  filter: ((o: KubeObject) => boolean) | undefined;
  timeoutSeconds: number | undefined;
  bookmarks: boolean;
  /** Events carry one-row Tables instead of objects (kubectl get -w). */
  table: IncludeObject | undefined;
  clock: () => number;
}

export interface WatchStats {
  opened(resource: string): void;
  closed(resource: string): void;
}

type OutType = 'ADDED' | 'MODIFIED' | 'DELETED';

export async function serveWatch(res: ServerResponse, rs: ResourceStore, p: WatchParams, stats: WatchStats): Promise<void> {
  const def = rs.def;
  let first = true;
  const encode = (type: string, obj: KubeObject | Status): string => {
    if (p.table && type !== 'ERROR' && type !== 'BOOKMARK') {
      const t = toTable(def, [obj as KubeObject], p.clock(), p.table, { resourceVersion: (obj as KubeObject).metadata.resourceVersion ?? '' }, first);
      first = false;
      return `${JSON.stringify({ type, object: t })}\n`;
    }
    return `${JSON.stringify({ type, object: obj })}\n`;
  };

  const keep = p.filter;
  const pending: { type: string; obj: KubeObject | Status }[] = [];
  let write: (type: string, obj: KubeObject | Status) => void = (type, obj) => void pending.push({ type, obj });
  let fail: (err: Error) => void = () => undefined;
  // A version older than the cache's window is answered as Kubernetes does: a 200 stream whose
  // only event is an ERROR carrying the 410 Status (clients then list again).
  const sub = await rs.watch(
    p.namespace,
    p.resourceVersion,
    (events: StoredEvent[], revision: number) => {
      if (events.length === 0) {
        if (p.bookmarks) write('BOOKMARK', { kind: def.kind, apiVersion: def.group === '' ? def.version : `${def.group}/${def.version}`, metadata: { resourceVersion: String(revision) } });
        return;
      }
      for (const e of events) {
        const t = project(e, keep);
        if (t) write(t, e.object);
      }
    },
    (err) => fail(err),
  ).catch((err: unknown) => {
    if (!(err instanceof ApiError && err.code === 410)) throw err;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private' });
    res.end(`${JSON.stringify({ type: 'ERROR', object: err.status })}\n`);
    return undefined;
  });
  if (!sub) return;

  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'transfer-encoding': 'chunked' });
  res.flushHeaders();
  stats.opened(def.resource);

  await new Promise<void>((resolve) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      sub.cancel();
      stats.closed(def.resource);
      if (!res.writableEnded) res.end();
      resolve();
    };
    write = (type, obj) => {
      if (!done && !res.writableEnded) res.write(encode(type, obj));
    };
    fail = (err) => {
      const status = err instanceof ApiError ? err.status : new ApiError(500, 'InternalError', `watch failed: ${err.message}`).status;
      write('ERROR', status);
      finish();
    };
    for (const o of sub.initial) if (!keep || keep(o)) write('ADDED', o);
    for (const e of pending.splice(0)) write(e.type, e.obj);
    res.on('close', finish);
    if (p.timeoutSeconds !== undefined) timer = setTimeout(finish, p.timeoutSeconds * 1000);
  });
}

/** The event a filtered watcher sees for a change, or none. */
function project(e: StoredEvent, filter: ((o: KubeObject) => boolean) | undefined): OutType | undefined {
  if (!filter) return e.type;
  const now = filter(e.object);
  if (e.type !== 'MODIFIED') return now ? e.type : undefined;
  const before = e.previous ? filter(e.previous) : false;
  if (before && now) return 'MODIFIED';
  if (!before && now) return 'ADDED';
  if (before && !now) return 'DELETED';
  return undefined;
}

