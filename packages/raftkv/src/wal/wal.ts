/**
 * The write-ahead log: Raft's durable state (HardState, entries, snapshot markers) as checksummed
 * records in append-only segment files. See record.ts for the byte format, segment.ts for file
 * names and replay.ts for recovery.
 *
 * Durability contract: a save() or saveSnapshotMarker() promise resolves only after its records
 * are written and fsynced. Calls are applied in call order; calls made while an fsync is in flight
 * are written together and share the next fsync (group commit).
 *
 * Every segment starts with its header, then the latest snapshot marker and HardState as of its
 * creation, so the newest segment alone is enough to recover them and releaseTo() may delete any
 * older segment without losing the vote or the term.
 *
 * Preallocation: every segment is created as a segmentBytes-long file of zeros that are really
 * written and durable, and appends overwrite them at the logical end (Segment.size). An O_DSYNC
 * write that extends a file cannot return before the new size and extents are journaled (on
 * ext4 a journal commit per append); overwriting allocated blocks is a pure data write. A sparse ftruncate or fallocate would not do: holes and unwritten extents need
 * the same metadata update on first write. Zero-filling 64 MiB takes tens of milliseconds, so it
 * is done ahead of time, off the write path: once the active segment is half full a spare file
 * (SPARE_FILE) is prepared in the background, and a roll only writes the new header into it,
 * renames it and fsyncs the directory, like etcd's file pipeline. A segment may still grow past
 * segmentBytes (a record larger than the room left goes in whole). Replay reads a zero tail as
 * the end of a segment's records (replay.ts).
 */
import { constants } from 'node:fs';
import { open, rename, rm, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Entry, HardState } from '../raft/types.js';
import { isEmptyHardState } from '../raft/types.js';
import { WalError } from './errors.js';
import { fsyncDir, mkdirDurable, writeAll, writeAllSync, writeZeros } from './fsutil.js';
import type { WalRecord } from './record.js';
import { encodeRecords } from './record.js';
import type { SnapshotMark } from './replay.js';
import { entryFits, lastAfterMarker, replay } from './replay.js';
import type { Segment } from './segment.js';
import { segmentFileName, SPARE_FILE, TEMP_SUFFIX } from './segment.js';

export interface WalOptions {
  /** Directory of segment files; created if missing. The WAL must be its only writer. */
  dir: string;
  /** Roll to a new segment once the current one reaches this many bytes; also the size each segment is preallocated to. Default 64 MiB. */
  segmentBytes?: number;
  /** Called for warnings such as a repaired torn tail. */
  onWarning?: (msg: string, details: Record<string, unknown>) => void;
  /** Called after every fsync of appended records: its duration in seconds and how many records it made durable. */
  onFsync?: (seconds: number, records: number) => void;
}

export interface WalReadResult {
  /** Last hardState record (EMPTY_HARD_STATE if none). */
  hardState: HardState;
  /** Entries after the snapshot marker, with later overwrites applied. Contiguous. */
  entries: Entry[];
  /** Last snapshot marker. */
  snapshot: { index: number; term: number } | null;
  /** Where a torn write was cut off during open, if one was. */
  repairedTornTail: { file: string; offset: number } | null;
}

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

/** An accepted call waiting for the flusher. */
interface Pending {
  readonly buf: Buffer;
  readonly records: number;
  /** The continuity `last` once this call is applied. */
  readonly lastAfter: number;
  readonly maxEntryIndex: number;
  readonly hardState: HardState | null;
  readonly marker: SnapshotMark | null;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

interface WalConfig {
  readonly dir: string;
  readonly segmentBytes: number;
  readonly warn: NonNullable<WalOptions['onWarning']>;
  readonly onFsync: WalOptions['onFsync'];
}

export class Wal {
  private readonly cfg: WalConfig;

  /** Oldest first. Invariant: never empty; the last one is the active segment, open as `active`. */
  private readonly segments: Segment[];
  private active: FileHandle;

  /** Continuity `last` including calls accepted but not yet written: validates new calls. */
  private acceptedLast: number;
  /** What has been written to the segments: seeds each new segment's header and leading records. */
  private writtenLast: number;
  private writtenHardState: HardState;
  private writtenMarker: SnapshotMark | null;

  private queue: Pending[] = [];
  private flushing = false;
  /** Settles when the running flush loop has drained the queue. */
  private idle: Promise<void> = Promise.resolve();
  private releasing: Promise<void> = Promise.resolve();
  private failure: WalError | null = null;
  private closed = false;
  /** The next segment's file being prepared or ready; null when none is (resolves to null if that failed). */
  private spare: Promise<Spare | null> | null = null;
  /** Set once no spare will be used again, to stop a preparation early. */
  private spareCancelled = false;

  private constructor(cfg: WalConfig, r: { segments: Segment[]; active: FileHandle; last: number; hardState: HardState; marker: SnapshotMark | null }) {
    this.cfg = cfg;
    this.segments = r.segments;
    this.active = r.active;
    this.acceptedLast = r.last;
    this.writtenLast = r.last;
    this.writtenHardState = r.hardState;
    this.writtenMarker = r.marker;
  }

  /** Creates the directory if missing, replays every segment and repairs a torn tail. Throws WAL_CORRUPT on damage. */
  static async open(opts: WalOptions): Promise<{ wal: Wal; state: WalReadResult }> {
    const segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (!Number.isSafeInteger(segmentBytes) || segmentBytes <= 0) {
      throw new WalError('WAL_INVALID', `segmentBytes must be a positive integer, got ${String(opts.segmentBytes)}`);
    }
    const warn = opts.onWarning ?? ((): void => {});
    await mkdirDurable(opts.dir);
    const r = await replay(opts.dir, warn);

    let segments = r.segments;
    let handle: FileHandle;
    if (segments.length === 0) {
      const spare = await prepareSpare(opts.dir, segmentBytes, () => false);
      const created = await createSegment(opts.dir, 0, 1, [], spare);
      segments = [created.segment];
      handle = created.handle;
    } else {
      handle = await open(segments[segments.length - 1].path, APPEND_FLAGS);
    }
    const wal = new Wal(
      { dir: opts.dir, segmentBytes, warn, onFsync: opts.onFsync },
      { segments, active: handle, last: r.lastIndex, hardState: r.hardState, marker: r.snapshot },
    );
    wal.maybeStartSpare();
    const state: WalReadResult = {
      hardState: r.hardState,
      entries: r.entries,
      snapshot: r.snapshot,
      repairedTornTail: r.repairedTornTail,
    };
    return { wal, state };
  }

  /**
   * Appends hardState (if given) and entries, then fsyncs; resolves only after the fsync.
   * Entries must be contiguous and start at most one past the last index written (or marked by a
   * snapshot); starting lower overwrites that suffix, as when a leader replaces conflicting
   * entries. Rejects with WAL_INVALID on a gap, WAL_FAILED after an I/O error, WAL_CLOSED after close().
   *
   * With `blocking`, the write happens on the calling thread before save() returns (the promise is
   * then already settled) whenever nothing else is queued and the active segment has room;
   * otherwise it is queued as usual. A caller with nothing to overlap with the disk saves the
   * two thread hand-offs of libuv's pool, which on a busy 2-core machine cost more than the wait.
   */
  save(hardState: HardState | null, entries: readonly Entry[], opts?: { blocking?: boolean }): Promise<void> {
    const unusable = this.unusable();
    if (unusable !== null) return Promise.reject(unusable);
    const records: WalRecord[] = [];
    if (hardState !== null) records.push({ kind: 'hardState', hardState });
    let last = this.acceptedLast;
    for (const [i, entry] of entries.entries()) {
      const ok = i === 0 ? entryFits(last, entry.index) : entry.index === last + 1;
      if (!ok) {
        return Promise.reject(new WalError('WAL_INVALID', `entry ${entry.index} does not follow ${last}: the log may not skip indexes`));
      }
      records.push({ kind: 'entry', entry });
      last = entry.index;
    }
    // One call's entries are contiguous, so its last is its highest (releaseTo deletes by it).
    const maxEntryIndex = entries.length === 0 ? 0 : last;
    return this.enqueue(records, last, maxEntryIndex, hardState, null, opts?.blocking === true);
  }

  /** Records that a snapshot at (index, term) is durable; resolves after the fsync. Entries <= index are dropped from later replays. */
  saveSnapshotMarker(index: number, term: number): Promise<void> {
    const unusable = this.unusable();
    if (unusable !== null) return Promise.reject(unusable);
    const marker = { index, term };
    return this.enqueue([{ kind: 'snapshotMarker', index, term }], lastAfterMarker(this.acceptedLast, marker), 0, null, marker);
  }

  /**
   * Deletes the oldest segments whose every entry is <= index, never the active one. Stops at the
   * first segment that must stay, so the remaining segments are always a contiguous suffix.
   */
  releaseTo(index: number): Promise<void> {
    const unusable = this.unusable();
    if (unusable !== null) return Promise.reject(unusable);
    const run = this.releasing.then(() => this.release(index));
    this.releasing = run.catch(() => {});
    return run;
  }

  /** Waits for accepted calls to be written and fsynced, then closes the active segment and deletes the spare. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.idle;
    await this.releasing;
    try {
      await this.active.close();
    } finally {
      await this.dropSpare();
    }
  }

  /**
   * Bytes of all segment files on disk, for metrics: physical lengths, so preallocated space
   * counts (a new segment is segmentBytes at once). The spare being prepared is not included.
   */
  sizeBytes(): number {
    let total = 0;
    for (const s of this.segments) total += s.fileBytes;
    return total;
  }

  private unusable(): WalError | null {
    if (this.closed) return new WalError('WAL_CLOSED', 'the WAL is closed');
    return this.failure;
  }

  private enqueue(records: WalRecord[], lastAfter: number, maxEntryIndex: number, hardState: HardState | null, marker: SnapshotMark | null, blocking = false): Promise<void> {
    let buf: Buffer;
    try {
      buf = encodeRecords(records); // encoded now so callers may reuse their buffers at once
    } catch (err) {
      return Promise.reject(err);
    }
    // Queued calls go first (order is the contract), and a roll is asynchronous: only a write
    // that needs neither may happen here and now.
    if (blocking && !this.flushing && this.activeSegment().size < this.cfg.segmentBytes) {
      return this.writeNow({ buf, records: records.length, lastAfter, maxEntryIndex, hardState, marker });
    }
    return new Promise<void>((resolve, reject) => {
      // Built field by field: an object spread here costs more than the encoding on the hot path.
      this.queue.push({ buf, records: records.length, lastAfter, maxEntryIndex, hardState, marker, resolve, reject });
      this.acceptedLast = lastAfter;
      if (!this.flushing) {
        this.flushing = true;
        this.idle = this.flushLoop();
      }
    });
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length > 0 && this.failure === null) {
        const batch = this.queue;
        this.queue = [];
        try {
          await this.writeBatch(batch);
        } catch (err) {
          this.fail(err, batch);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    for (let i = 0; i < batch.length; ) {
      if (this.activeSegment().size >= this.cfg.segmentBytes && batch[i].buf.length > 0) await this.roll();
      // Take calls until the segment is full (at least one, which may overshoot it), so that a
      // large group commit still leaves segments of about segmentBytes.
      const room = this.cfg.segmentBytes - this.activeSegment().size;
      let j = i;
      let bytes = 0;
      let records = 0;
      while (j < batch.length && (j === i || bytes < room)) {
        bytes += batch[j].buf.length;
        records += batch[j].records;
        j++;
      }
      const chunk = batch.slice(i, j);
      if (bytes > 0) {
        const t0 = performance.now();
        const buf = chunk.length === 1 ? chunk[0].buf : Buffer.concat(chunk.map((p) => p.buf), bytes);
        // The segment is open with O_DSYNC: the write returns only once the data is on disk, so
        // one trip through libuv's thread pool replaces write + fdatasync (a measurable share of
        // a lone client's latency).
        await writeAll(this.active, buf, this.activeSegment().size);
        this.appended(buf.length, records, t0);
      }
      for (const p of chunk) this.written(p);
      for (const p of chunk) p.resolve();
      i = j;
    }
  }

  /** The blocking path of save(): the same write and bookkeeping as writeBatch, on this thread. */
  private writeNow(p: Omit<Pending, 'resolve' | 'reject'>): Promise<void> {
    try {
      const t0 = performance.now();
      writeAllSync(this.active.fd, p.buf, this.activeSegment().size);
      this.appended(p.buf.length, p.records, t0);
    } catch (err) {
      return new Promise<void>((resolve, reject) => this.fail(err, [{ ...p, resolve, reject }]));
    }
    this.written(p);
    this.acceptedLast = p.lastAfter;
    return Promise.resolve();
  }

  private appended(bytes: number, records: number, t0: number): void {
    const seg = this.activeSegment();
    seg.size += bytes;
    seg.fileBytes = Math.max(seg.fileBytes, seg.size);
    const seconds = (performance.now() - t0) / 1000;
    try {
      this.cfg.onFsync?.(seconds, records);
    } catch (err) {
      this.cfg.warn('onFsync callback threw', { err });
    }
    this.maybeStartSpare();
  }

  private written(p: Omit<Pending, 'resolve' | 'reject'>): void {
    this.writtenLast = p.lastAfter;
    if (p.hardState !== null) this.writtenHardState = p.hardState;
    if (p.marker !== null) this.writtenMarker = p.marker;
    const seg = this.activeSegment();
    seg.maxIndex = Math.max(seg.maxIndex, p.maxEntryIndex);
  }

  /**
   * Starts the next segment. Runs between batches, when everything written so far is fsynced:
   * that is what makes a bad record in any non-last segment corruption rather than a torn write.
   */
  private async roll(): Promise<void> {
    const prev = this.activeSegment();
    const leading: WalRecord[] = [];
    if (this.writtenMarker !== null) leading.push({ kind: 'snapshotMarker', ...this.writtenMarker });
    if (!isEmptyHardState(this.writtenHardState)) leading.push({ kind: 'hardState', hardState: this.writtenHardState });
    // Normally ready long ago; if not, waiting is the right back-pressure: the appends would
    // compete with the preallocation for the disk anyway. Null only if preparing it failed.
    this.startSpare();
    const spare = await this.takeSpare();
    const created = await createSegment(this.cfg.dir, prev.seq + 1, this.writtenLast + 1, leading, spare);
    this.segments.push(created.segment);
    const old = this.active;
    this.active = created.handle;
    await old.close();
  }

  /**
   * Starts preparing the file for the next roll in the background once the active segment is half
   * full, unless one is already on its way. Not earlier: zero-filling slows concurrent appends a
   * little while it runs, and right after open or a roll it would land on a burst of writes (and
   * cost a WAL that is opened only briefly a useless 64 MiB); half a segment of appends is ample
   * lead time for it to finish.
   */
  private maybeStartSpare(): void {
    if (!this.closed && this.activeSegment().size >= this.cfg.segmentBytes / 2) this.startSpare();
  }

  private startSpare(): void {
    if (this.spare !== null || this.spareCancelled) return;
    this.spare = prepareSpare(this.cfg.dir, this.cfg.segmentBytes, () => this.spareCancelled).catch((err: unknown) => {
      // Only a latency optimisation: the roll then creates a segment without preallocation.
      this.cfg.warn('could not preallocate the next WAL segment', { err });
      return null;
    });
  }

  private async takeSpare(): Promise<Spare | null> {
    const spare = this.spare;
    this.spare = null;
    return spare === null ? null : await spare;
  }

  private async dropSpare(): Promise<void> {
    this.spareCancelled = true;
    const spare = await this.takeSpare();
    if (spare !== null) await discardSpare(spare);
  }

  private async release(index: number): Promise<void> {
    // Checked each round: a roll may append segments meanwhile, and the last one is always kept.
    while (this.segments.length > 1 && this.segments[0].maxIndex <= index) {
      await unlink(this.segments[0].path);
      this.segments.shift();
      // One directory fsync per file so a crash can only ever leave a prefix deleted; a
      // resurrected older file after a newer one's removal would read as a missing segment.
      await fsyncDir(this.cfg.dir);
    }
  }

  private activeSegment(): Segment {
    return this.segments[this.segments.length - 1];
  }

  private fail(err: unknown, batch: Pending[]): void {
    const failure = new WalError('WAL_FAILED', `WAL write failed; no further writes are accepted: ${String(err)}`, { cause: err });
    this.failure = failure;
    // No roll will take it now; a host that never calls close() would otherwise leak its handle.
    void this.dropSpare().catch(() => {});
    const rejected = [...batch, ...this.queue];
    this.queue = [];
    for (const p of rejected) p.reject(failure);
  }
}

/** Segment files are written with O_DSYNC (each write is durable when it returns). */
const APPEND_FLAGS = constants.O_RDWR | constants.O_DSYNC;
const CREATE_FLAGS = constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_DSYNC;

/** A zero-filled file of `bytes` whose contents and length are durable, open for O_DSYNC writes. */
interface Spare {
  readonly path: string;
  readonly handle: FileHandle;
  readonly bytes: number;
}

/**
 * Zero-fills SPARE_FILE to `bytes`. Each chunk is durable when its write returns (O_DSYNC), so
 * later overwrites need no metadata. Chunk by chunk rather than one fdatasync at the end: flushing
 * 64 MiB at once stalled concurrent appends for ~20 ms on the test machine, 1 MiB at a time kept
 * them near 1 ms. Returns null if cancelled meanwhile. The name needs no directory fsync: the file
 * only counts once renamed to a segment name, and that rename is followed by one.
 */
async function prepareSpare(dir: string, bytes: number, cancelled: () => boolean): Promise<Spare | null> {
  const file = path.join(dir, SPARE_FILE);
  const handle = await open(file, CREATE_FLAGS);
  try {
    if (await writeZeros(handle, 0, bytes, cancelled)) return { path: file, handle, bytes };
  } catch (err) {
    await discardSpare({ path: file, handle, bytes }).catch(() => {});
    throw err;
  }
  await discardSpare({ path: file, handle, bytes });
  return null;
}

async function discardSpare(spare: Spare): Promise<void> {
  try {
    await spare.handle.close();
  } finally {
    await rm(spare.path, { force: true });
  }
}

/**
 * Creates a segment atomically: its header and leading records are written and made durable
 * under a temp name, the file renamed, then the directory fsynced, so a segment file that exists
 * always has a valid header. With a spare, that costs one small overwrite; without one (its
 * preparation failed) the segment starts empty and grows with each append, as before.
 */
async function createSegment(
  dir: string,
  seq: number,
  firstIndex: number,
  leading: readonly WalRecord[],
  spare: Spare | null,
): Promise<{ segment: Segment; handle: FileHandle }> {
  const file = path.join(dir, segmentFileName(seq, firstIndex));
  const buf = encodeRecords([{ kind: 'segmentHeader', seq, firstIndex }, ...leading]);
  const tmp = spare?.path ?? file + TEMP_SUFFIX;
  const handle = spare?.handle ?? (await open(tmp, CREATE_FLAGS));
  try {
    await writeAll(handle, buf, 0);
    await rename(tmp, file);
    await fsyncDir(dir);
  } catch (err) {
    await handle.close();
    throw err;
  }
  const fileBytes = Math.max(spare?.bytes ?? 0, buf.length);
  return { segment: { seq, firstIndex, path: file, size: buf.length, fileBytes, maxIndex: 0 }, handle };
}
