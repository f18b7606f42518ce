/**
 * Reading the WAL back at start-up: validation of every segment, the torn-tail repair, and the
 * log-shape rules that the writer applies too (so a log the writer accepts always replays).
 *
 * End of a segment: segments are preallocated with zeros (wal.ts), so a segment's records are
 * normally followed by zero bytes that were never written. Where the next frame is not a valid
 * record and only zero bytes remain to the end of the file, that segment's records end, in any
 * segment, without a warning; in the last one that offset is where appends continue. No valid
 * record is all zeros (record types start at 1), so this never hides one. A bad frame followed by
 * ANY non-zero byte is not an end; the rules below apply to it.
 *
 * Torn tail: a crash during a save can leave the last records of the LAST segment half written:
 * a partial record, then the preallocated zeros (or EOF, for a segment that outgrew its
 * preallocation or was created without one). Those records were never fsynced, hence never
 * acknowledged, so dropping them loses nothing promised. A bad record counts as torn only when it
 * is at the very end: it runs past EOF, or nothing but zero bytes follows it, and no well-formed
 * record starts anywhere after it. Every other bad record is damage to acknowledged data and fails
 * the open with WAL_CORRUPT; in particular a bad record in a non-last segment is always
 * corruption, because a segment is fsynced before the next one is created.
 *
 * The repair zeroes the torn bytes rather than truncating, so the file keeps its preallocation.
 * Merely moving the logical end back would not do: a shorter later append would leave torn bytes
 * after it, which reads as corruption once the segment is no longer the last.
 */
import { open, readFile, rm } from 'node:fs/promises';
import type { Entry, HardState } from '../raft/types.js';
import { EMPTY_HARD_STATE } from '../raft/types.js';
import { corrupt } from './errors.js';
import { nonZeroEnd, onlyZeros, writeZeros } from './fsutil.js';
import type { Frame, WalRecord } from './record.js';
import { decodePayload, hasValidFrameAfter, readFrame } from './record.js';
import type { Segment, SegmentName } from './segment.js';
import { listSegments } from './segment.js';

export type WarnFn = (msg: string, details: Record<string, unknown>) => void;

export interface SnapshotMark {
  readonly index: number;
  readonly term: number;
}

/**
 * The continuity rule: an entry may extend the log by one or overwrite a suffix (index <= last),
 * never skip ahead. `last` is the highest index the log has reached, where a snapshot marker
 * counts as reaching its index.
 */
export function entryFits(last: number, index: number): boolean {
  return index >= 1 && index <= last + 1;
}

export function lastAfterMarker(last: number, marker: SnapshotMark): number {
  return Math.max(last, marker.index);
}

/** The log as records are replayed. Invariant: `entries` is contiguous and, if not empty, ends at `last`. */
class ReplayLog {
  entries: Entry[] = [];
  hardState: HardState = EMPTY_HARD_STATE;
  snapshot: SnapshotMark | null = null;

  constructor(public last: number) {}

  entry(e: Entry): void {
    const at = this.entries.length === 0 ? 0 : e.index - this.entries[0].index;
    if (at <= 0) this.entries = [];
    else this.entries.length = at; // etcd's rule: a later entry at i replaces everything from i on
    this.entries.push(e);
    this.last = e.index;
  }

  marker(m: SnapshotMark): void {
    this.snapshot = m;
    this.last = lastAfterMarker(this.last, m);
    this.dropCoveredBySnapshot();
  }

  dropCoveredBySnapshot(): void {
    if (this.snapshot === null || this.entries.length === 0) return;
    const drop = this.snapshot.index - this.entries[0].index + 1;
    if (drop > 0) this.entries = this.entries.slice(drop);
  }
}

export interface Replayed {
  readonly hardState: HardState;
  readonly entries: Entry[];
  readonly snapshot: SnapshotMark | null;
  readonly repairedTornTail: { file: string; offset: number } | null;
  /** In order; empty for a new WAL. The last one is where appends continue. */
  readonly segments: Segment[];
  /** The continuity `last` after replay (what the next segment's firstIndex - 1 must be). */
  readonly lastIndex: number;
}

export async function replay(dir: string, warn: WarnFn): Promise<Replayed> {
  const { segments: names, temps, spare } = await listSegments(dir);
  // Left by a crash or a kill; it holds no records, and the writer prepares a fresh one.
  if (spare !== null) await rm(spare, { force: true });
  for (const file of temps) {
    await rm(file, { force: true });
    warn('removed a segment file whose creation was interrupted', { file });
  }
  const segments: Segment[] = [];
  let log: ReplayLog | null = null;
  let repairedTornTail: Replayed['repairedTornTail'] = null;

  for (const [k, name] of names.entries()) {
    const isLast = k === names.length - 1;
    const buf = await readFile(name.path);
    const headerEnd = readHeader(buf, name);
    if (log === null) {
      log = new ReplayLog(name.firstIndex - 1);
    } else {
      const prev = names[k - 1];
      if (name.seq !== prev.seq + 1) throw corrupt(name.path, 0, `segment ${prev.seq + 1} is missing`);
      if (name.firstIndex !== log.last + 1) {
        throw corrupt(name.path, 0, `segment starts at index ${name.firstIndex} but the log before it ends at ${log.last}`);
      }
    }
    const seg: Segment = { ...name, size: buf.length, fileBytes: buf.length, maxIndex: 0 };
    segments.push(seg);

    let off = headerEnd;
    while (off < buf.length) {
      const frame = readFrame(buf, off);
      if (frame.kind !== 'ok') {
        if (onlyZeros(buf, off)) break;
        const dirtyEnd = nonZeroEnd(buf, off);
        if (!isLast || !isTornTail(buf, off, frame, dirtyEnd)) throw corrupt(name.path, off, describeBadFrame(frame));
        await zeroDurably(name.path, off, dirtyEnd);
        repairedTornTail = { file: name.path, offset: off };
        warn('repaired a torn write at the end of the WAL', { file: name.path, offset: off, droppedBytes: dirtyEnd - off });
        break;
      }
      const rec = decodePayload(frame.code, frame.payload);
      if (typeof rec === 'string') throw corrupt(name.path, off, rec);
      const problem = applyRecord(log, seg, rec);
      if (problem !== null) throw corrupt(name.path, off, problem);
      off = frame.end;
    }
    seg.size = off;
  }

  if (log === null) {
    return { hardState: EMPTY_HARD_STATE, entries: [], snapshot: null, repairedTornTail, segments, lastIndex: 0 };
  }
  log.dropCoveredBySnapshot(); // an overwrite below the marker would otherwise resurface
  return {
    hardState: log.hardState,
    entries: log.entries,
    snapshot: log.snapshot,
    repairedTornTail,
    segments,
    lastIndex: log.last,
  };
}

/** Validates the segment header at offset 0 against the file name; returns where records start. */
function readHeader(buf: Buffer, name: SegmentName): number {
  const frame = readFrame(buf, 0);
  if (frame.kind !== 'ok') throw corrupt(name.path, 0, `bad segment header: ${describeBadFrame(frame)}`);
  const rec = decodePayload(frame.code, frame.payload);
  if (typeof rec === 'string') throw corrupt(name.path, 0, `bad segment header: ${rec}`);
  if (rec.kind !== 'segmentHeader') throw corrupt(name.path, 0, `segment starts with a ${rec.kind} record, not a header`);
  if (rec.seq !== name.seq || rec.firstIndex !== name.firstIndex) {
    throw corrupt(name.path, 0, `segment header (seq ${rec.seq}, firstIndex ${rec.firstIndex}) does not match the file name`);
  }
  return frame.end;
}

/** Returns why the record cannot be applied, or null. */
function applyRecord(log: ReplayLog, seg: Segment, rec: WalRecord): string | null {
  switch (rec.kind) {
    case 'segmentHeader':
      return 'segment header in the middle of a segment';
    case 'entry':
      if (!entryFits(log.last, rec.entry.index)) {
        return `entry ${rec.entry.index} leaves a gap after ${log.last}`;
      }
      log.entry(rec.entry);
      seg.maxIndex = Math.max(seg.maxIndex, rec.entry.index);
      return null;
    case 'hardState':
      log.hardState = rec.hardState;
      return null;
    case 'snapshotMarker':
      log.marker({ index: rec.index, term: rec.term });
      return null;
  }
}

/** `dirtyEnd`: one past the last non-zero byte of the file. */
function isTornTail(buf: Buffer, off: number, frame: Exclude<Frame, { kind: 'ok' }>, dirtyEnd: number): boolean {
  if (frame.kind === 'badChecksum' && frame.end < dirtyEnd) return false;
  return !hasValidFrameAfter(buf, off + 1, dirtyEnd);
}

function describeBadFrame(frame: Exclude<Frame, { kind: 'ok' }>): string {
  return frame.kind === 'truncated' ? 'record runs past the end of the file' : 'record checksum mismatch';
}

async function zeroDurably(file: string, from: number, to: number): Promise<void> {
  const h = await open(file, 'r+');
  try {
    await writeZeros(h, from, to);
    await h.datasync();
  } finally {
    await h.close();
  }
}
