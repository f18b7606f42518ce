/**
 * An ordered set of items keyed by string id, for the store's key index.
 *
 * A list of sorted chunks (as Python's sortedcontainers): point insert/remove cost a binary search
 * over chunk maxima plus a splice inside one chunk of at most CHUNK_MAX items, and a range scan is
 * a binary search followed by a linear walk. With 100k keys that is a few hundred chunks, so it
 * stays fast without the pointer-chasing and code size of a B-tree, and scans touch contiguous
 * arrays.
 */

const CHUNK_MAX = 512;
/** A chunk this small is merged into a neighbour, so mass deletions do not leave many tiny chunks. */
const CHUNK_MIN = 64;

export interface Keyed {
  readonly id: string;
}

export class KeyIndex<T extends Keyed> {
  /** Invariant: every chunk is non-empty and sorted; chunks are ordered; maxes[i] is the id of the
   *  last item of chunks[i]. */
  private chunks: T[][] = [];
  private maxes: string[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Replaces the contents with `sorted`, which must be strictly ascending by id. */
  load(sorted: readonly T[]): void {
    this.chunks = [];
    this.maxes = [];
    const step = CHUNK_MAX >> 1;
    for (let i = 0; i < sorted.length; i += step) {
      const chunk = sorted.slice(i, i + step);
      this.chunks.push(chunk);
      this.maxes.push(chunk[chunk.length - 1].id);
    }
    this.count = sorted.length;
  }

  /** Index of the first chunk whose max is >= id (chunks.length when id is beyond all). */
  private chunkFor(id: string): number {
    const maxes = this.maxes;
    let lo = 0;
    let hi = maxes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (maxes[mid] < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Inserts an item whose id is not present yet. */
  insert(item: T): void {
    const id = item.id;
    if (this.chunks.length === 0) {
      this.chunks.push([item]);
      this.maxes.push(id);
      this.count = 1;
      return;
    }
    let ci = this.chunkFor(id);
    if (ci === this.chunks.length) ci--;
    const chunk = this.chunks[ci];
    const pos = lowerBound(chunk, id);
    if (pos < chunk.length && chunk[pos].id === id) throw new Error(`KeyIndex: duplicate id ${JSON.stringify(id)}`);
    if (pos === chunk.length) {
      chunk.push(item);
      this.maxes[ci] = id;
    } else {
      chunk.splice(pos, 0, item);
    }
    this.count++;
    if (chunk.length > CHUNK_MAX) {
      const right = chunk.splice(chunk.length >> 1);
      this.chunks.splice(ci + 1, 0, right);
      this.maxes[ci] = chunk[chunk.length - 1].id;
      this.maxes.splice(ci + 1, 0, right[right.length - 1].id);
    }
  }

  /** Removes the item with this id; returns whether it was present. */
  remove(id: string): boolean {
    const ci = this.chunkFor(id);
    if (ci === this.chunks.length) return false;
    const chunk = this.chunks[ci];
    const pos = lowerBound(chunk, id);
    if (pos === chunk.length || chunk[pos].id !== id) return false;
    chunk.splice(pos, 1);
    this.count--;
    if (chunk.length === 0) {
      this.chunks.splice(ci, 1);
      this.maxes.splice(ci, 1);
      return true;
    }
    if (pos === chunk.length) this.maxes[ci] = chunk[chunk.length - 1].id;
    if (chunk.length < CHUNK_MIN) this.mergeSmall(ci);
    return true;
  }

  private mergeSmall(ci: number): void {
    // Merge with the smaller neighbour, only when the result stays within CHUNK_MAX.
    const left = ci > 0 ? this.chunks[ci - 1].length : Infinity;
    const right = ci + 1 < this.chunks.length ? this.chunks[ci + 1].length : Infinity;
    const into = left <= right ? ci - 1 : ci;
    if (Math.min(left, right) === Infinity) return;
    const a = this.chunks[into];
    const b = this.chunks[into + 1];
    if (a.length + b.length > CHUNK_MAX) return;
    for (const x of b) a.push(x);
    this.chunks.splice(into + 1, 1);
    this.maxes.splice(into, 1);
  }

  get(id: string): T | undefined {
    const ci = this.chunkFor(id);
    if (ci === this.chunks.length) return undefined;
    const chunk = this.chunks[ci];
    const pos = lowerBound(chunk, id);
    return pos < chunk.length && chunk[pos].id === id ? chunk[pos] : undefined;
  }

  /**
   * Calls fn for each item with start <= id < end (end undefined: no upper bound), in ascending
   * order, until fn returns true. fn must not insert or remove items.
   */
  forEach(start: string, end: string | undefined, fn: (item: T) => boolean | void): void {
    const chunks = this.chunks;
    let ci = this.chunkFor(start);
    if (ci === chunks.length) return;
    let pos = lowerBound(chunks[ci], start);
    for (; ci < chunks.length; ci++, pos = 0) {
      const chunk = chunks[ci];
      if (end !== undefined && pos < chunk.length && this.maxes[ci] < end) {
        // The whole rest of this chunk is inside the range: skip the per-item end check.
        for (; pos < chunk.length; pos++) if (fn(chunk[pos]) === true) return;
        continue;
      }
      for (; pos < chunk.length; pos++) {
        const item = chunk[pos];
        if (end !== undefined && item.id >= end) return;
        if (fn(item) === true) return;
      }
    }
  }

  /** Checks the structural invariant; for tests. */
  check(): void {
    let n = 0;
    let last: string | undefined;
    for (let i = 0; i < this.chunks.length; i++) {
      const c = this.chunks[i];
      if (c.length === 0) throw new Error('empty chunk');
      if (c.length > CHUNK_MAX) throw new Error('oversized chunk');
      for (const x of c) {
        if (last !== undefined && !(last < x.id)) throw new Error('out of order');
        last = x.id;
      }
      if (this.maxes[i] !== c[c.length - 1].id) throw new Error('stale max');
      n += c.length;
    }
    if (this.maxes.length !== this.chunks.length) throw new Error('maxes length');
    if (n !== this.count) throw new Error('count');
  }
}

function lowerBound<T extends Keyed>(arr: readonly T[], id: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid].id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
