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
 */
import { constants } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Entry, HardState } from '../raft/types.js';
import { isEmptyHardState } from '../raft/types.js';
import { WalError } from './errors.js';
import { fsyncDir, mkdirDurable, writeAll } from './fsutil.js';
import type { WalRecord } from './record.js';
import { encodeRecords } from './record.js';
import type { SnapshotMark } from './replay.js';
import { entryFits, lastAfterMarker, replay } from './replay.js';
import type { Segment } from './segment.js';
import { segmentFileName, TEMP_SUFFIX } from './segment.js';

export interface WalOptions {
  /** Directory of segment files; created if missing. The WAL must be its only writer. */
  dir: string;
  /** Roll to a new segment once the current one reaches this many bytes. Default 64 MiB. */
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
      const created = await createSegment(opts.dir, 0, 1, []);
      segments = [created.segment];
      handle = created.handle;
    } else {
      handle = await open(segments[segments.length - 1].path, APPEND_FLAGS);
    }
    const wal = new Wal(
      { dir: opts.dir, segmentBytes, warn, onFsync: opts.onFsync },
      { segments, active: handle, last: r.lastIndex, hardState: r.hardState, marker: r.snapshot },
    );
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
   */
  save(hardState: HardState | null, entries: readonly Entry[]): Promise<void> {
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
    return this.enqueue(records, last, maxEntryIndex, hardState, null);
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

  /** Waits for accepted calls to be written and fsynced, then closes the active segment. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.idle;
    await this.releasing;
    await this.active.close();
  }

  /** Bytes in all segment files, for metrics. */
  sizeBytes(): number {
    let total = 0;
    for (const s of this.segments) total += s.size;
    return total;
  }

  private unusable(): WalError | null {
    if (this.closed) return new WalError('WAL_CLOSED', 'the WAL is closed');
    return this.failure;
  }

  private enqueue(records: WalRecord[], lastAfter: number, maxEntryIndex: number, hardState: HardState | null, marker: SnapshotMark | null): Promise<void> {
    let buf: Buffer;
    try {
      buf = encodeRecords(records); // encoded now so callers may reuse their buffers at once
    } catch (err) {
      return Promise.reject(err);
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
      if (bytes > 0) await this.appendAndSync(chunk.length === 1 ? chunk[0].buf : Buffer.concat(chunk.map((p) => p.buf), bytes), records);
      const seg = this.activeSegment();
      for (const p of chunk) {
        this.writtenLast = p.lastAfter;
        if (p.hardState !== null) this.writtenHardState = p.hardState;
        if (p.marker !== null) this.writtenMarker = p.marker;
        seg.maxIndex = Math.max(seg.maxIndex, p.maxEntryIndex);
      }
      for (const p of chunk) p.resolve();
      i = j;
    }
  }

  private async appendAndSync(buf: Buffer, records: number): Promise<void> {
    const seg = this.activeSegment();
    const t0 = performance.now();
    await writeAll(this.active, buf, seg.size);
    seg.size += buf.length;
    // The segment is open with O_DSYNC: the write returns only once the data is on disk, so
    // one trip through libuv's thread pool replaces write + fdatasync (a measurable share of a
    // lone client's latency).
    const seconds = (performance.now() - t0) / 1000;
    try {
      this.cfg.onFsync?.(seconds, records);
    } catch (err) {
      this.cfg.warn('onFsync callback threw', { err });
    }
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
    const created = await createSegment(this.cfg.dir, prev.seq + 1, this.writtenLast + 1, leading);
    this.segments.push(created.segment);
    const old = this.active;
    this.active = created.handle;
    await old.close();
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
    const rejected = [...batch, ...this.queue];
    this.queue = [];
    for (const p of rejected) p.reject(failure);
  }
}

/** Segment files are written with O_DSYNC (each write is durable when it returns). */
const APPEND_FLAGS = constants.O_RDWR | constants.O_DSYNC;
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DSYNC;

/**
 * Creates a segment atomically: written and fsynced under a temp name, renamed, then the
 * directory fsynced, so a segment file that exists always has a valid header.
 */
async function createSegment(dir: string, seq: number, firstIndex: number, leading: readonly WalRecord[]): Promise<{ segment: Segment; handle: FileHandle }> {
  const file = path.join(dir, segmentFileName(seq, firstIndex));
  const tmp = file + TEMP_SUFFIX;
  const buf = encodeRecords([{ kind: 'segmentHeader', seq, firstIndex }, ...leading]);
  const handle = await open(tmp, CREATE_FLAGS);
  try {
    await writeAll(handle, buf, 0);
    await rename(tmp, file);
    await fsyncDir(dir);
  } catch (err) {
    await handle.close();
    throw err;
  }
  return { segment: { seq, firstIndex, path: file, size: buf.length, maxIndex: 0 }, handle };
}
