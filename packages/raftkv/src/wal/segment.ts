/**
 * Segment files: `<seq>-<firstIndex>.wal`, both 16 hex digits so a plain sort is replay order.
 * `seq` increases by one per segment and lets replay notice a missing file; `firstIndex` is the
 * index the first entry of the segment would have if the log were appended without overwrites.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { hex16, parseHex16 } from './binary.js';

export const SEGMENT_SUFFIX = '.wal';
/** A segment being created: written and fsynced under this name, then renamed into place. */
export const TEMP_SUFFIX = '.tmp';
/**
 * The preallocated file that will become the next segment. Never part of the log, so open deletes
 * it without a warning; it ends like a temp segment so that older versions delete it too.
 */
export const SPARE_FILE = 'spare' + SEGMENT_SUFFIX + TEMP_SUFFIX;

export interface SegmentName {
  readonly seq: number;
  readonly firstIndex: number;
  readonly path: string;
}

/** A segment as the writer tracks it. */
export interface Segment extends SegmentName {
  /**
   * The logical end: where the records stop and the next append goes. Invariant: everything
   * below `size` is fsynced, except during a save; everything from `size` to `fileBytes` is zero.
   */
  size: number;
  /** Length of the file, at least `size`: segments are preallocated, so usually segmentBytes. */
  fileBytes: number;
  /** Highest entry index ever written to the file (0 if none): releaseTo deletes by it. */
  maxIndex: number;
}

const NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;

export function segmentFileName(seq: number, firstIndex: number): string {
  return `${hex16(seq)}-${hex16(firstIndex)}${SEGMENT_SUFFIX}`;
}

/** Segments in replay order, leftover temp files from an interrupted segment creation, and the spare if one exists. */
export async function listSegments(dir: string): Promise<{ segments: SegmentName[]; temps: string[]; spare: string | null }> {
  const segments: SegmentName[] = [];
  const temps: string[] = [];
  let spare: string | null = null;
  for (const name of (await readdir(dir)).sort()) {
    if (name === SPARE_FILE) {
      spare = path.join(dir, name);
      continue;
    }
    if (name.endsWith(SEGMENT_SUFFIX + TEMP_SUFFIX)) {
      temps.push(path.join(dir, name));
      continue;
    }
    const m = NAME.exec(name);
    if (m === null) continue;
    const seq = parseHex16(m[1]);
    const firstIndex = parseHex16(m[2]);
    if (Number.isNaN(seq) || Number.isNaN(firstIndex)) continue;
    segments.push({ seq, firstIndex, path: path.join(dir, name) });
  }
  return { segments, temps, spare };
}
