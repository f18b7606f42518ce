/**
 * Watch registry and live fan-out. The store owns history replay (it has the event log); this
 * module only decides which watchers see which of a revision's changes.
 *
 * Watchers are grouped by identical key range, so N clients watching the same prefix (the
 * apiserver pattern) cost one range test per change, and single-key watchers are found by Map
 * lookup. Distinct ranges are still tested one by one per change; that is fine for hundreds.
 */
import type { KeyRange } from './keys.js';
import { inRange } from './keys.js';
import type { Change } from './record.js';
import { toKeyValue } from './record.js';
import type { WatchEvent } from './types.js';

export type OnEvents = (events: WatchEvent[], revision: number) => void;

export interface Watcher {
  readonly id: number;
  readonly range: KeyRange;
  readonly prevKv: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly onEvents: OnEvents;
  /** Live revisions below this are not delivered (already replayed, or a future start). */
  minRev: number;
  cancelled: boolean;
}

interface RangeGroup {
  readonly range: KeyRange;
  readonly watchers: Set<Watcher>;
}

export function makeEvent(id: string, kv: Change['kv'], prev: Change['prev'], withPrev: boolean): WatchEvent {
  const type = kv.version === 0 ? 'DELETE' : 'PUT';
  const ev = toKeyValue(id, kv);
  return Object.freeze(withPrev && prev !== undefined ? { type, kv: ev, prevKv: toKeyValue(id, prev) } : { type, kv: ev });
}

export function wants(w: Watcher, kv: Change['kv']): boolean {
  return kv.version === 0 ? !w.noDelete : !w.noPut;
}

export class WatchHub {
  private readonly exact = new Map<string, Set<Watcher>>();
  /** Keyed by start + U+0100 + end: U+0100 never occurs in a latin1 key id. */
  private readonly ranges = new Map<string, RangeGroup>();
  private count = 0;
  private nextId = 1;

  /** Called when a watcher's callback throws; the watcher has already been cancelled. */
  onError: ((watchId: number, err: unknown) => void) | undefined;

  get size(): number {
    return this.count;
  }

  newId(): number {
    return this.nextId++;
  }

  add(w: Watcher): void {
    if (w.range.single) {
      let set = this.exact.get(w.range.start);
      if (!set) this.exact.set(w.range.start, (set = new Set()));
      set.add(w);
    } else {
      const gk = groupKey(w.range);
      let g = this.ranges.get(gk);
      if (!g) this.ranges.set(gk, (g = { range: w.range, watchers: new Set() }));
      g.watchers.add(w);
    }
    this.count++;
  }

  remove(w: Watcher): void {
    if (w.cancelled) return;
    w.cancelled = true;
    if (w.range.single) {
      const set = this.exact.get(w.range.start);
      if (set?.delete(w) && set.size === 0) this.exact.delete(w.range.start);
    } else {
      const gk = groupKey(w.range);
      const g = this.ranges.get(gk);
      if (g?.watchers.delete(w) && g.watchers.size === 0) this.ranges.delete(gk);
    }
    this.count--;
  }

  /**
   * Delivers one committed revision. Matching is decided before any callback runs, so a watcher
   * created or cancelled by a callback neither gains nor loses part of this revision (a cancelled
   * one is skipped entirely).
   */
  deliver(rev: number, changes: readonly Change[]): void {
    if (this.count === 0) return;
    const batches = new Map<Watcher, WatchEvent[]>();
    for (const c of changes) {
      let plain: WatchEvent | undefined;
      let withPrev: WatchEvent | undefined;
      const add = (w: Watcher): void => {
        if (rev < w.minRev || !wants(w, c.kv)) return;
        let ev: WatchEvent;
        if (w.prevKv) ev = withPrev ??= makeEvent(c.rec.id, c.kv, c.prev, true);
        else ev = plain ??= makeEvent(c.rec.id, c.kv, c.prev, false);
        const batch = batches.get(w);
        if (batch) batch.push(ev);
        else batches.set(w, [ev]);
      };
      const set = this.exact.get(c.rec.id);
      if (set) for (const w of set) add(w);
      for (const g of this.ranges.values()) {
        if (inRange(g.range, c.rec.id)) for (const w of g.watchers) add(w);
      }
    }
    for (const [w, events] of batches) {
      if (w.cancelled) continue;
      w.minRev = rev + 1;
      try {
        w.onEvents(events, rev);
      } catch (err) {
        // A consumer that failed mid-stream must not silently continue with a gap; and its
        // failure must not stop the apply loop or starve the other watchers.
        this.remove(w);
        this.onError?.(w.id, err);
      }
    }
  }
}

function groupKey(r: KeyRange): string {
  return r.end === undefined ? r.start : `${r.start}\u0100${r.end}`;
}
